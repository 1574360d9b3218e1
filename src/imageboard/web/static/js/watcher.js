/* The thread watcher: threads the visitor chose to watch (stored in this browser), listed in
 * a panel opened from the header, each with the number of replies not yet read.
 *
 * A [Watch thread] button sits on every opening post. Watched threads are checked through
 * the 4chan-style JSON API (/{board}/thread/{no}.json) every CHECK_MS while the page is
 * visible; the thread open in this tab is kept up to date by live.js instead. A thread that
 * answers 404 is shown as deleted. Replies quoting the visitor's own posts are counted apart.
 *
 * Stored as ib.watched = {"b/123": {board, thread, title, seen, unread, you, dead}}, where
 * `seen` is the highest post number read.
 */
(function () {
  "use strict";

  var IB = window.IB;
  if (!IB) return;

  var CHECK_MS = 60 * 1000;
  var FIRST_CHECK_MS = 3 * 1000;

  // Entries come from storage: only well-formed ones are used.
  function load() {
    var all = IB.store.get("watched", {}) || {};
    Object.keys(all).forEach(function (k) {
      var entry = all[k];
      var good = entry && /^[a-z0-9]{1,32}$/.test(String(entry.board)) && /^[0-9]{1,16}$/.test(String(entry.thread)) &&
        k === entry.board + "/" + entry.thread;
      if (!good) delete all[k];
    });
    return all;
  }
  function save(all) {
    IB.store.set("watched", all);
    render();
  }
  function key(board, thread) { return board + "/" + thread; }

  function highestOnPage(board, thread) {
    var top = 0;
    var box = IB.page && IB.page.board === board && IB.page.thread === thread ? IB.page.box : null;
    if (!box) return 0;
    IB.within(box, "article.post").forEach(function (post) {
      var info = IB.postInfo(post);
      if (info && info.no > top) top = info.no;
    });
    return top;
  }

  function titleOf(op, info) {
    if (IB.page && IB.page.thread === info.thread && IB.page.board === info.board) {
      return document.title.replace(/^\([0-9]+\) /, "");
    }
    var subject = op.querySelector(".subject");
    var comment = op.querySelector(".comment");
    var text = (subject && subject.textContent.trim()) ||
      (comment && comment.textContent.replace(/\s+/g, " ").trim().slice(0, 60)) || "No." + info.no;
    return "/" + info.board + "/ - " + text;
  }

  // ---- the panel -----------------------------------------------------------------------

  var opener = null;
  var panel = null;
  var list = null;

  function build() {
    opener = IB.headerButton(IB.t("watched"), "watcher-open");
    if (!opener) return;
    opener.setAttribute("aria-expanded", "false");
    opener.setAttribute("aria-controls", "watcher-panel");
    list = IB.el("ul", { className: "watcher-list" });
    var check = IB.el("button", { type: "button", className: "ib-link", text: IB.t("update") });
    check.addEventListener("click", function () { checkAll(true); });
    var closeButton = IB.el("button", { type: "button", className: "ib-link", text: IB.t("close") });
    closeButton.addEventListener("click", function () { toggle(false); opener.focus(); });
    panel = IB.el("section", { className: "watcher-panel", id: "watcher-panel", hidden: true }, [
      IB.el("div", { className: "watcher-head" }, [
        IB.el("h2", { className: "watcher-title", text: IB.t("watched") }),
        check,
        closeButton,
      ]),
      list,
    ]);
    panel.setAttribute("aria-label", IB.t("watched"));
    document.body.appendChild(panel);
    opener.addEventListener("click", function () { toggle(panel.hidden); });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        toggle(false);
        opener.focus();
      }
    });
  }

  function toggle(open) {
    if (!panel) return;
    panel.hidden = !open;
    opener.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function render() {
    if (!opener) return;
    var all = load();
    var keys = Object.keys(all);
    var total = 0;
    list.textContent = "";
    keys.forEach(function (k) {
      var entry = all[k];
      total += entry.unread || 0;
      var link = IB.el("a", { href: "/" + entry.board + "/thread/" + entry.thread, className: "watcher-link",
        text: entry.title || ("/" + entry.board + "/" + entry.thread) });
      var badges = [];
      if (entry.dead) badges.push(IB.el("span", { className: "watcher-dead", text: IB.t("deleted") }));
      if (entry.unread) badges.push(IB.el("span", { className: "watcher-unread", text: IB.t("unread", { n: entry.unread }) }));
      if (entry.you) badges.push(IB.el("span", { className: "watcher-you", text: IB.t("you") }));
      var remove = IB.el("button", { type: "button", className: "ib-link watcher-remove", text: "×",
        title: IB.t("unwatch"), "aria-label": IB.t("unwatch") + ": " + (entry.title || k) });
      remove.addEventListener("click", function () { unwatch(entry.board, entry.thread); });
      list.appendChild(IB.el("li", { className: "watcher-item" + (entry.unread ? " has-unread" : "") },
        [link].concat(badges, [remove])));
    });
    if (!keys.length) list.appendChild(IB.el("li", { className: "watcher-empty", text: IB.t("noWatched") }));
    opener.textContent = IB.t("watched") + (keys.length ? " (" + total + ")" : "");
    opener.classList.toggle("has-unread", total > 0);
    syncButtons(document);
  }

  // ---- watch buttons on opening posts --------------------------------------------------

  function syncButtons(root) {
    var all = load();
    var enabled = IB.settings.get("watcher");
    IB.within(root, "article.post.op").forEach(function (op) {
      if (op.closest(".quote-preview")) return;
      var info = IB.postInfo(op);
      var head = op.querySelector(":scope > .post-header");
      if (!info || !head) return;
      var button = head.querySelector(":scope > .watch-toggle");
      if (!enabled) {
        if (button) button.remove();
        return;
      }
      if (!button) {
        button = IB.el("button", { type: "button", className: "ib-link watch-toggle" });
        var number = head.querySelector(".post-no");
        head.insertBefore(button, number ? number.nextSibling : null);
      }
      var watching = !!all[key(info.board, info.thread)];
      button.textContent = IB.t(watching ? "unwatch" : "watch");
      button.setAttribute("aria-pressed", watching ? "true" : "false");
    });
  }

  function watch(op) {
    var info = IB.postInfo(op);
    if (!info) return;
    var all = load();
    var seen = highestOnPage(info.board, info.thread);
    if (!seen) {
      var thread = op.closest(".thread");
      IB.within(thread || op, "article.post").forEach(function (post) {
        var p = IB.postInfo(post);
        if (p && p.no > seen) seen = p.no;
      });
    }
    all[key(info.board, info.thread)] = {
      board: info.board, thread: info.thread, title: titleOf(op, info), seen: seen, unread: 0, you: 0, dead: false,
    };
    save(all);
  }

  function unwatch(board, thread) {
    var all = load();
    delete all[key(board, thread)];
    save(all);
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest(".watch-toggle") : null;
    if (!button) return;
    var op = button.closest("article.post");
    var info = IB.postInfo(op);
    if (!info) return;
    if (load()[key(info.board, info.thread)]) unwatch(info.board, info.thread);
    else watch(op);
  });

  // ---- checking ------------------------------------------------------------------------

  function quotesYou(comment, board) {
    if (!comment) return false;
    var found = false;
    comment.replace(/href="(?:\/([a-z0-9]+)\/thread\/[0-9]+)?#p([0-9]+)"/g, function (whole, otherBoard, no) {
      if (IB.you.has(otherBoard || board, Number(no))) found = true;
      return whole;
    });
    return found;
  }

  function update(board, thread, change) {
    var all = load();
    var entry = all[key(board, thread)];
    if (!entry) return;
    Object.keys(change).forEach(function (name) { entry[name] = change[name]; });
    save(all);
  }

  function checkOne(entry) {
    var url = "/" + entry.board + "/thread/" + entry.thread + ".json";
    return IB.fetchJSON(url).then(function (body) {
      var posts = (body && body.posts) || [];
      var fresh = posts.filter(function (p) { return p.no > (entry.seen || 0); });
      var mine = fresh.filter(function (p) { return !IB.you.has(entry.board, p.no); });
      update(entry.board, entry.thread, {
        unread: mine.length,
        you: mine.filter(function (p) { return quotesYou(p.com, entry.board); }).length,
        dead: false,
      });
    }, function (error) {
      if (error && error.status === 404) update(entry.board, entry.thread, { dead: true, unread: 0, you: 0 });
    });
  }

  var checking = false;
  function checkAll(now) {
    if (checking || !IB.settings.get("watcher") || (document.hidden && !now)) return;
    checking = true;
    var all = load();
    var entries = Object.keys(all).map(function (k) { return all[k]; }).filter(function (entry) {
      var here = IB.page && IB.page.board === entry.board && IB.page.thread === entry.thread;
      return !entry.dead && !here;
    });
    // One after another: a long list must not become a burst of requests.
    entries.reduce(function (chain, entry) {
      return chain.then(function () { return checkOne(entry); });
    }, Promise.resolve()).then(function () { checking = false; }, function () { checking = false; });
  }

  // The thread open here: everything on the page has been read.
  function markHereRead() {
    if (!IB.page) return;
    var entry = load()[key(IB.page.board, IB.page.thread)];
    if (!entry) return;
    var seen = Math.max(entry.seen || 0, highestOnPage(IB.page.board, IB.page.thread));
    if (seen !== entry.seen || entry.unread || entry.you) {
      update(IB.page.board, IB.page.thread, { seen: seen, unread: 0, you: 0 });
    }
  }

  // ---- start ---------------------------------------------------------------------------

  function start() {
    if (!IB.settings.get("watcher")) return;
    if (!opener) build();
    render();
    markHereRead();
  }

  IB.onPosts(function (root) { if (opener) syncButtons(root); });
  IB.on("posts-added", markHereRead);
  IB.on("thread-gone", function (detail) { update(detail.board, detail.thread, { dead: true }); });
  IB.store.watch("watched", render);
  IB.on("settings", function (change) {
    if (change.name !== "watcher") return;
    if (change.value) {
      if (opener) opener.parentNode.hidden = false;
      start();
    } else {
      if (opener) opener.parentNode.hidden = true;
      toggle(false);
      syncButtons(document);
    }
  });

  start();
  setTimeout(checkAll, FIRST_CHECK_MS);
  setInterval(checkAll, CHECK_MS);
})();
