/* The settings panel of the scripts: one switch per feature, stored in this browser
 * (IB.settings), opened from a button in the header. Changes apply at once: each feature
 * listens for the "settings" event. The site's own settings page (theme, language) is
 * separate and works without JavaScript.
 */
(function () {
  "use strict";

  var IB = window.IB;
  if (!IB) return;

  var SWITCHES = [
    ["autoUpdate", "optAutoUpdate"],
    ["previews", "optPreviews"],
    ["relativeTimes", "optRelativeTimes"],
    ["inlineExpand", "optInlineExpand"],
    ["watcher", "optWatcher"],
    ["hiding", "optHiding"],
  ];

  var opener = IB.headerButton(IB.t("scriptSettings"), "settings-open");
  if (!opener) return;
  opener.setAttribute("aria-haspopup", "dialog");

  var boxes = {};
  var fields = SWITCHES.map(function (item) {
    var id = "ib-setting-" + item[0];
    var box = IB.el("input", { type: "checkbox", id: id, name: item[0] });
    boxes[item[0]] = box;
    box.addEventListener("change", function () { IB.settings.set(item[0], box.checked); });
    return IB.el("div", { className: "checkbox ib-setting" }, [box, IB.el("label", { for: id, text: IB.t(item[1]) })]);
  });

  var closeButton = IB.el("button", { type: "button", className: "button", text: IB.t("close") });
  var dialog = IB.el("dialog", { className: "ib-settings", id: "ib-settings" }, [
    IB.el("h2", { className: "ib-settings-title", id: "ib-settings-title", text: IB.t("scriptSettings") }),
    IB.el("fieldset", { className: "ib-settings-list" }, fields),
    IB.el("p", { className: "page-note", text: IB.t("storedHere") }),
    IB.el("div", { className: "form-actions" }, [closeButton]),
  ]);
  dialog.setAttribute("aria-labelledby", "ib-settings-title");
  document.body.appendChild(dialog);

  function refresh() {
    SWITCHES.forEach(function (item) { boxes[item[0]].checked = IB.settings.get(item[0]); });
  }

  opener.addEventListener("click", function () {
    refresh();
    if (dialog.showModal) dialog.showModal();
    else dialog.setAttribute("open", "");
  });
  closeButton.addEventListener("click", function () {
    if (dialog.close) dialog.close();
    else dialog.removeAttribute("open");
  });
  dialog.addEventListener("close", function () { opener.focus(); });
  // A click on the backdrop (outside the dialog's box) closes it.
  dialog.addEventListener("click", function (event) {
    if (event.target !== dialog || !dialog.close) return;
    var rect = dialog.getBoundingClientRect();
    var inside = event.clientX >= rect.left && event.clientX <= rect.right &&
      event.clientY >= rect.top && event.clientY <= rect.bottom;
    if (!inside) dialog.close();
  });
  IB.on("settings", refresh);
})();
