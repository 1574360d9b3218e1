/* Progressive enhancement only: every page works without this file.
 *
 * Clicking a post's number (a.post-quote) while the reply form for that post's thread is on
 * the page inserts ">>123\n" into the comment box at the cursor and focuses it, instead of
 * loading the thread page with ?quote=123.
 */
(function () {
  "use strict";

  function replyBox(link) {
    var form = document.getElementById("postform");
    if (!form) return null;
    var box = form.elements.namedItem("com");
    var resto = form.elements.namedItem("resto");
    if (!box || box.disabled || !resto || resto.value === "0") return null;
    // Only quote into the form of the thread the post belongs to: the form posts to
    // /<board>/post and the link points to /<board>/thread/<resto>.
    var action = new URL(form.action, document.baseURI).pathname;
    var threadPath = action.replace(/post$/, "thread/" + resto.value);
    return link.pathname === threadPath ? box : null;
  }

  // Comment boxes the user has been in: their cursor position counts. In a box never
  // focused (e.g. prefilled from ?quote=), quotes go at the end.
  var visited = new WeakSet();
  document.addEventListener("focusin", function (event) {
    if (event.target instanceof HTMLTextAreaElement) visited.add(event.target);
  });

  function insertQuote(box, postNo) {
    var text = ">>" + postNo + "\n";
    var start = box.selectionStart;
    var end = box.selectionEnd;
    if (!visited.has(box) || typeof start !== "number") {
      start = end = box.value.length;
    }
    // Start the quote on a line of its own.
    if (start > 0 && box.value.charAt(start - 1) !== "\n") {
      text = "\n" + text;
    }
    box.focus();
    box.setRangeText(text, start, end, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 ||
        event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    var link = event.target instanceof Element ? event.target.closest("a.post-quote") : null;
    if (!link) return;
    var postNo = new URL(link.href, document.baseURI).searchParams.get("quote");
    if (!postNo || !/^[0-9]+$/.test(postNo)) return;
    var box = replyBox(link);
    if (!box) return;
    event.preventDefault();
    insertQuote(box, postNo);
  });
})();
