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
      // The same rule as parameters.parse_headers_text on the server: `Name: value` lines;
      // blank lines, comments and curl -v's `>`/`<` lines are skipped.
      raw.value.split(/\r?\n/).forEach(function (line) {
        line = line.trim();
        if (!line || "#><".indexOf(line.charAt(0)) >= 0) return;
        var i = line.indexOf(":");
        if (i <= 0 || !line.slice(0, i).trim()) return;
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
    catch (err) { out.textContent = "Not valid JSON: " + err.message; return; }
    clearProblems(ta);
  });
  // The server's problem banner for a field goes once the field is valid JSON again, so
  // an old error does not sit above a fixed payload.
  function clearProblems(field) {
    var form = field.form, name = field.name;
    var list = form && form.querySelector("ul.problems");
    if (!list || !name) return;
    list.querySelectorAll("li").forEach(function (item) {
      var code = item.querySelector("code");
      var path = code ? code.textContent.trim() : "";
      if (path === name || path.indexOf(name + ".") === 0 || path.indexOf(name + "[") === 0) item.remove();
    });
    if (!list.querySelector("li")) list.remove();
  }

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
  // The socket tells the server which events the page already has, on every (re)connect,
  // so the server sends exactly the missing ones. After LOST_AFTER failed connects the page
  // says so and polls the events API instead, until the socket is back or the run is over.
  var LOST_AFTER = 3, POLL_MS = 1500, QUIET_MS = 20000, CONFIRM_MS = 2000;
  var FINISHED = /^(passed|failed|cancelled|error)$/;
  var live = { failures: 0, polling: false, timer: null, lastMessage: 0, socket: null,
               confirmed: false, confirm: null };

  function logBox() { return document.getElementById("run-log"); }
  function lastSeq() {
    var lines = logBox() ? logBox().getElementsByClassName("log-line") : [];
    return lines.length ? parseInt(lines[lines.length - 1].dataset.seq, 10) : 0;
  }
  function runStatus() {
    var status = document.getElementById("run-status");
    return status ? status.textContent.trim() : "";
  }
  function socketElt() { return document.getElementById("run-socket"); }
  function isOver() {
    var elt = socketElt();
    return !elt || elt.dataset.live !== "1" || FINISHED.test(runStatus());
  }
  function showLive(state) {
    var dot = document.getElementById("live-indicator");
    if (!dot) return;
    if (FINISHED.test(runStatus())) state = "finished";
    var text = { live: "Live", connecting: "Offline", lost: "Live view lost — retrying",
                 finished: "Finished", offline: "Offline" }[state];
    dot.textContent = text;
    dot.className = "live-dot" + (state === "live" ? " on" : state === "lost" ? " lost" : "");
  }
  // htmx reconnects after 1006/1011/1012/1013 with this back-off (its default waits up to 64 s).
  if (window.htmx) htmx.config.wsReconnectDelay = function (retries) {
    return Math.min(8000, 400 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
  };
  // A socket counts as connected once it has carried a message or stayed open a moment:
  // one that opens and drops at once (a proxy refusing it) is a failed connect.
  function confirmLive() {
    clearTimeout(live.confirm);
    if (!live.socket) return;
    live.failures = 0;
    live.confirmed = true;
    stopPolling();
    showLive("live");
  }
  document.addEventListener("htmx:wsOpen", function (e) {
    live.socket = e.detail.socketWrapper;
    live.confirmed = false;
    live.lastMessage = Date.now();
    e.detail.socketWrapper.send(JSON.stringify({ after: lastSeq() }), e.target);
    live.confirm = setTimeout(confirmLive, CONFIRM_MS);
  });
  document.addEventListener("htmx:wsClose", function (e) {
    clearTimeout(live.confirm);
    live.socket = null;
    var code = e.detail.event.code;
    if (code === 4403 || isOver()) { showLive("offline"); return; }
    live.failures = live.confirmed ? 1 : live.failures + 1;
    live.confirmed = false;
    if (live.failures >= LOST_AFTER) startPolling(); else showLive("connecting");
    // htmx itself reconnects after 1006/1011/1012/1013; any other drop is retried here.
    if ([1006, 1011, 1012, 1013].indexOf(code) < 0) {
      var wrapper = e.detail.socketWrapper;
      setTimeout(function () { if (!isOver()) wrapper.reconnect(); }, htmx.config.wsReconnectDelay(live.failures));
    }
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    live.lastMessage = Date.now();
    if (!live.confirmed) confirmLive();
    afterUpdate();
  });
  // A push can replace the socket element itself (the run is over): htmx then closes it.
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    if (e.target.id === "run-socket") { stopPolling(); afterUpdate(); }
  });
  // An open step stays open when the server redraws its row; a line the page already has
  // (a resume racing a push) is not added twice.
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    var target = e.detail.target, fragment = e.detail.fragment;
    if (target.tagName === "DETAILS" && target.open && fragment.firstElementChild) {
      fragment.firstElementChild.setAttribute("open", "");
    }
    if (target.id === "run-log") {
      var last = lastSeq();
      fragment.querySelectorAll(".log-line").forEach(function (line) {
        if (parseInt(line.dataset.seq, 10) <= last) line.remove();
      });
    }
  });

  function startPolling() {
    showLive("lost");
    if (live.polling) return;
    live.polling = true;
    poll();
  }
  function stopPolling() {
    live.polling = false;
    clearTimeout(live.timer);
  }
  function schedule(ms) {
    clearTimeout(live.timer);
    if (live.polling) live.timer = setTimeout(poll, ms);
  }
  // Ask the events API whether anything is new, then fetch what changed as the socket would
  // have pushed it (the same fragments); stop once the run is over and everything is shown.
  function poll() {
    var elt = socketElt();
    if (!live.polling || !elt) return;
    var after = lastSeq();
    fetch(elt.dataset.eventsUrl + "?limit=1&after=" + after, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        if (data.events.length) {
          return htmx.ajax("GET", elt.dataset.updatesUrl + "?after=" + after, { source: elt, swap: "none" })
            .then(function () { afterUpdate(); schedule(lastSeq() > after ? 0 : POLL_MS); });
        }
        if (FINISHED.test(data.run_status)) { stopPolling(); afterUpdate(); return; }
        schedule(POLL_MS);
      })
      .catch(function () { schedule(POLL_MS * 2); });
  }
  // A quiet open socket re-states where the page is: a lost wake-up costs seconds, not the rest.
  setInterval(function () {
    if (live.socket && !isOver() && Date.now() - live.lastMessage > QUIET_MS) {
      live.lastMessage = Date.now();
      live.socket.send(JSON.stringify({ after: lastSeq() }));
    }
  }, 5000);

  // Once per animation frame however many pushes arrive: scrolling the log forces a
  // layout, and a burst of frames must not pay for one each.
  var pending = false;
  function afterUpdate() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      showLive(live.polling ? "lost" : live.confirmed ? "live" : live.socket ? "connecting" : "offline");
      applyLogFilters(true);
      follow();
      ticker();
      initEditors(document);
    });
  }

  function applyLogFilters(newOnly) {
    var level = document.getElementById("log-level");
    var step = document.getElementById("log-step");
    if (!level || !step) return;
    var order = { debug: 0, info: 1, warning: 2, error: 3 };
    var min = order[level.value] || 0;
    var lines = document.querySelectorAll(newOnly ? "#run-log .log-line:not([data-f])" : "#run-log .log-line");
    lines.forEach(function (line) {
      var hide = (order[line.dataset.level] || 0) < min || (step.value && line.dataset.node !== step.value);
      line.classList.toggle("hidden", !!hide);
      line.dataset.f = "1";
    });
  }
  function follow() {
    var box = logBox();
    var toggle = document.getElementById("log-follow");
    if (box && toggle && toggle.checked) box.scrollTop = box.scrollHeight;
  }
  document.addEventListener("change", function (e) {
    if (e.target.id === "log-level" || e.target.id === "log-step") applyLogFilters(false);
    if (e.target.id === "log-follow") follow();
  });

  // Live duration of a running run; the timer runs only while something is running.
  var tickTimer = null;
  function tick() {
    var running = document.querySelectorAll("[data-running-since]");
    running.forEach(function (el) {
      var since = Date.parse(el.dataset.runningSince);
      if (!isNaN(since)) el.textContent = Math.max(0, (Date.now() - since) / 1000).toFixed(1) + " s";
    });
    return running.length > 0;
  }
  function ticker() {
    if (tick() && !tickTimer) tickTimer = setInterval(function () {
      if (!tick()) { clearInterval(tickTimer); tickTimer = null; }
    }, 250);
  }

  function init(root) {
    initEditors(root);
    applyLogFilters(true);
    follow();
    ticker();
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
})();
