/* Inline expansion of files: clicking a thumbnail (a.file-thumb, which links to the original)
 * shows the original in place of the thumbnail; clicking the image again shrinks it back.
 * Videos and audio get a player with controls under the thumbnail and a [Close] button.
 * Other files (and any click with a modifier key, or with the setting off) open as links do.
 */
(function () {
  "use strict";

  var IB = window.IB;
  if (!IB) return;

  var IMAGE = /\.(jpe?g|png|gif|webp|avif|bmp)$/i;
  var VIDEO = /\.(webm|mp4|m4v|mov|ogv)$/i;
  var AUDIO = /\.(mp3|ogg|oga|opus|flac|wav|m4a)$/i;

  function kindOf(link) {
    var path;
    try {
      path = new URL(link.href, document.baseURI).pathname;
    } catch (error) {
      return null;
    }
    if (IMAGE.test(path)) return "image";
    if (VIDEO.test(path)) return "video";
    if (AUDIO.test(path)) return "audio";
    return null;
  }

  function thumbOf(link) {
    return link.querySelector("img:not(.file-expanded)");
  }

  function expand(link, kind) {
    var figure = link.closest("figure.file") || link.parentNode;
    var thumb = thumbOf(link);
    figure.classList.add("is-expanded");
    link.setAttribute("aria-expanded", "true");
    if (kind === "image") {
      var full = IB.el("img", { className: "file-expanded", src: link.href, alt: thumb ? thumb.alt : "" });
      full.decoding = "async";
      full.addEventListener("error", function () { collapse(link); }, { once: true });
      // Keep the thumbnail until the original can be drawn.
      full.hidden = true;
      link.appendChild(full);
      var swap = function () {
        if (!full.isConnected) return;
        full.hidden = false;
        if (thumb) thumb.hidden = true;
      };
      if (full.decode) full.decode().then(swap, swap);
      else full.addEventListener("load", swap, { once: true });
      return;
    }
    var player = IB.el(kind, { className: "file-expanded file-player", src: link.href, controls: "" });
    player.loop = kind === "video";
    var close = IB.el("button", { type: "button", className: "ib-link file-close", text: IB.t("close") });
    var wrap = IB.el("div", { className: "file-expanded-box" }, [close, player]);
    link.hidden = true;
    link.after(wrap);
    close.addEventListener("click", function () {
      collapse(link);
      link.focus();
    });
    var playing = player.play && player.play();
    if (playing && playing.catch) playing.catch(function () { /* autoplay refused: controls remain */ });
  }

  function collapse(link) {
    var figure = link.closest("figure.file") || link.parentNode;
    Array.prototype.forEach.call(link.querySelectorAll("img.file-expanded"), function (img) { img.remove(); });
    var box = link.nextElementSibling;
    if (box && box.classList.contains("file-expanded-box")) {
      var player = box.querySelector("video, audio");
      if (player && player.pause) player.pause();
      box.remove();
    }
    link.hidden = false;
    var thumb = thumbOf(link);
    if (thumb) thumb.hidden = false;
    figure.classList.remove("is-expanded");
    link.setAttribute("aria-expanded", "false");
    // A long image shrunk from below: bring the post back into view.
    var top = figure.getBoundingClientRect().top;
    if (top < 0) figure.scrollIntoView({ block: "start" });
  }

  IB.media = {
    collapseAll: function (root) {
      Array.prototype.forEach.call(root.querySelectorAll("a.file-thumb"), function (link) {
        if (link.closest(".is-expanded")) collapse(link);
      });
    },
  };

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || IB.modified(event)) return;
    var link = event.target instanceof Element ? event.target.closest("a.file-thumb") : null;
    if (!link || link.closest(".quote-preview")) return;
    var figure = link.closest("figure.file");
    if (figure && figure.classList.contains("is-expanded")) {
      event.preventDefault();
      collapse(link);
      return;
    }
    if (!IB.settings.get("inlineExpand")) return;
    var kind = kindOf(link);
    if (!kind) return;
    event.preventDefault();
    expand(link, kind);
  });

  IB.on("settings", function (change) {
    if (change.name === "inlineExpand" && !change.value) IB.media.collapseAll(document);
  });
})();
