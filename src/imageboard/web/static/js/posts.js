/* Decorations of posts, applied to the page and to every post added later:
 *
 *  - (You): the visitor's own posts (remembered by posting.js) and the quote links pointing
 *    to them get a "(You)" mark (CSS ::after, text from data-you);
 *  - relative times: a post's time reads "3 minutes ago"; the absolute time stays in its
 *    title (tooltip), and returns as the text when the setting is off;
 *  - hiding: a [–] button per post (per thread on index pages) that folds it to its header,
 *    remembered per board in localStorage.
 */
(function () {
  "use strict";

  var IB = window.IB;
  if (!IB) return;

  // ---- (You) ---------------------------------------------------------------------------

  function markYou(root) {
    var label = IB.t("you");
    IB.within(root, "article.post").forEach(function (post) {
      var info = IB.postInfo(post);
      var mine = !!info && IB.you.has(info.board, info.no);
      post.classList.toggle("post-you", mine);
      var name = post.querySelector(".name-block");
      if (name && mine) name.setAttribute("data-you", label);
    });
    IB.within(root, "a.quotelink").forEach(function (link) {
      var target = IB.quoteTarget(link);
      var mine = !!target && IB.you.has(target.board, target.no);
      link.classList.toggle("quotelink-you", mine);
      if (mine) link.setAttribute("data-you", label);
    });
  }
  IB.onPosts(markYou);
  IB.on("you", function () { markYou(document); });
  IB.store.watch("you", function () { markYou(document); });

  // ---- relative times ------------------------------------------------------------------

  var formatter = null;
  try {
    formatter = new Intl.RelativeTimeFormat(IB.lang, { numeric: "auto" });
  } catch (error) {
    formatter = null;
  }

  var UNITS = [
    ["year", 365 * 24 * 3600],
    ["month", 30 * 24 * 3600],
    ["week", 7 * 24 * 3600],
    ["day", 24 * 3600],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ];

  function relative(date) {
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    var size = Math.abs(seconds);
    if (size < 10) return formatter.format(0, "second");
    for (var i = 0; i < UNITS.length; i++) {
      if (size >= UNITS[i][1] || UNITS[i][0] === "second") {
        return formatter.format(Math.trunc(seconds / UNITS[i][1]), UNITS[i][0]);
      }
    }
    return "";
  }

  function postTimes(root) {
    return IB.within(root, "article.post .post-header time[datetime]:not(.edited)");
  }

  function showTimes(root) {
    var on = formatter && IB.settings.get("relativeTimes");
    postTimes(root).forEach(function (time) {
      if (!time.hasAttribute("data-absolute")) {
        time.setAttribute("data-absolute", time.textContent);
      }
      var absolute = time.getAttribute("data-absolute");
      var date = new Date(time.getAttribute("datetime"));
      if (on && !isNaN(date.getTime())) {
        var text = relative(date);
        if (time.textContent !== text) time.textContent = text;
        time.title = absolute;
        time.classList.add("time-relative");
      } else if (time.classList.contains("time-relative")) {
        time.textContent = absolute;
        time.removeAttribute("title");
        time.classList.remove("time-relative");
      }
    });
  }
  IB.onPosts(showTimes);
  setInterval(function () {
    if (!document.hidden) showTimes(document);
  }, 30 * 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) showTimes(document);
  });

  // ---- hiding --------------------------------------------------------------------------

  function hiddenList(board) {
    var all = IB.store.get("hidden", {}) || {};
    return all[board] || [];
  }
  function isHidden(board, no) {
    return hiddenList(board).indexOf(no) !== -1;
  }
  function setHidden(board, no, hide) {
    var all = IB.store.get("hidden", {}) || {};
    var list = (all[board] || []).filter(function (n) { return n !== no; });
    if (hide) list.push(no);
    all[board] = list.slice(-2000);
    IB.store.set("hidden", all);
  }

  // On a thread's own page its opening post is never folded away (only unhidden there).
  function onOwnPage(info) {
    return IB.page && IB.page.board === info.board && IB.page.thread === info.no;
  }

  function applyHiding(post, info) {
    var hidden = IB.settings.get("hiding") && isHidden(info.board, info.no);
    var op = post.classList.contains("op");
    var button = post.querySelector(":scope > .post-header > .hide-toggle");
    if (op) {
      var thread = post.closest(".thread");
      var foldThread = hidden && !onOwnPage(info);
      if (thread) thread.classList.toggle("thread-hidden", foldThread);
      post.classList.toggle("is-hidden", foldThread);
    } else {
      post.classList.toggle("is-hidden", hidden);
    }
    if (button) {
      var label = IB.t(op ? (hidden ? "showThread" : "hideThread") : (hidden ? "showPost" : "hidePost"));
      button.textContent = hidden ? "[+]" : "[–]";
      button.setAttribute("aria-label", label);
      button.title = label;
      button.setAttribute("aria-pressed", hidden ? "true" : "false");
      // On its own page, an OP that is not hidden needs no button.
      button.hidden = op && !hidden && onOwnPage(info);
    }
  }

  function addHideButtons(root) {
    var enabled = IB.settings.get("hiding");
    IB.within(root, "article.post").forEach(function (post) {
      if (post.closest(".quote-preview")) return;
      var info = IB.postInfo(post);
      if (!info) return;
      var header = post.querySelector(":scope > .post-header");
      var button = header && header.querySelector(":scope > .hide-toggle");
      if (!enabled) {
        if (button) button.remove();
        post.classList.remove("is-hidden");
        var thread = post.closest(".thread");
        if (thread && post.classList.contains("op")) thread.classList.remove("thread-hidden");
        return;
      }
      if (header && !button) {
        button = IB.el("button", { type: "button", className: "hide-toggle ib-link" });
        var select = header.querySelector(".post-select");
        header.insertBefore(button, select ? select.nextSibling : header.firstChild);
      }
      applyHiding(post, info);
    });
  }
  IB.onPosts(addHideButtons);

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest(".hide-toggle") : null;
    if (!button) return;
    var post = button.closest("article.post");
    var info = IB.postInfo(post);
    if (!info) return;
    setHidden(info.board, info.no, !isHidden(info.board, info.no));
    applyHiding(post, info);
  });

  IB.store.watch("hidden", function () { addHideButtons(document); });

  IB.on("settings", function (change) {
    if (change.name === "relativeTimes") showTimes(document);
    if (change.name === "hiding") addHideButtons(document);
  });
})();
