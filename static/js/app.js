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
        // Esc then Tab leaves the editor, as in code editors; Tab alone indents.
        if (e.key === "Escape") { ta.dataset.leaving = "1"; return; }
        var leaving = ta.dataset.leaving && e.key === "Tab";
        if (e.key !== "Shift") delete ta.dataset.leaving;
        if (e.key === "Tab" && !e.shiftKey && !leaving) {
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

/* JSON viewer: the server draws every value as pretty JSON in <pre class="json"
   data-json-tree>; here it becomes a tree with search, "copy path" (a JMESPath expression
   for a transform or an assertion) and "copy value" on each node. Built when it is first
   seen (a closed step builds nothing), and children only when their parent is opened, so a
   big value costs what is looked at. The <pre> stays as the "Raw" view. */
(function () {
  "use strict";
  var OPEN_DEPTH = 2, SMALL_NODES = 150, PAGE = 200, CLIP = 400, MAX_HITS = 2000;
  var IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

  function make(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function button(cls, text, label) {
    var b = make("button", cls, text);
    b.type = "button";
    if (label) { b.setAttribute("aria-label", label); b.title = label; }
    return b;
  }
  function kind(v) { return v === null ? "null" : Array.isArray(v) ? "array" : typeof v; }
  function isBox(v) { return v !== null && typeof v === "object"; }
  function keysOf(v) { return Array.isArray(v) ? v.map(function (_, i) { return i; }) : Object.keys(v); }

  // JMESPath of a child: identifiers bare, other keys quoted (JSON string escapes are
  // JMESPath's too), indexes in brackets; "@" is the value itself.
  function childPath(parent, key) {
    if (typeof key === "number") return (parent === "@" ? "" : parent) + "[" + key + "]";
    var part = IDENT.test(key) ? key : JSON.stringify(key);
    return parent === "@" ? part : parent + "." + part;
  }
  function summary(v) {
    var n = Array.isArray(v) ? v.length : Object.keys(v).length;
    if (Array.isArray(v)) return "[" + n + (n === 1 ? " item]" : " items]");
    return "{" + n + (n === 1 ? " key}" : " keys}");
  }
  function countNodes(v, limit) {
    var seen = 0, stack = [v];
    while (stack.length && seen <= limit) {
      var x = stack.pop();
      seen++;
      if (isBox(x)) keysOf(x).forEach(function (k) { stack.push(x[k]); });
    }
    return seen;
  }
  function asText(v) { return typeof v === "string" ? v : JSON.stringify(v, null, 2); }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain HTTP on a LAN name has no async clipboard: the old way still works there.
    return new Promise(function (resolve, reject) {
      var area = make("textarea", "jt-clip");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      var done = false;
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      area.remove();
      if (done) resolve(); else reject(new Error("copy refused"));
    });
  }

  function markText(target, text, query) {
    var at = query ? text.toLowerCase().indexOf(query) : -1;
    if (at < 0) { target.textContent = text; return false; }
    target.textContent = "";
    target.appendChild(document.createTextNode(text.slice(0, at)));
    target.appendChild(make("mark", "jt-mark", text.slice(at, at + query.length)));
    target.appendChild(document.createTextNode(text.slice(at + query.length)));
    return true;
  }

  function Viewer(pre, value) {
    this.pre = pre;
    this.value = value;
    this.filter = null;
    this.current = -1;
    this.allOpen = countNodes(value, SMALL_NODES) <= SMALL_NODES;
    // A third button on each node, when the page offers one for this value (see below).
    this.extra = window.jsonTreeExtraAction ? window.jsonTreeExtraAction(pre) : null;
    var root = this.root = make("div", "jt");
    var bar = make("div", "jt-bar");
    this.search = make("input", "jt-search");
    this.search.type = "search";
    this.search.placeholder = "Search keys and values";
    this.search.setAttribute("aria-label", "Search " + (pre.dataset.label || "JSON"));
    this.count = make("span", "jt-count small muted");
    this.count.setAttribute("aria-live", "polite");
    var tools = make("span", "jt-tools");
    this.expandBtn = button("jt-btn", "Expand all");
    this.collapseBtn = button("jt-btn", "Collapse");
    this.rawBtn = button("jt-btn", "Raw");
    this.rawBtn.setAttribute("aria-pressed", "false");
    this.copyBtn = button("jt-btn", "Copy", "Copy the whole value as JSON");
    tools.append(this.expandBtn, this.collapseBtn, this.rawBtn, this.copyBtn);
    bar.append(this.search, this.count, tools);
    this.status = make("div", "jt-status small");
    this.status.setAttribute("role", "status");
    this.tree = make("div", "jt-tree");
    this.tree.setAttribute("role", "tree");
    this.tree.setAttribute("aria-label", pre.dataset.label || "JSON");
    root.append(bar, this.tree, this.status);
    this.draw();
    var self = this, timer = null;
    this.search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.find(self.search.value); }, 120);
    });
    this.search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); clearTimeout(timer); self.find(self.search.value); self.next(e.shiftKey ? -1 : 1); }
      if (e.key === "Escape" && self.search.value) { e.preventDefault(); self.search.value = ""; self.find(""); }
    });
    this.expandBtn.addEventListener("click", function () { self.setAll(true); });
    this.collapseBtn.addEventListener("click", function () { self.setAll(false); });
    this.rawBtn.addEventListener("click", function () { self.toggleRaw(); });
    this.copyBtn.addEventListener("click", function () {
      self.copy(JSON.stringify(self.value, null, 2), "Copied the whole value");
    });
    this.tree.addEventListener("click", function (e) { self.click(e); });
    this.tree.addEventListener("keydown", function (e) { self.key(e); });
    this.tree.addEventListener("focusin", function (e) {
      var row = e.target.closest(".jt-row");
      if (row) self.rove(row);
    });
  }

  // One tab stop for the tree: the focused row (arrows move it), then its copy buttons.
  Viewer.prototype.rove = function (row) {
    if (this.focusRow === row) return;
    if (this.focusRow) {
      this.focusRow.tabIndex = -1;
      this.focusRow.querySelectorAll(".jt-act").forEach(function (b) { b.tabIndex = -1; });
    }
    this.focusRow = row;
    row.tabIndex = 0;
    row.querySelectorAll(".jt-act").forEach(function (b) { b.tabIndex = 0; });
  };
  Viewer.prototype.key = function (e) {
    var row = e.target.classList && e.target.classList.contains("jt-row") ? e.target : null;
    if (!row) return;
    var item = row.parentNode, open = item.getAttribute("aria-expanded");
    var rows = Array.prototype.filter.call(this.tree.querySelectorAll(".jt-row"), function (r) {
      return r.offsetParent !== null;
    });
    var at = rows.indexOf(row), target = null;
    if (e.key === "ArrowDown") target = rows[at + 1];
    else if (e.key === "ArrowUp") target = rows[at - 1];
    else if (e.key === "Home") target = rows[0];
    else if (e.key === "End") target = rows[rows.length - 1];
    else if (e.key === "ArrowRight" && open === "false") this.setOpen(item, true);
    else if (e.key === "ArrowRight" && open === "true") target = rows[at + 1];
    else if (e.key === "ArrowLeft" && open === "true") this.setOpen(item, false);
    else if (e.key === "ArrowLeft") {
      var parent = item.parentNode.closest(".jt-node");
      target = parent ? parent.querySelector(":scope > .jt-row") : null;
    } else if ((e.key === "Enter" || e.key === " ") && open !== null) this.setOpen(item, open !== "true");
    else return;
    e.preventDefault();
    if (target) target.focus();
  };

  Viewer.prototype.say = function (text, failed) {
    var status = this.status;
    status.textContent = text;
    status.classList.toggle("bad", !!failed);
    clearTimeout(this.sayTimer);
    this.sayTimer = setTimeout(function () { status.textContent = ""; }, 4000);
  };
  Viewer.prototype.copy = function (text, message) {
    var self = this;
    copyText(text).then(function () { self.say(message); },
                        function () { self.say("Could not copy: the browser refused", true); });
  };

  Viewer.prototype.draw = function () {
    this.tree.textContent = "";
    this.hits = [];
    this.current = -1;
    var v = this.value;
    if (isBox(v) && keysOf(v).length) {
      this.fill(this.tree, v, "@", 0);
    } else {
      this.tree.appendChild(this.node(null, v, "@", 0));
    }
    this.focusRow = null;
    var first = this.tree.querySelector(".jt-row");
    if (first) this.rove(first);
  };

  // The children of `v` (at `path`) into `box`, a page at a time; under a search only the
  // ones on the way to a match (all of them below a key that matched).
  Viewer.prototype.fill = function (box, v, path, depth, from) {
    var keys = keysOf(v), f = this.filter, self = this;
    if (f && !f.whole[path]) keys = keys.filter(function (k) { return f.shown[childPath(path, k)]; });
    var start = from || 0, end = Math.min(keys.length, start + PAGE);
    for (var i = start; i < end; i++) box.appendChild(this.node(keys[i], v[keys[i]], childPath(path, keys[i]), depth));
    if (end < keys.length) {
      var more = button("jt-more", "Show " + Math.min(PAGE, keys.length - end) + " more of " + keys.length);
      more.addEventListener("click", function () { more.remove(); self.fill(box, v, path, depth, end); });
      box.appendChild(more);
    }
  };

  Viewer.prototype.node = function (key, v, path, depth) {
    var item = make("div", "jt-node jt-" + kind(v));
    item.setAttribute("role", "treeitem");
    item.dataset.path = path;
    item._jt = { v: v, depth: depth };
    var row = make("div", "jt-row");
    row.tabIndex = -1;
    var f = this.filter, q = f ? f.q : "", hit = false;
    var box = isBox(v) && keysOf(v).length > 0;
    if (box) {
      var tog = button("jt-tog", "", "Expand " + (key === null ? "value" : key));
      tog.tabIndex = -1;  // the row has the focus; arrows and Enter open it
      row.appendChild(tog);
    } else {
      row.appendChild(make("span", "jt-tog jt-leaf"));
    }
    if (key !== null) {
      var k = make("span", typeof key === "number" ? "jt-key jt-index" : "jt-key");
      if (typeof key === "number") k.textContent = key;
      else hit = markText(k, key, q) || hit;
      row.append(k, make("span", "jt-colon", ":"));
    }
    if (isBox(v)) {
      row.appendChild(make("span", "jt-sum", summary(v)));
    } else {
      var text = typeof v === "string" ? JSON.stringify(v) : String(v);
      var val = make("span", "jt-v jt-" + kind(v) + (text.length > 24 ? " jt-long" : ""));
      var clipped = text.length > CLIP && !(q && text.toLowerCase().indexOf(q) >= CLIP - 20);
      hit = markText(val, clipped ? text.slice(0, CLIP) + "…" : text, q) || hit;
      row.appendChild(val);
      if (clipped) {
        var all = button("jt-more jt-inline", "show all " + text.length.toLocaleString() + " characters");
        all.addEventListener("click", function () { val.textContent = text; all.remove(); });
        row.appendChild(all);
      }
    }
    var acts = make("span", "jt-acts");
    acts.append(button("jt-act", "path", "Copy path " + path), button("jt-act", isBox(v) ? "JSON" : "value", "Copy value"));
    acts.firstChild.dataset.act = "path";
    acts.lastChild.dataset.act = "value";
    acts.firstChild.tabIndex = acts.lastChild.tabIndex = -1;
    if (this.extra) {
      var extra = button("jt-act", this.extra.text, this.extra.label + path);
      extra.dataset.act = this.extra.act;
      extra.tabIndex = -1;
      acts.appendChild(extra);
    }
    row.appendChild(acts);
    item.appendChild(row);
    if (hit) { item.classList.add("jt-hit"); this.hits.push(item); }
    if (box) {
      var open = f ? !!f.shown[path] && !f.whole[path] : this.allOpen || depth < OPEN_DEPTH - 1;
      this.setOpen(item, open);
    }
    return item;
  };

  Viewer.prototype.setOpen = function (item, open) {
    var data = item._jt, kids = item.querySelector(":scope > .jt-kids");
    item.setAttribute("aria-expanded", open ? "true" : "false");
    var tog = item.querySelector(":scope > .jt-row > .jt-tog");
    if (tog) tog.setAttribute("aria-label", (open ? "Collapse " : "Expand ") + item.dataset.path);
    if (open && !kids) {
      kids = make("div", "jt-kids");
      kids.setAttribute("role", "group");
      this.fill(kids, data.v, item.dataset.path, data.depth + 1);
      item.appendChild(kids);
    }
    if (kids) kids.hidden = !open;
  };

  Viewer.prototype.click = function (e) {
    var act = e.target.closest(".jt-act");
    var item = e.target.closest(".jt-node");
    if (!item) return;
    // The tapped row keeps its copy buttons (a touch screen has no hover to show them).
    var row = item.querySelector(":scope > .jt-row");
    if (this.selected && this.selected !== row) this.selected.classList.remove("jt-sel");
    this.selected = row;
    row.classList.add("jt-sel");
    if (act) {
      var path = item.dataset.path;
      if (act.dataset.act === "path") this.copy(path, "Copied path " + path);
      else if (act.dataset.act === "value") this.copy(asText(item._jt.v), "Copied the value of " + path);
      return;
    }
    if (e.target.closest(".jt-more")) return;
    if (!e.target.closest(".jt-tog, .jt-key, .jt-sum")) return;
    if (item.getAttribute("aria-expanded") === null) return;
    this.setOpen(item, item.getAttribute("aria-expanded") !== "true");
  };

  Viewer.prototype.setAll = function (open) {
    var self = this;
    if (!open) {
      this.tree.querySelectorAll(".jt-node[aria-expanded=true]").forEach(function (n) { self.setOpen(n, false); });
      return;
    }
    // Breadth-first, so that a huge value opens its first pages rather than one deep corner.
    var queue = Array.prototype.slice.call(this.tree.querySelectorAll(":scope > .jt-node")), done = 0;
    while (queue.length && done < 5000) {
      var n = queue.shift();
      if (n.getAttribute("aria-expanded") === null) continue;
      self.setOpen(n, true);
      done++;
      n.querySelectorAll(":scope > .jt-kids > .jt-node").forEach(function (c) { queue.push(c); });
    }
  };

  Viewer.prototype.toggleRaw = function () {
    var raw = this.rawBtn.getAttribute("aria-pressed") !== "true";
    this.rawBtn.setAttribute("aria-pressed", raw ? "true" : "false");
    this.rawBtn.textContent = raw ? "Tree" : "Raw";
    this.pre.classList.toggle("jt-hidden", !raw);
    this.tree.hidden = raw;
  };

  // Which paths lead to a match of `q` in a key or a scalar's text.
  Viewer.prototype.find = function (text) {
    var q = text.trim().toLowerCase();
    if (!q) {
      this.filter = null;
      this.count.textContent = "";
      this.draw();
      return;
    }
    var shown = Object.create(null), whole = Object.create(null), hits = 0;
    function walk(v, path, keyHit) {
      var found = keyHit;
      if (isBox(v)) {
        if (keyHit) whole[path] = true;
        keysOf(v).forEach(function (k) {
          if (hits >= MAX_HITS) return;
          var kh = typeof k === "string" && k.toLowerCase().indexOf(q) >= 0;
          if (kh) hits++;
          if (walk(v[k], childPath(path, k), kh)) found = true;
        });
      } else {
        var s = typeof v === "string" ? v : String(v);
        if (s.toLowerCase().indexOf(q) >= 0) { hits++; found = true; }
      }
      if (found) shown[path] = true;
      return found;
    }
    walk(this.value, "@", false);
    this.filter = { q: q, shown: shown, whole: whole };
    this.draw();
    this.count.textContent = hits ? hits + (hits >= MAX_HITS ? "+" : "") + (hits === 1 ? " match" : " matches") : "No match";
    this.tree.classList.toggle("jt-none", !hits);
  };

  Viewer.prototype.next = function (step) {
    if (!this.hits.length) return;
    if (this.current >= 0 && this.hits[this.current]) this.hits[this.current].classList.remove("jt-current");
    this.current = (this.current + step + this.hits.length) % this.hits.length;
    var item = this.hits[this.current];
    item.classList.add("jt-current");
    item.scrollIntoView({ block: "nearest" });
    this.count.textContent = (this.current + 1) + " of " + this.hits.length;
  };

  function enhance(pre) {
    if (pre.dataset.jtReady) return;
    var value;
    try { value = JSON.parse(pre.textContent); } catch (e) { pre.dataset.jtReady = "raw"; return; }
    pre.dataset.jtReady = "1";
    var viewer = new Viewer(pre, value);
    pre.classList.add("jt-hidden");
    pre.parentNode.insertBefore(viewer.root, pre);
    if (pre.parentNode.classList.contains("json-block")) pre.parentNode.classList.add("jt-on");
  }
  // Only what can be seen: a value inside a closed <details> waits until it is opened.
  function enhanceIn(root) {
    (root || document).querySelectorAll("pre.json[data-json-tree]:not([data-jt-ready])").forEach(function (pre) {
      if (!pre.closest("details:not([open])")) enhance(pre);
    });
  }
  var queued = false;
  function soon() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; enhanceIn(document); });
  }
  document.addEventListener("toggle", function (e) {
    if (e.target.open) enhanceIn(e.target);
  }, true);
  // Fragments from htmx (a step's details, "show all") and from the socket (rows re-drawn
  // by the live view, the Result card) bring their own <pre>s.
  ["htmx:afterSwap", "htmx:oobAfterSwap", "htmx:afterSettle", "htmx:wsAfterMessage"].forEach(function (name) {
    document.addEventListener(name, soon);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", soon);
  else soon();
})();

/* History: Compare works once exactly two runs are ticked. Ticks survive the live row
   updates and filter swaps that re-render the rows they sit in. */
(function () {
  "use strict";
  var picked = [];  // run ids, in the order they were ticked
  var BOXES = "#run-table input[name=run]";

  function sync() {
    var button = document.getElementById("compare-button");
    if (!button) return;
    var present = {};
    document.querySelectorAll(BOXES).forEach(function (box) { present[box.value] = box; });
    picked = picked.filter(function (id) { return present[id]; });
    picked.forEach(function (id) { present[id].checked = true; });
    Object.keys(present).forEach(function (id) {  // e.g. ticks the browser restored
      if (present[id].checked && picked.indexOf(id) < 0) picked.push(id);
    });
    var n = picked.length;
    button.disabled = n !== 2;
    var status = document.getElementById("compare-status");
    if (status) {
      status.textContent = n === 0 ? "Tick two runs to compare them"
        : n === 1 ? "1 ticked: tick one more"
        : n === 2 ? "2 ticked"
        : n + " ticked: untick " + (n - 2) + " to compare two";
    }
  }
  document.addEventListener("change", function (e) {
    if (!e.target.matches || !e.target.matches(BOXES)) return;
    var id = e.target.value;
    picked = picked.filter(function (other) { return other !== id; });
    if (e.target.checked) picked.push(id);
    sync();
  });
  document.addEventListener("DOMContentLoaded", sync);
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("htmx:oobAfterSwap", sync);
  window.addEventListener("pageshow", sync);
})();

/* --- Workflow graph: keyboard, open a step from its node, scroll cue; editor errors --- */
(function () {
  "use strict";

  // A node with a breakpoint toggle is a role=button <g>: Enter and Space press it (SVG
  // elements have no click() and no keyboard activation of their own).
  document.addEventListener("keydown", function (e) {
    var target = e.target;
    if (!target.closest || (e.key !== "Enter" && e.key !== " ")) return;
    var button = target.closest("svg.graph g.node[role=button]");
    if (button) {
      e.preventDefault();
      button.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
      return;
    }
    var link = target.closest("svg.graph a.step-link");
    if (link && e.key === "Enter") {
      e.preventDefault();
      openStep(link);
    }
  });
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("svg.graph a.step-link");
    if (!link) return;
    e.preventDefault();
    openStep(link);
  });

  // On a finished run a node opens its step row (a loop body's node: its loop's items,
  // a failed item of that node first) and moves the focus there.
  function openStep(link) {
    var node = link.dataset.openStep, loop = link.dataset.loop;
    var row = document.getElementById(loop ? "group-" + loop : "step-" + node);
    if (!row) return;
    var details = row;
    if (loop) {
      var items = document.getElementById("loop-" + loop);
      if (items) items.open = true;
      var sel = "details.step[data-node='" + node + "']";
      details = row.querySelector(sel + "[data-status=failed]") || row.querySelector(sel) || items || row;
    }
    if (details.tagName === "DETAILS") details.open = true;
    var summary = details.querySelector("summary") || details;
    details.scrollIntoView({ block: "center", behavior: "smooth" });
    summary.focus({ preventScroll: true });
    details.classList.add("flash-open");
    setTimeout(function () { details.classList.remove("flash-open"); }, 1600);
  }

  // The live view redraws the graph card: keep its scroll position and the focused node.
  var kept = null;
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "run-graph") return;
    var wrap = e.detail.target.querySelector(".graph-wrap");
    var active = document.activeElement;
    var focused = active && e.detail.target.contains(active) && active.closest("[data-node], a.step-link");
    var node = focused && (focused.dataset.node || focused.dataset.openStep);
    kept = { left: wrap ? wrap.scrollLeft : 0, node: node || null };
  });
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    if (!e.target || e.target.id !== "run-graph" || !kept) return;
    var wrap = e.target.querySelector(".graph-wrap");
    if (wrap) wrap.scrollLeft = kept.left;
    if (kept.node) {
      var g = e.target.querySelector("g.node[data-node='" + kept.node + "']");
      var focusable = g && (g.hasAttribute("tabindex") ? g : g.closest("a.step-link"));
      if (focusable) focusable.focus({ preventScroll: true });
    }
    kept = null;
    reveal(wrap);
    cues();
  });

  // The node that matters now (paused before, running, failed) is scrolled into view when
  // the graph is wider than its card, as it is on a phone.
  function reveal(wrap) {
    if (!wrap || wrap.scrollWidth <= wrap.clientWidth) return;
    var node = wrap.querySelector("g.node.s-next, g.node.s-running, g.node.s-failed");
    if (!node) return;
    var box = node.getBoundingClientRect(), view = wrap.getBoundingClientRect();
    if (box.left >= view.left && box.right <= view.right) return;
    wrap.scrollLeft += box.left - view.left - (view.width - box.width) / 2;
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".graph-wrap").forEach(reveal);
  });

  // A graph wider than its card fades out at the side there is more of.
  function cue(wrap) {
    var max = wrap.scrollWidth - wrap.clientWidth;
    wrap.classList.toggle("cue-left", max > 1 && wrap.scrollLeft > 1);
    wrap.classList.toggle("cue-right", max > 1 && wrap.scrollLeft < max - 1);
  }
  function cues() { document.querySelectorAll(".graph-wrap").forEach(cue); }
  document.addEventListener("scroll", function (e) {
    if (e.target.classList && e.target.classList.contains("graph-wrap")) cue(e.target);
  }, true);
  window.addEventListener("resize", function () {
    document.querySelectorAll(".graph-wrap").forEach(reveal);
    cues();
  });
  document.addEventListener("DOMContentLoaded", cues);
  document.addEventListener("htmx:afterSettle", cues);

  // --- Editor: a JSON syntax error says where (line, column) and puts the caret there ---
  function caretTo(ta, line, column) {
    var lines = ta.value.split("\n");
    line = Math.max(1, Math.min(line, lines.length));
    var pos = 0;
    for (var i = 0; i < line - 1; i++) pos += lines[i].length + 1;
    pos += Math.max(0, Math.min(column - 1, lines[line - 1].length));
    ta.focus({ preventScroll: true });
    ta.setSelectionRange(pos, pos);
    var height = parseFloat(getComputedStyle(ta).lineHeight) || 19;
    ta.scrollTop = Math.max(0, (line - 4) * height);
    ta.dispatchEvent(new Event("scroll"));
  }
  function whereInText(text, err) {
    var m = /line (\d+) column (\d+)/.exec(err.message);
    if (m) return { line: +m[1], column: +m[2] };
    m = /position (\d+)/.exec(err.message);
    var pos = m ? +m[1] : text.length;
    var before = text.slice(0, pos).split("\n");
    return { line: before.length, column: before[before.length - 1].length + 1 };
  }
  // Runs after the Format handler above: the same check, said with where it is.
  document.addEventListener("click", function (e) {
    var fmt = e.target.closest && e.target.closest("[data-format-json]");
    if (!fmt) return;
    var ta = document.querySelector(fmt.dataset.formatJson);
    var out = document.querySelector(fmt.dataset.formatJson + "-error");
    if (!ta || !out) return;
    try { JSON.parse(ta.value); return; } catch (err) {
      var at = whereInText(ta.value, err);
      var why = err.message.replace(/\s*(in JSON )?at position \d+.*$/, "").replace(/^JSON\.parse: /, "");
      out.textContent = "Not valid JSON at line " + at.line + ", column " + at.column + ": " + why;
      caretTo(ta, at.line, at.column);
    }
  });
  // The server's answer names the line and column of a syntax error: go there.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (!e.target || e.target.id !== "problems") return;
    var ta = document.querySelector("textarea[data-caret-to-errors]");
    var out = document.getElementById("definition-error");
    if (out) out.textContent = "";
    if (!ta) return;
    var m = /line (\d+), column (\d+)/.exec(e.target.textContent);
    if (m) caretTo(ta, +m[1], +m[2]);
  });
})();

/* --- "Assert this value": each node of a step's output (and of the run's result) gets an
   "assert" button; it opens the run page's <template id="assert-template"> form next to the
   value, prefilled with an `equals` assertion on the node's JMESPath and value, which the
   server saves into a test case (testcase_views.testcase_assert_value). --- */
(function () {
  "use strict";
  var NO_EXPECTED = { exists: true, not_exists: true };

  // What an assertion on a value of this <pre> targets; null for values it cannot name.
  function targetOf(pre) {
    if (pre.id === "run-result") return { target: "run.result", node: "", prefix: "" };
    if (pre.id.indexOf("out-") !== 0) return null;
    var step = pre.closest("details.step");
    if (!step || !step.dataset.node) return null;
    // A loop body step's value is one item of the list of its iterations' values.
    var iteration = step.dataset.iteration;
    return { target: "step.output", node: step.dataset.node,
             prefix: iteration !== undefined ? "[" + iteration + "]" : "" };
  }
  window.jsonTreeExtraAction = function (pre) {
    if (!document.getElementById("assert-template") || !targetOf(pre)) return null;
    return { act: "assert", text: "assert", label: "Assert the value of " };
  };
  function joinPath(prefix, path) {
    if (path === "@") return prefix;
    if (!prefix) return path;
    return prefix + (path.charAt(0) === "[" ? "" : ".") + path;
  }
  function subject(where, path) {
    return where.target + (where.node ? " of '" + where.node + "'" : "") + (path ? " at " + path : "");
  }
  function unsafeNumber(v) {
    return typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v);
  }

  // The case picker decides whether a name is asked for; exists / not_exists take no value.
  function sync(form) {
    var pick = form.querySelector("[name=case]"), name = form.querySelector(".assert-name");
    if (pick && name) name.hidden = pick.value !== "new";
    var op = form.querySelector("[name=op]"), expected = form.querySelector("[name=expected]");
    if (op && expected) expected.disabled = !!NO_EXPECTED[op.value];
  }
  // One form at a time; what was saved stays said until it is closed.
  function closeForms() {
    document.querySelectorAll(".assert-form").forEach(function (box) { box.remove(); });
  }

  function open(act) {
    var item = act.closest(".jt-node"), tree = act.closest(".jt");
    var pre = tree && tree.parentNode.querySelector(":scope > pre.json");
    var where = pre && targetOf(pre), template = document.getElementById("assert-template");
    if (!item || !where || !template) return;
    closeForms();
    var form = template.content.querySelector("form").cloneNode(true);
    var path = joinPath(where.prefix, item.dataset.path), value = item._jt.v;
    form.querySelector("[name=target]").value = where.target;
    form.querySelector("[name=node]").value = where.node;
    form.querySelector("[name=path]").value = path;
    form.querySelector("[name=expected]").value = JSON.stringify(value, null, 2);
    form.querySelector(".assert-subject").textContent = subject(where, path);
    form.querySelector(".assert-rounded").classList.toggle("hidden", !unsafeNumber(value));
    form._from = act.closest(".jt-row");
    tree.parentNode.insertBefore(form, tree.nextSibling);
    if (window.htmx) htmx.process(form);
    sync(form);
    form.scrollIntoView({ block: "nearest" });
    form.querySelector("[name=expected]").focus({ preventScroll: true });
  }
  function close(box) {
    var row = box._from;
    box.remove();
    if (row && row.isConnected) row.focus();
  }

  document.addEventListener("click", function (e) {
    if (!e.target.closest) return;
    var act = e.target.closest(".jt-act[data-act=assert]");
    if (act) { open(act); return; }
    var shut = e.target.closest("[data-assert-close]");
    if (shut) close(shut.closest(".assert-form, .assert-saved"));
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || !e.target.closest) return;
    var box = e.target.closest(".assert-form, .assert-saved");
    if (box) { e.preventDefault(); close(box); }
  });
  document.addEventListener("change", function (e) {
    var form = e.target.closest && e.target.closest(".assert-form");
    if (form) sync(form);
  });
  // The server's answer replaces the form: the form again with its problems (400), or what
  // was saved, after which the form's next copy offers that test case first.
  document.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll(".assert-form").forEach(sync);
    var saved = document.querySelector(".assert-saved[data-case-id]:not([data-seen])");
    if (!saved) return;
    saved.dataset.seen = "1";
    var template = document.getElementById("assert-template");
    var pick = template && template.content.querySelector("[name=case]");
    if (!pick) return;
    var id = saved.dataset.caseId, option = null;
    pick.querySelectorAll("option").forEach(function (o) {
      o.removeAttribute("selected");
      if (o.value === id) option = o;
    });
    if (!option) {
      option = document.createElement("option");
      option.value = id;
      option.textContent = saved.dataset.caseName;
      pick.insertBefore(option, pick.querySelector("option[value=new]"));
    }
    option.setAttribute("selected", "");
    var name = template.content.querySelector(".assert-name");
    if (name) name.hidden = true;
    var button = saved.querySelector("button[type=submit]");
    if (button) button.focus({ preventScroll: true });
  });
})();

/* --- Error answers in place: a form's banner, never an error page inside a fragment --- */
(function () {
  "use strict";

  function isPage(text) { return /^\s*(<!doctype|<html)/i.test(text || ""); }
  function utf8Size(text) { return new Blob([text]).size; }
  function formOf(elt) { return elt && elt.closest ? elt.closest("form") : null; }
  function grouped(n) { return Number(n).toLocaleString("en-US"); }

  // The problems list at the top of the form (the one the server renders), with one
  // item per problem; `path` names the field it is about.
  function banner(form, path, message) {
    var list = form.querySelector("ul.problems");
    if (!list) {
      list = document.createElement("ul");
      list.className = "problems";
      list.id = form.id ? form.id + "-problems" : "";
      var csrf = form.querySelector("[name=csrfmiddlewaretoken]");
      form.insertBefore(list, csrf ? csrf.nextSibling : form.firstChild);
    }
    list.setAttribute("role", "alert");
    list.querySelectorAll("li[data-client]").forEach(function (item) { item.remove(); });
    var item = document.createElement("li");
    item.dataset.client = "1";
    if (path) {
      var code = document.createElement("code");
      code.textContent = path;
      item.appendChild(code);
    }
    var text = document.createElement("span");
    text.textContent = message;
    item.appendChild(text);
    list.appendChild(item);
  }
  function fieldError(field, message) {
    var out = field.id && document.getElementById(field.id + "-error");
    if (out) out.textContent = message;
    field.setAttribute("aria-invalid", "true");
    if (field.form) banner(field.form, field.name, message);
  }
  function tooLarge(field, size) {
    var limit = field.dataset.limitText || grouped(field.dataset.maxBytes) + " bytes";
    return "Too large to send: " + grouped(size) + " bytes; the limit is " + limit + ".";
  }
  // The field over its size, or, when the server refused the request as too large without
  // saying which field, the largest one that has a size limit.
  function oversized(form, any) {
    var found = null, largest = 0;
    form.querySelectorAll("[data-max-bytes]").forEach(function (field) {
      var size = utf8Size(field.value);
      if ((any || size > parseInt(field.dataset.maxBytes, 10)) && size >= largest) {
        found = field; largest = size;
      }
    });
    return found ? { field: found, size: largest } : null;
  }

  // A request that cannot fit is not sent: the field says so and keeps its text.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt && e.detail.elt.tagName === "FORM" ? e.detail.elt : null;
    var over = form && oversized(form, false);
    if (!over) return;
    e.preventDefault();
    fieldError(over.field, tooLarge(over.field, over.size));
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (!xhr || xhr.status < 400) return;
    var text = xhr.responseText || "";
    var form = formOf(e.detail.elt);
    var target = e.detail.target;
    // A form sent back with its problems (429 too many runs, 503 no worker…) replaces the
    // form as a 400 does.
    if (!isPage(text) && /^\s*<form[\s>]/i.test(text) && target && target.tagName === "FORM") {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
      return;
    }
    if (!isPage(text)) return; // a short text answer: the toast says it
    // A whole page (Django's 400/403/500, the body limit's 413) never goes into a fragment.
    e.detail.shouldSwap = false;
    if (!form) { e.detail.isError = true; return; }
    e.detail.isError = false;
    if (xhr.status === 413) {
      var over = oversized(form, true);
      if (over) { fieldError(over.field, tooLarge(over.field, over.size)); return; }
      banner(form, "", "The form is too large to send.");
      return;
    }
    var title = (new DOMParser().parseFromString(text, "text/html").title || "").trim();
    var why = xhr.status === 403 ? "Not allowed, or the page is out of date: reload it and try again."
      : xhr.status >= 500 ? "The server failed to handle this; nothing was started. Try again."
      : "The server could not accept this form.";
    banner(form, "", why + " (" + (title || "HTTP " + xhr.status) + ")");
  });

  // The connection dropped before an answer (the server cut an upload short, or is away).
  document.addEventListener("htmx:sendError", function (e) {
    var form = formOf(e.detail.elt);
    if (form) banner(form, "", "The form could not be sent: the server did not answer. Try again.");
  });
})();

// --- Main navigation on phones: the Menu button opens and closes the sections' panel ----
(function () {
  function setOpen(button, nav, open) {
    nav.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest(".navtoggle");
    const nav = document.getElementById("mainnav");
    if (!nav) return;
    if (button) {
      setOpen(button, nav, !nav.classList.contains("open"));
    } else if (nav.classList.contains("open") && !event.target.closest("#mainnav")) {
      setOpen(document.querySelector(".navtoggle"), nav, false);
    }
  });
  document.addEventListener("keydown", function (event) {
    const nav = document.getElementById("mainnav");
    if (event.key === "Escape" && nav && nav.classList.contains("open")) {
      const button = document.querySelector(".navtoggle");
      setOpen(button, nav, false);
      button.focus();
    }
  });
})();
