/* MeshHook Run Console: the little htmx does not do. No inline scripts (strict CSP). */
(function () {
  "use strict";

  // --- JSON editors: line numbers and a Format button -------------------------------
  function syncGutter(textarea) {
    var gutter = textarea.parentElement.querySelector(".gutter");
    if (!gutter) return;
    var lines = textarea.value.split("\n").length;
    var text = "";
    for (var i = 1; i <= lines; i++) text += i + "\n";
    gutter.textContent = text;
    gutter.scrollTop = textarea.scrollTop;
  }
  function initEditors(root) {
    root.querySelectorAll("textarea[data-line-numbers]").forEach(function (ta) {
      if (ta.dataset.ready) return;
      ta.dataset.ready = "1";
      ta.addEventListener("input", function () { syncGutter(ta); });
      ta.addEventListener("scroll", function () { syncGutter(ta); });
      ta.addEventListener("keydown", function (e) {
        if (e.key === "Tab" && !e.shiftKey) {
          e.preventDefault();
          var s = ta.selectionStart;
          ta.setRangeText("  ", s, ta.selectionEnd, "end");
          syncGutter(ta);
        }
      });
      syncGutter(ta);
    });
  }
  document.addEventListener("click", function (e) {
    var fmt = e.target.closest("[data-format-json]");
    if (fmt) {
      var ta = document.querySelector(fmt.dataset.formatJson);
      var out = document.querySelector(fmt.dataset.formatJson + "-error");
      try {
        ta.value = JSON.stringify(JSON.parse(ta.value), null, 2);
        if (out) out.textContent = "";
        syncGutter(ta);
      } catch (err) {
        if (out) out.textContent = "Not valid JSON: " + err.message;
      }
    }
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      var src = document.querySelector(copy.dataset.copy);
      if (src && navigator.clipboard) {
        navigator.clipboard.writeText(src.value !== undefined ? src.value : src.textContent);
        var old = copy.textContent; copy.textContent = "Copied"; setTimeout(function () { copy.textContent = old; }, 1200);
      }
    }
    var add = e.target.closest("[data-add-header]");
    if (add) {
      var rows = document.querySelector(add.dataset.addHeader);
      var tpl = document.getElementById("header-row-template");
      rows.appendChild(tpl.content.cloneNode(true));
    }
    var rm = e.target.closest("[data-remove-row]");
    if (rm) rm.closest(".header-row").remove();
    var paste = e.target.closest("[data-parse-headers]");
    if (paste) {
      var raw = document.querySelector(paste.dataset.parseHeaders);
      var target = document.querySelector(paste.dataset.target);
      var tplRow = document.getElementById("header-row-template");
      raw.value.split(/\r?\n/).forEach(function (line) {
        var i = line.indexOf(":");
        if (i <= 0) return;
        var node = tplRow.content.cloneNode(true);
        node.querySelector("[name=header_name]").value = line.slice(0, i).trim();
        node.querySelector("[name=header_value]").value = line.slice(i + 1).trim();
        target.appendChild(node);
      });
      raw.value = "";
    }
  });

  // Inline JSON check for payload-like editors, as the user types.
  document.addEventListener("input", function (e) {
    var ta = e.target;
    if (!ta.matches || !ta.matches("textarea[data-json-check]")) return;
    var out = document.querySelector("#" + ta.id + "-error");
    if (!out) return;
    try { if (ta.value.trim()) JSON.parse(ta.value); out.textContent = ""; }
    catch (err) { out.textContent = "Not valid JSON: " + err.message; }
  });

  // Actions answered with an error (a run that is no longer paused, a viewer's click…)
  // say why instead of doing nothing.
  var toastTimer;
  document.addEventListener("htmx:responseError", function (e) {
    var toast = document.getElementById("toast");
    if (!toast) return;
    var text = (e.detail.xhr.responseText || "").trim();
    if (!text || text.charAt(0) === "<") text = "The request failed (" + e.detail.xhr.status + ").";
    toast.textContent = text;
    toast.classList.remove("hidden");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.classList.add("hidden"); }, 6000);
  });

  // --- Live run page ------------------------------------------------------------------
  function lastSeq() {
    var lines = document.querySelectorAll("#run-log .log-line");
    return lines.length ? parseInt(lines[lines.length - 1].dataset.seq, 10) : 0;
  }
  // The socket tells the server which events the page already has, on every (re)connect,
  // so the server sends exactly the missing ones.
  var retries = 0;
  document.addEventListener("htmx:wsOpen", function (e) {
    retries = 0;
    e.detail.socketWrapper.send(JSON.stringify({ after: lastSeq() }), e.target);
    setLive(true);
  });
  document.addEventListener("htmx:wsClose", function (e) {
    setLive(false);
    var code = e.detail.event.code;
    // htmx itself reconnects after 1006/1011/1012/1013; 4403 means "not yours". Any
    // other drop is reconnected here, backing off, for as long as the page is open.
    if ([1006, 1011, 1012, 1013, 4403].indexOf(code) < 0) {
      var delay = Math.min(10000, 300 * Math.pow(2, retries++));
      setTimeout(function () { e.detail.socketWrapper.reconnect(); }, delay);
    }
  });
  function setLive(on) {
    var dot = document.getElementById("live-indicator");
    if (!dot) return;
    var status = document.getElementById("run-status");
    var finished = status && /passed|failed|cancelled|error/.test(status.textContent);
    dot.classList.toggle("on", on && !finished);
    dot.textContent = finished ? "Finished" : on ? "Live" : "Offline";
  }
  function applyLogFilters() {
    var level = document.getElementById("log-level");
    var step = document.getElementById("log-step");
    if (!level || !step) return;
    var order = { debug: 0, info: 1, warning: 2, error: 3 };
    var min = order[level.value] || 0;
    document.querySelectorAll("#run-log .log-line").forEach(function (line) {
      var hide = (order[line.dataset.level] || 0) < min || (step.value && line.dataset.node !== step.value);
      line.classList.toggle("hidden", !!hide);
    });
  }
  function follow() {
    var box = document.getElementById("run-log");
    var toggle = document.getElementById("log-follow");
    if (box && toggle && toggle.checked) box.scrollTop = box.scrollHeight;
  }
  document.addEventListener("change", function (e) {
    if (e.target.id === "log-level" || e.target.id === "log-step") applyLogFilters();
    if (e.target.id === "log-follow") follow();
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    setLive(true);
    applyLogFilters();
    follow();
    tick();
    initEditors(document);
  });

  // Live duration of a running run.
  function tick() {
    document.querySelectorAll("[data-running-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.runningSince);
      if (!isNaN(since)) el.textContent = Math.max(0, (Date.now() - since) / 1000).toFixed(1) + " s";
    });
  }
  setInterval(tick, 250);

  function init(root) {
    initEditors(root);
    applyLogFilters();
    follow();
    tick();
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
})();
