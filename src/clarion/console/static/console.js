// Progressive enhancement for the Clarion console: every page works without it.
"use strict";

(function () {
  function csrfOf(form) {
    var field = form.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }

  function post(url, form) {
    var body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string") { body.append(name, value); }
    });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfOf(form) }
    });
  }

  // Forms with data-live refresh a fragment (audience size, preview, error marks) as they change.
  function live(form) {
    var target = document.getElementById(form.dataset.liveTarget);
    var timer = null;
    var seq = 0;
    function refresh() {
      var mine = ++seq;
      target.setAttribute("aria-busy", "true");
      post(form.dataset.live, form).then(function (response) {
        // A fragment answered by the sign-in page means the session ended.
        if (response.redirected) { window.location.assign(response.url); return null; }
        return response.text();
      }).then(function (html) {
        if (html === null || mine !== seq) { return; }
        target.innerHTML = html;
        target.removeAttribute("aria-busy");
        form.dispatchEvent(new CustomEvent("live-updated"));
      }).catch(function () {
        target.removeAttribute("aria-busy");
      });
    }
    function soon() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 350);
    }
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    var button = form.querySelector("[data-live-button]");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function (event) {
        event.preventDefault();
        refresh();
      });
    }
    refresh();
  }

  // Elements with data-poll replace themselves until the server stops asking to be polled.
  function poll(element) {
    var url = element.dataset.poll;
    setTimeout(function () {
      fetch(url, { credentials: "same-origin" }).then(function (response) {
        if (response.redirected) { window.location.assign(response.url); return null; }
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html === null) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.firstElementChild;
        if (!fresh) { return; }
        element.replaceWith(fresh);
        if (fresh.dataset.poll) {
          poll(fresh);
        } else if (document.querySelector("[data-refresh-on-done]")) {
          window.location.reload();
        }
      }).catch(function () {
        setTimeout(function () { poll(element); }, 2000);
      });
    }, 800);
  }

  // A form marked data-once submits once: a double click does not post twice.
  function once(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.setAttribute("aria-disabled", "true");
      });
    });
  }

  // Buttons with data-confirm ask first (revoking a key, deleting).
  function confirming(button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirm)) { event.preventDefault(); }
    });
  }

  // Copy buttons copy the text of the element they name.
  function copying(button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = "Copied";
        }, function () { button.textContent = "Select and copy"; });
      }
    });
  }

  // File inputs with data-upload post through XHR to show a progress bar.
  function uploading(form) {
    var bar = document.getElementById(form.dataset.upload);
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !bar) { return; }
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-CSRF-Token", csrfOf(form));
      bar.hidden = false;
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round((e.loaded * 100) / e.total); }
      });
      request.addEventListener("load", function () {
        bar.value = 100;
        var problem = request.getResponseHeader("X-Console-Error");
        if (request.status >= 400 || problem) {
          var note = document.getElementById(form.dataset.uploadError);
          if (note) { note.textContent = problem || "The upload was refused."; }
          bar.hidden = true;
          return;
        }
        window.location.assign(request.responseURL);
      });
      request.send(new FormData(form));
    });
  }

  // Parts marked data-show-for="name=value" show only while that radio button is chosen.
  function choosing(form) {
    var parts = form.querySelectorAll("[data-show-for]");
    if (!parts.length) { return; }
    function update() {
      parts.forEach(function (part) {
        var rule = part.dataset.showFor.split("=");
        var chosen = form.querySelector('input[name="' + rule[0] + '"]:checked');
        part.hidden = Boolean(chosen) && chosen.value !== rule[1];
      });
    }
    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(choosing);
    document.querySelectorAll("form[data-live]").forEach(live);
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("form[data-once]").forEach(once);
    document.querySelectorAll("[data-confirm]").forEach(confirming);
    document.querySelectorAll("[data-copy]").forEach(copying);
    document.querySelectorAll("form[data-upload]").forEach(uploading);
  });
})();
