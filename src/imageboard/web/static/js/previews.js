/* Quote previews: hovering (or focusing) a quote link >>123 shows the quoted post next to it.
 *
 * The post is copied from the page when it is there (and highlighted in place); otherwise
 * its thread page is fetched (same origin, across threads and boards), parsed, and the post
 * taken from it. Fetched pages are kept for a minute (IB.fetchDocument).
 */
(function () {
  "use strict";

  var IB = window.IB;
  if (!IB) return;

  var popup = null;
  var current = null;  // the link the popup belongs to
  var highlighted = null;

  function findOnPage(target) {
    var candidates = document.querySelectorAll("article.post[id='p" + target.no + "']");
    for (var i = 0; i < candidates.length; i++) {
      var post = candidates[i];
      if (post.closest(".quote-preview")) continue;
      var info = IB.postInfo(post);
      if (info && info.board === target.board) return post;
    }
    return null;
  }

  // A copy fit for showing elsewhere: no ids, no form controls (a copied delete checkbox would
  // join the delete form), no playing media.
  function copyOf(post) {
    var copy = post.cloneNode(true);
    copy.removeAttribute("id");
    copy.classList.remove("is-hidden", "post-unread", "post-highlight");
    Array.prototype.forEach.call(copy.querySelectorAll("[id]"), function (node) { node.removeAttribute("id"); });
    Array.prototype.forEach.call(copy.querySelectorAll("input, select, textarea, button, details.modmenu, video, audio"),
      function (node) { node.remove(); });
    if (IB.media) IB.media.collapseAll(copy);
    return copy;
  }

  function place(link) {
    if (!popup) return;
    var rect = link.getBoundingClientRect();
    var width = popup.offsetWidth;
    var height = popup.offsetHeight;
    var viewW = document.documentElement.clientWidth;
    var viewH = window.innerHeight;
    var left = Math.max(4, Math.min(rect.left, viewW - width - 4));
    var top = rect.bottom + 4;
    if (top + height > viewH - 4 && rect.top - height - 4 >= 4) top = rect.top - height - 4;
    popup.style.left = Math.round(left) + "px";
    popup.style.top = Math.round(Math.max(4, top)) + "px";
  }

  function fill(link, content) {
    if (!popup || current !== link) return;
    popup.textContent = "";
    popup.appendChild(content);
    if (content.matches && content.matches("article.post")) IB.decorate(content);
    place(link);
  }

  function message(text) {
    return IB.el("p", { className: "quote-preview-message", text: text });
  }

  function show(link) {
    var target = IB.quoteTarget(link);
    if (!target) return;
    hide();
    current = link;
    popup = IB.el("div", { className: "quote-preview", id: "quote-preview" });
    popup.setAttribute("role", "tooltip");
    document.body.appendChild(popup);
    link.setAttribute("aria-describedby", "quote-preview");

    var local = findOnPage(target);
    if (local) {
      highlighted = local;
      local.classList.add("post-quoted");
      fill(link, copyOf(local));
      return;
    }
    fill(link, message(IB.t("loading")));
    var url = "/" + target.board + "/thread/" + target.thread;
    IB.fetchDocument(url, false).then(function (doc) {
      var found = doc.getElementById("p" + target.no);
      fill(link, found ? copyOf(document.importNode(found, true)) : message(IB.t("notFound")));
    }, function () {
      fill(link, message(IB.t("notFound")));
    });
  }

  function hide() {
    if (popup) popup.remove();
    if (current) current.removeAttribute("aria-describedby");
    if (highlighted) highlighted.classList.remove("post-quoted");
    popup = null;
    current = null;
    highlighted = null;
  }

  function linkOf(node) {
    var link = node instanceof Element ? node.closest("a.quotelink") : null;
    return link && !link.closest(".quote-preview") ? link : null;
  }

  function enter(event) {
    var link = linkOf(event.target);
    if (!link || link === current || !IB.settings.get("previews")) return;
    show(link);
  }

  function leave(event) {
    var link = linkOf(event.target);
    if (!link || link !== current) return;
    if (event.relatedTarget instanceof Node && link.contains(event.relatedTarget)) return;
    hide();
  }

  document.addEventListener("mouseover", enter);
  document.addEventListener("focusin", enter);
  document.addEventListener("mouseout", leave);
  document.addEventListener("focusout", leave);
  document.addEventListener("click", function (event) { if (linkOf(event.target)) hide(); });
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") hide(); });
  window.addEventListener("scroll", function () { if (current) place(current); }, { passive: true });
})();
