/* Posting without a page reload.
 *
 * The post form (#postform) is sent with XMLHttpRequest (for the upload progress) and
 * `Accept: application/json`; the server answers {"board","thread","no","url"} (201) or
 * {"error": {"code","message","field"}}. On success the post number is remembered as the
 * visitor's own (for the (You) marks); on a thread page the form is cleared and the new post
 * fetched into the page, elsewhere (a new thread, or "nonoko") the browser goes to `url`.
 * Without JavaScript the form posts and the server redirects, as always.
 *
 * The captcha script (pow.js) may hold a submit back until its work is done: a submit it
 * prevented is left alone here, and it submits again by itself.
 */
(function () {
  "use strict";

  var IB = window.IB;
  var form = document.getElementById("postform");
  if (!IB || !form || !window.FormData || !window.XMLHttpRequest) return;

  var busy = false;
  var status = IB.el("div", { className: "postform-status", hidden: true }, []);
  var message = IB.el("p", { className: "postform-message", id: "postform-message" });
  var progress = IB.el("progress", { className: "postform-progress", max: "1", hidden: true });
  message.setAttribute("role", "status");
  status.appendChild(message);
  status.appendChild(progress);
  var actions = form.querySelector(".form-actions");
  form.insertBefore(status, actions ? actions.nextSibling : null);

  var percent = null;
  try {
    percent = new Intl.NumberFormat(IB.lang, { style: "percent", maximumFractionDigits: 0 });
  } catch (error) {
    percent = null;
  }

  function say(text, kind) {
    status.hidden = !text;
    status.classList.toggle("is-error", kind === "error");
    status.classList.toggle("is-info", kind !== "error");
    message.setAttribute("role", kind === "error" ? "alert" : "status");
    message.textContent = text || "";
  }

  function showProgress(fraction) {
    if (fraction === null) {
      progress.hidden = true;
      progress.removeAttribute("value");
      return;
    }
    progress.hidden = false;
    progress.value = fraction;
    var text = IB.t("uploading") + (percent ? " " + percent.format(fraction) : "");
    progress.setAttribute("aria-label", text);
    message.textContent = text;
  }

  function clearInvalid() {
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (field) {
      field.removeAttribute("aria-invalid");
    });
  }

  function setBusy(on) {
    busy = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    Array.prototype.forEach.call(form.querySelectorAll("button[type=submit], input[type=submit]"), function (b) {
      b.disabled = on;
    });
  }

  function hasFiles() {
    return Array.prototype.some.call(form.querySelectorAll("input[type=file]"), function (input) {
      return input.files && input.files.length > 0;
    });
  }

  function clearForm() {
    ["com", "sub"].forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field && "value" in field) field.value = "";
    });
    Array.prototype.forEach.call(form.querySelectorAll("input[type=file]"), function (input) {
      input.value = "";
    });
    var spoiler = form.elements.namedItem("spoiler");
    if (spoiler && "checked" in spoiler) spoiler.checked = false;
  }

  function samePage(url) {
    var target = new URL(url, document.baseURI);
    if (target.origin !== location.origin || !IB.page) return false;
    return target.pathname.replace(/^(\/[a-z0-9]+\/thread\/[0-9]+).*$/, "$1") ===
      "/" + IB.page.board + "/thread/" + IB.page.thread;
  }

  function succeeded(body) {
    IB.you.add(body.board, body.no);
    form.dispatchEvent(new CustomEvent("imageboard:posted", { detail: body }));
    if (body.held) {
      clearForm();
      say(IB.t("held"), "info");
      return;
    }
    if (!samePage(body.url)) {
      location.assign(body.url);
      return;
    }
    clearForm();
    say("", "info");
    if (history.replaceState) history.replaceState(null, "", "#p" + body.no);
    var done = IB.live ? IB.live.refresh({ show: body.no }) : Promise.reject(new Error("no live"));
    done.catch(function () { location.reload(); });
  }

  function failed(status, body) {
    var error = body && body.error;
    if (error && error.code === "banned") {
      location.assign("/banned");  // the ban page, where the visitor may appeal
      return;
    }
    var text = error && error.message ? error.message : IB.t("postFailed", { status: status });
    say(text, "error");
    var field = error && error.field ? form.elements.namedItem(error.field) : null;
    if (field && field.focus) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  }

  function send(submitter) {
    var data;
    try {
      data = submitter ? new FormData(form, submitter) : new FormData(form);
    } catch (error) {
      data = new FormData(form);
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    var uploading = hasFiles();
    if (uploading && xhr.upload) {
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable && event.total > 0) showProgress(event.loaded / event.total);
      };
    }
    xhr.onload = function () {
      setBusy(false);
      showProgress(null);
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (error) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.no) succeeded(body);
      else failed(xhr.status, body);
    };
    xhr.onerror = function () {
      setBusy(false);
      showProgress(null);
      say(IB.t("networkError"), "error");
    };
    clearInvalid();
    setBusy(true);
    // The address names the new post once it exists (#p123, as after the server's redirect);
    // until then it names none.
    if (location.hash && history.replaceState) history.replaceState(null, "", location.pathname + location.search);
    say(IB.t(uploading ? "uploading" : "sending"), "info");
    if (uploading) showProgress(0);
    xhr.send(data);
  }

  document.addEventListener("submit", function (event) {
    if (event.target !== form || event.defaultPrevented) return;
    event.preventDefault();
    if (busy) return;
    send(event.submitter || null);
  });
})();
