/* Shared helpers for the site's scripts (loaded first; every other file uses window.IB).
 *
 * Progressive enhancement only: every page works without JavaScript. The scripts are loaded
 * with `defer`, so they run in order once the document is parsed.
 *
 *   IB.store      JSON values in localStorage under "ib.<key>" (quietly does nothing when
 *                 storage is unavailable)
 *   IB.settings   the feature switches of the settings panel (IB.settings.get("previews"))
 *   IB.t          user-visible strings, translated by the server into data-* attributes of
 *                 #ib-strings (layout.html); "{name}" placeholders are filled from `vars`
 *   IB.on/emit    page-wide events ("ib:<name>" CustomEvents on document)
 *   IB.onPosts    register a decorator: run now on the document, then on every post that is
 *                 added later (live updates, previews). Decorators must be idempotent.
 *   IB.postInfo   {board, thread, no} of an article.post
 *   IB.quoteTarget {board, thread, no} a.quotelink points to, or null
 *   IB.you        the visitor's own post numbers, per board
 *   IB.fetchDocument  a same-origin page parsed with DOMParser (cached briefly)
 */
(function () {
  "use strict";

  var IB = (window.IB = window.IB || {});

  // ---- storage ---------------------------------------------------------------------------

  var PREFIX = "ib.";
  IB.store = {
    get: function (key, fallback) {
      try {
        var raw = window.localStorage.getItem(PREFIX + key);
        return raw === null ? fallback : JSON.parse(raw);
      } catch (error) {
        return fallback;
      }
    },
    set: function (key, value) {
      try {
        window.localStorage.setItem(PREFIX + key, JSON.stringify(value));
      } catch (error) { /* private mode or full: the feature just forgets */ }
    },
    // Calls fn(newValue) when another tab changes the key.
    watch: function (key, fn) {
      window.addEventListener("storage", function (event) {
        if (event.key === PREFIX + key) fn(IB.store.get(key, undefined));
      });
    },
  };

  // ---- events ----------------------------------------------------------------------------

  IB.on = function (name, fn) {
    document.addEventListener("ib:" + name, function (event) { fn(event.detail); });
  };
  IB.emit = function (name, detail) {
    document.dispatchEvent(new CustomEvent("ib:" + name, { detail: detail }));
  };

  // ---- settings --------------------------------------------------------------------------

  var DEFAULTS = {
    autoUpdate: true,
    previews: true,
    relativeTimes: true,
    inlineExpand: true,
    watcher: true,
    hiding: true,
  };
  IB.settings = {
    names: Object.keys(DEFAULTS),
    get: function (name) {
      var saved = IB.store.get("settings", {}) || {};
      return Object.prototype.hasOwnProperty.call(saved, name) ? !!saved[name] : DEFAULTS[name];
    },
    set: function (name, value) {
      var saved = IB.store.get("settings", {}) || {};
      saved[name] = !!value;
      IB.store.set("settings", saved);
      IB.emit("settings", { name: name, value: !!value });
    },
  };
  // Another tab changed the settings: announce the switches that changed.
  var known = {};
  IB.settings.names.forEach(function (name) { known[name] = IB.settings.get(name); });
  IB.on("settings", function (change) { known[change.name] = change.value; });
  IB.store.watch("settings", function () {
    IB.settings.names.forEach(function (name) {
      var value = IB.settings.get(name);
      if (value !== known[name]) IB.emit("settings", { name: name, value: value });
    });
  });

  // ---- strings ---------------------------------------------------------------------------

  IB.t = function (key, vars) {
    var box = document.getElementById("ib-strings");
    var text = (box && box.dataset[key]) || key;
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
      });
    }
    return text;
  };

  IB.lang = document.documentElement.lang || "en";

  // ---- DOM helpers -----------------------------------------------------------------------

  // el("button", {type: "button", className: "x", text: "Hi"}, [children])
  IB.el = function (tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key === "hidden") node.hidden = !!value;
      else if (key.indexOf("on") === 0 && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  };

  // The root itself (when it matches) and its descendants that match.
  IB.within = function (root, selector) {
    var found = Array.prototype.slice.call(root.querySelectorAll(selector));
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  };

  IB.modified = function (event) {
    return event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
  };

  // ---- posts -----------------------------------------------------------------------------

  var THREAD_HREF = /^\/([a-z0-9]+)\/thread\/([0-9]+)(?:\/[^#?]*)?(?:\?[^#]*)?#p([0-9]+)$/;

  // Every post's header links to itself: <a class="post-link" href="/b/thread/12#p34">.
  IB.postInfo = function (article) {
    var link = article && article.querySelector(".post-link");
    var match = link && THREAD_HREF.exec(link.getAttribute("href") || "");
    if (!match) return null;
    return { board: match[1], thread: Number(match[2]), no: Number(match[3]) };
  };

  IB.quoteTarget = function (link) {
    var href = link.getAttribute("href") || "";
    var local = /^#p([0-9]+)$/.exec(href);
    if (local) {
      var info = IB.postInfo(link.closest("article.post"));
      return info ? { board: info.board, thread: info.thread, no: Number(local[1]) } : null;
    }
    var match = THREAD_HREF.exec(href);
    return match ? { board: match[1], thread: Number(match[2]), no: Number(match[3]) } : null;
  };

  // The thread page's thread (set by pages/thread.html), or null on other pages.
  var threadBox = document.querySelector(".thread[data-thread]");
  IB.page = threadBox
    ? { board: threadBox.getAttribute("data-board"), thread: Number(threadBox.getAttribute("data-thread")), box: threadBox }
    : null;

  // ---- the visitor's own posts -----------------------------------------------------------

  var MAX_OWN = 1000;
  IB.you = {
    all: function () { return IB.store.get("you", {}) || {}; },
    has: function (board, no) {
      var list = IB.you.all()[board];
      return !!list && list.indexOf(Number(no)) !== -1;
    },
    add: function (board, no) {
      var all = IB.you.all();
      var list = all[board] || [];
      if (list.indexOf(Number(no)) === -1) list.push(Number(no));
      all[board] = list.slice(-MAX_OWN);
      IB.store.set("you", all);
      IB.emit("you", { board: board, no: Number(no) });
    },
  };

  // ---- decorators ------------------------------------------------------------------------

  var decorators = [];
  IB.onPosts = function (fn) {
    decorators.push(fn);
    try { fn(document); } catch (error) { console.warn(error); }
  };
  IB.decorate = function (root) {
    decorators.forEach(function (fn) {
      try { fn(root); } catch (error) { console.warn(error); }
    });
  };

  // ---- fetching pages --------------------------------------------------------------------

  var pages = new Map();  // url -> {at, promise}
  var PAGE_TTL = 60 * 1000;

  function getText(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-cache", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.status = response.status;
          throw error;
        }
        return response.text();
      });
  }

  // Resolves with the parsed Document of a same-origin page. `fresh` skips the cache (and
  // refreshes it for the next caller).
  IB.fetchDocument = function (url, fresh) {
    var cached = pages.get(url);
    if (!fresh && cached && Date.now() - cached.at < PAGE_TTL) return cached.promise;
    var promise = getText(url).then(function (html) {
      return new DOMParser().parseFromString(html, "text/html");
    });
    pages.set(url, { at: Date.now(), promise: promise });
    promise.catch(function () { if (pages.get(url) && pages.get(url).promise === promise) pages.delete(url); });
    return promise;
  };

  IB.fetchJSON = function (url) {
    return fetch(url, { credentials: "same-origin", cache: "no-cache", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.status = response.status;
          throw error;
        }
        return response.json();
      });
  };

  // A link in the header's site links (.sitelinks ul), for panels only scripts can open.
  IB.headerButton = function (text, className) {
    var list = document.querySelector(".sitelinks ul");
    if (!list) return null;
    var button = IB.el("button", { type: "button", className: "ib-link " + (className || ""), text: text });
    list.appendChild(IB.el("li", { className: "ib-header-item" }, [button]));
    return button;
  };
})();
