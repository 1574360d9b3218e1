/* The captcha's proof of work. Progressive enhancement: without this file (or without
 * JavaScript) the post form shows a picture to type from instead.
 *
 * The same file runs in two places:
 *  - on the page, it finds captcha widgets (.captcha[data-captcha-required]) in forms, asks
 *    /captcha/challenge for a challenge the first time the visitor touches the form, solves it
 *    in a Worker (this file again) and fills the hidden captcha_id and pow_nonce fields. A
 *    submit before the work is done waits for it, then goes on by itself;
 *  - in the Worker, it searches for a nonce such that SHA-256("<id>:<nonce>") starts with the
 *    asked number of zero bits, with Web Crypto, in batches, so the page stays responsive.
 * Where Web Crypto is missing (plain http:// on a public address is not a "secure context")
 * the widget falls back to the picture, fetched for this page view.
 *
 * Widget attributes (set by the template):
 *   data-captcha-required="always"  every submit of this form needs the captcha
 *   data-captcha-required="listed"  only visitors whose network is on the operator's list
 *   data-captcha-listed="1"         listed visitors must solve it every time (no grace pass)
 */
(function () {
  "use strict";

  var BATCH = 256;

  function zeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { bits += 8; continue; }
      return bits + Math.clz32(bytes[i]) - 24;
    }
    return bits;
  }

  // Resolves with the first nonce (a decimal string) that gives `bits` leading zero bits.
  async function solve(prefix, bits, shouldStop, onProgress) {
    var encoder = new TextEncoder();
    var subtle = self.crypto.subtle;
    for (var base = 0; base < 0x7fffffff; base += BATCH) {
      if (shouldStop && shouldStop()) return null;
      var work = [];
      for (var n = base; n < base + BATCH; n++) {
        work.push(subtle.digest("SHA-256", encoder.encode(prefix + n)));
      }
      var digests = await Promise.all(work);
      for (var j = 0; j < digests.length; j++) {
        if (zeroBits(new Uint8Array(digests[j])) >= bits) return String(base + j);
      }
      if (onProgress && base % (BATCH * 64) === 0) onProgress(base + BATCH);
    }
    return null;
  }

  // ---- in the Worker -----------------------------------------------------------------
  if (typeof document === "undefined") {
    self.onmessage = function (event) {
      var job = event.data;
      solve(job.prefix, job.bits, null, null).then(function (nonce) {
        self.postMessage({ id: job.id, nonce: nonce });
      }, function (error) {
        self.postMessage({ id: job.id, error: String(error) });
      });
    };
    return;
  }

  // ---- on the page -------------------------------------------------------------------
  var script = document.currentScript;
  var scriptUrl = script ? script.src : "/static/js/pow.js";
  var canHash = !!(window.crypto && window.crypto.subtle && window.TextEncoder && window.isSecureContext);

  function runJob(challenge) {
    return new Promise(function (resolve, reject) {
      var worker = null;
      try {
        worker = new Worker(scriptUrl);
      } catch (error) {
        worker = null;
      }
      if (!worker) {
        // No Worker: solve on the page; awaiting each batch of digests lets the page breathe.
        solve(challenge.prefix, challenge.bits, null, null).then(resolve, reject);
        return;
      }
      worker.onmessage = function (event) {
        worker.terminate();
        if (event.data.error) reject(new Error(event.data.error));
        else resolve(event.data.nonce);
      };
      worker.onerror = function (event) {
        worker.terminate();
        event.preventDefault();
        solve(challenge.prefix, challenge.bits, null, null).then(resolve, reject);
      };
      worker.postMessage({ id: challenge.id, prefix: challenge.prefix, bits: challenge.bits });
    });
  }

  function fetchChallenge(kind) {
    return fetch("/captcha/challenge?kind=" + kind, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error((body.error && body.error.message) || "captcha unavailable");
        body.fetchedAt = Date.now();
        return body;
      });
    });
  }

  function Widget(form, box) {
    this.form = form;
    this.box = box;
    this.mode = box.getAttribute("data-captcha-required");
    this.listedMustSolve = box.getAttribute("data-captcha-listed") === "1";
    this.idField = form.elements.namedItem("captcha_id");
    this.nonceField = form.elements.namedItem("pow_nonce");
    this.answerField = form.elements.namedItem("captcha_answer");
    this.status = box.querySelector("[data-captcha-status]");
    this.picture = box.querySelector("[data-captcha-picture]");
    this.pending = null;   // Promise of the current preparation
    this.ready = false;    // fields filled (or nothing needed)
    this.challenge = null;
    this.submitting = false;
    if (canHash) this.useProofOfWork();
  }

  Widget.prototype.say = function (text) {
    if (this.status) this.status.textContent = text;
  };

  Widget.prototype.text = function (key, fallback) {
    return this.box.getAttribute("data-text-" + key) || fallback;
  };

  // `hidden` alone loses to a stylesheet's display rule; the style property (CSSOM, which the
  // Content-Security-Policy allows) does not.
  function show(element, visible) {
    if (!element) return;
    element.hidden = !visible;
    element.style.display = visible ? "" : "none";
  }

  Widget.prototype.useProofOfWork = function () {
    // The answer box is for the picture; with proof of work nobody needs to type.
    show(this.box.querySelector("[data-captcha-answer-row]"), false);
    this.say(this.text("auto", "Your browser will solve the captcha by itself when you post."));
  };

  Widget.prototype.usePicture = function () {
    var self = this;
    return fetchChallenge("text").then(function (challenge) {
      self.challenge = challenge;
      if (self.idField) self.idField.value = challenge.id;
      if (self.nonceField) self.nonceField.value = "";
      show(self.box.querySelector("[data-captcha-answer-row]"), true);
      var img = self.picture;
      if (!img) {
        img = document.createElement("img");
        img.setAttribute("data-captcha-picture", "");
        img.width = 240;
        img.height = 80;
        img.alt = self.text("alt", "Captcha: type the characters in this picture.");
        self.box.insertBefore(img, self.box.querySelector("[data-captcha-answer-row]"));
        self.picture = img;
      }
      img.src = challenge.image;
      self.say(self.text("type", "Type the characters in the picture."));
      self.ready = true;
    });
  };

  Widget.prototype.expired = function () {
    var c = this.challenge;
    return !c || Date.now() - c.fetchedAt > (c.expires_in - 20) * 1000;
  };

  // Fill the hidden fields (or decide nothing is needed). Safe to call many times.
  Widget.prototype.prepare = function () {
    var self = this;
    if (self.ready && !self.expired()) return Promise.resolve();
    if (self.pending) return self.pending;
    self.ready = false;
    if (!canHash) {
      self.pending = self.usePicture();
    } else {
      self.pending = fetchChallenge("pow").then(function (challenge) {
        var listedForce = self.listedMustSolve && challenge.listed;
        var needed = self.mode === "always" || listedForce;
        if (!needed || (challenge.grace && !listedForce)) {
          self.challenge = challenge;
          self.ready = true;
          if (self.idField) self.idField.value = "";
          if (self.nonceField) self.nonceField.value = "";
          self.say(needed ? self.text("grace", "Your recent captcha still covers this post.")
                          : self.text("none", "No captcha is needed from you right now."));
          return;
        }
        self.say(self.text("working", "Solving the captcha (this takes a moment)…"));
        var started = Date.now();
        return runJob(challenge).then(function (nonce) {
          if (nonce === null) throw new Error("no solution");
          challenge.fetchedAt = Math.min(challenge.fetchedAt, started);
          self.challenge = challenge;
          if (self.idField) self.idField.value = challenge.id;
          if (self.nonceField) self.nonceField.value = nonce;
          self.ready = true;
          self.say(self.text("done", "Captcha solved: you can post."));
        });
      }).catch(function () {
        // Anything failed: the picture always works.
        canHash = false;
        return self.usePicture();
      });
    }
    self.pending = self.pending.then(function () { self.pending = null; }, function (error) {
      self.pending = null;
      self.say(self.text("failed", "The captcha could not be loaded. Reload the page to try again."));
      throw error;
    });
    return self.pending;
  };

  Widget.prototype.onSubmit = function (event) {
    var self = this;
    if (self.submitting) return;
    if (self.ready && !self.expired()) return;  // fields are filled: let the form go
    event.preventDefault();
    var submitter = event.submitter || null;
    self.prepare().then(function () {
      if (!canHash && self.answerField && !self.answerField.value) {
        self.answerField.focus();  // the picture: the visitor types, then submits again
        return;
      }
      self.submitting = true;
      if (self.form.requestSubmit) self.form.requestSubmit(submitter);
      else self.form.submit();
      self.submitting = false;
    }, function () { /* the status says what to do */ });
  };

  function init() {
    var boxes = document.querySelectorAll(".captcha[data-captcha-required]");
    Array.prototype.forEach.call(boxes, function (box) {
      var form = box.closest("form");
      if (!form) return;
      var widget = new Widget(form, box);
      var start = function () { widget.prepare().catch(function () {}); };
      form.addEventListener("focusin", start, { once: true });
      form.addEventListener("submit", function (event) { widget.onSubmit(event); });
      // posting.js sent the form without leaving the page: the fields were used up.
      form.addEventListener("imageboard:posted", function () { widget.ready = false; widget.challenge = null; });
      // A page restored from the back/forward cache has used fields: start afresh.
      window.addEventListener("pageshow", function (event) {
        if (event.persisted) { widget.ready = false; widget.challenge = null; }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
