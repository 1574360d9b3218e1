/* Live updates of a thread page.
 *
 * An EventSource on /{board}/thread/{no}/events says when something changed; the script then
 * fetches the thread page itself (cached by the server, so cheap) and merges it: posts not yet
 * on the page are inserted in order, backlinks and the reply count are brought up to date,
 * posts gone from the thread are marked deleted, posts that changed (files, a staff edit, a
 * ban mark: post.updated) are replaced.
 * Rendering stays in one place, the server. When EventSource is missing or keeps failing,
 * the page is polled every POLL_MS instead (and the stream is tried again now and then).
 *
 * New posts not yet scrolled into view count as unread: the count shows in the tab title,
 * "(3) /b/ - …", and in the status line under the thread.
 *
 * IB.live.refresh({show: no}) fetches now (posting.js calls it after posting) and scrolls to
 * post `no` once it is on the page.
 */
(function () {
  "use strict";

  var IB = window.IB;
  if (!IB) return;
  var page = IB.page;
  if (!page) {
    IB.live = { refresh: function () { return Promise.reject(new Error("not a thread page")); } };
    return;
  }

  var POLL_MS = 20 * 1000;
  var RETRY_STREAM_MS = 2 * 60 * 1000;
  var EVENTS = ["post.created", "post.deleted", "post.updated", "file.deleted", "file.processed",
    "thread.updated", "thread.archived", "thread.pruned"];
  var pageUrl = "/" + page.board + "/thread/" + page.thread;
  var eventsUrl = pageUrl + "/events";
  var box = page.box;
  var baseTitle = document.title;

  // ---- the status line -----------------------------------------------------------------

  var stateText = IB.el("span", { className: "live-state" });
  var unreadButton = IB.el("button", { type: "button", className: "ib-link live-unread", hidden: true });
  var updateButton = IB.el("button", { type: "button", className: "ib-link live-update", text: IB.t("update") });
  var bar = IB.el("div", { className: "live-status" }, [stateText, unreadButton, updateButton]);
  unreadButton.setAttribute("aria-live", "polite");
  box.parentNode.insertBefore(bar, box.nextSibling);

  var mode = "off";
  function setState(next) {
    mode = next;
    var texts = {
      live: IB.t("liveOn"),
      polling: IB.t("polling", { n: Math.round(POLL_MS / 1000) }),
      off: IB.t("liveOff"),
      dead: IB.t("threadGone"),
      failed: IB.t("updateFailed"),
    };
    stateText.textContent = texts[next] || "";
    bar.classList.toggle("is-dead", next === "dead");
  }

  // ---- unread posts --------------------------------------------------------------------

  var unread = [];

  function updateCounter() {
    var n = unread.length;
    document.title = n ? "(" + n + ") " + baseTitle : baseTitle;
    unreadButton.hidden = n === 0;
    unreadButton.textContent = n ? IB.t(n === 1 ? "newPost" : "newPosts", { n: n }) : "";
  }

  var readScheduled = false;
  function readVisible() {
    readScheduled = false;
    if (document.hidden || !unread.length) return;
    var bottom = window.innerHeight || document.documentElement.clientHeight;
    unread = unread.filter(function (post) {
      if (!post.isConnected) return false;
      if (post.getBoundingClientRect().top < bottom - 16) {
        post.classList.remove("post-unread");
        return false;
      }
      return true;
    });
    updateCounter();
  }
  function scheduleRead() {
    if (readScheduled) return;
    readScheduled = true;
    window.requestAnimationFrame(readVisible);
  }
  window.addEventListener("scroll", scheduleRead, { passive: true });
  window.addEventListener("resize", scheduleRead);
  window.addEventListener("focus", scheduleRead);
  document.addEventListener("visibilitychange", scheduleRead);

  unreadButton.addEventListener("click", function () {
    var first = unread[0];
    if (first) first.scrollIntoView({ block: "start", behavior: "smooth" });
  });

  // ---- merging a fresh copy of the page --------------------------------------------------

  var dirty = new Set();  // ids ("p123") of posts to replace wholesale (files or text changed)
  var pendingShow = null;
  var dead = false;

  function header(post) {
    return post.querySelector(":scope > .post-header");
  }

  function syncBacklinks(mine, fresh) {
    var head = header(mine);
    if (!head) return;
    var have = head.querySelector(":scope > .backlinks");
    var want = header(fresh) && header(fresh).querySelector(":scope > .backlinks");
    if (!want) {
      if (have) have.remove();
      return;
    }
    if (have && have.textContent === want.textContent) return;
    var node = document.importNode(want, true);
    if (have) have.replaceWith(node);
    else head.appendChild(node);
    IB.decorate(node);
  }

  function markGone(post) {
    if (post.classList.contains("post-gone")) return;
    post.classList.add("post-gone");
    var head = header(post);
    if (head) head.appendChild(IB.el("span", { className: "post-gone-mark", text: IB.t("deleted") }));
    var select = post.querySelector(".post-select");
    if (select) select.disabled = true;
  }

  function merge(doc) {
    var fresh = doc.querySelector(".thread[data-thread]");
    if (!fresh) throw new Error("no thread in the page");
    var current = new Map();
    IB.within(box, "article.post").forEach(function (post) { current.set(post.id, post); });
    var replies = box.querySelector(".replies");
    var seen = new Set();
    var added = [];
    var previous = null;
    Array.prototype.forEach.call(fresh.querySelectorAll("article.post"), function (post) {
      seen.add(post.id);
      var mine = current.get(post.id);
      if (mine) {
        if (dirty.has(post.id)) {
          var copy = document.importNode(post, true);
          mine.replaceWith(copy);
          IB.decorate(copy);
          mine = copy;
        } else {
          syncBacklinks(mine, post);
        }
        previous = mine;
        return;
      }
      if (post.classList.contains("op")) return;
      var node = document.importNode(post, true);
      if (!replies) {
        replies = IB.el("div", { className: "replies" });
        box.appendChild(replies);
      }
      if (previous && previous.parentNode === replies) previous.after(node);
      else replies.insertBefore(node, replies.firstChild);
      previous = node;
      added.push(node);
    });
    dirty.clear();
    current.forEach(function (post, id) {
      if (!seen.has(id)) markGone(post);
    });

    var stats = doc.querySelector(".thread-stats");
    var myStats = document.querySelector(".thread-stats");
    if (stats && myStats && myStats.textContent !== stats.textContent) myStats.textContent = stats.textContent;

    // Closed or archived meanwhile: the form goes, the server's notice comes.
    var form = document.getElementById("postform");
    if (form && !doc.getElementById("postform") && !form.hidden) {
      form.hidden = true;
      var notice = doc.querySelector("main .notice");
      if (notice) form.parentNode.insertBefore(document.importNode(notice, true), form);
    }

    added.forEach(function (post) {
      IB.decorate(post);
      var info = IB.postInfo(post);
      if (info && !IB.you.has(info.board, info.no)) {
        post.classList.add("post-unread");
        unread.push(post);
      }
    });
    if (added.length) IB.emit("posts-added", { board: page.board, thread: page.thread, posts: added });

    if (pendingShow !== null) {
      var shown = document.getElementById("p" + pendingShow);
      if (shown && box.contains(shown)) {
        pendingShow = null;
        Array.prototype.forEach.call(document.querySelectorAll(".post-highlight"), function (old) {
          old.classList.remove("post-highlight");
        });
        shown.classList.add("post-highlight");
        shown.scrollIntoView({ block: "nearest" });
      }
    }
    readVisible();
    updateCounter();
  }

  // ---- fetching ------------------------------------------------------------------------

  var running = null;
  var again = false;

  function refresh(options) {
    if (options && options.show) pendingShow = Number(options.show);
    if (dead) return Promise.reject(new Error("thread gone"));
    if (running) {
      again = true;
      return running;
    }
    updateButton.disabled = true;
    running = IB.fetchDocument(pageUrl, true).then(merge, function (error) {
      if (error && error.status === 404) {
        dead = true;
        stop();
        setState("dead");
        IB.emit("thread-gone", { board: page.board, thread: page.thread });
      } else if (mode !== "live") {
        setState("failed");
      }
      throw error;
    });
    var finish = function () {
      running = null;
      updateButton.disabled = false;
      if (again && !dead) {
        again = false;
        refresh().catch(function () {});
      }
    };
    running.then(finish, finish);
    return running;
  }

  var refreshTimer = null;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { refresh().catch(function () {}); }, 200);
  }

  updateButton.addEventListener("click", function () {
    refresh().catch(function () {});
  });

  // ---- the event stream, or polling ----------------------------------------------------

  var source = null;
  var pollTimer = null;
  var retryTimer = null;
  var failures = 0;

  function onEvent(event) {
    var data = {};
    try {
      data = JSON.parse(event.data) || {};
    } catch (error) {
      data = {};
    }
    if (event.type === "post.created") {
      var there = data.post_no && document.getElementById("p" + data.post_no);
      if (there && box.contains(there)) return;
    } else if (data.post_no) {
      dirty.add("p" + data.post_no);
    }
    if (event.type === "thread.updated" || event.type === "thread.archived") dirty.add("p" + page.thread);
    scheduleRefresh();
  }

  function startPolling() {
    setState("polling");
    if (!pollTimer) {
      pollTimer = setInterval(function () { refresh().catch(function () {}); }, POLL_MS);
    }
    if (!retryTimer && window.EventSource) {
      retryTimer = setTimeout(function () {
        retryTimer = null;
        if (!dead && IB.settings.get("autoUpdate")) connect();
      }, RETRY_STREAM_MS);
    }
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (!window.EventSource) {
      startPolling();
      return;
    }
    try {
      source = new EventSource(eventsUrl);
    } catch (error) {
      source = null;
      startPolling();
      return;
    }
    var stream = source;
    setState("live");
    EVENTS.forEach(function (type) { stream.addEventListener(type, onEvent); });
    stream.addEventListener("resync", function () { refresh().catch(function () {}); });
    stream.onopen = function () {
      failures = 0;
      stopPolling();
      setState("live");
      // Whatever happened between the page load (or the last connection) and now.
      refresh().catch(function () {});
    };
    stream.onerror = function () {
      failures += 1;
      if (stream.readyState === EventSource.CLOSED || failures >= 3) {
        stream.close();
        if (source === stream) source = null;
        startPolling();
      }
    };
  }

  function stop() {
    if (source) source.close();
    source = null;
    stopPolling();
    clearTimeout(retryTimer);
    retryTimer = null;
  }

  function start() {
    stop();
    if (dead) return;
    if (!IB.settings.get("autoUpdate")) {
      setState("off");
      return;
    }
    connect();
  }

  IB.on("settings", function (change) {
    if (change.name === "autoUpdate") start();
  });

  // Leaving the page (or entering the back/forward cache) closes the stream; coming back
  // from that cache opens it again.
  window.addEventListener("pagehide", stop);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) start();
  });

  IB.live = { refresh: refresh };
  // After the page's own images and files: the stream holds a connection for good.
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start, { once: true });
})();
