// The lesson sandbox, on top of its plain form (which works without this file): CodeMirror over
// the request textarea, runs streamed from the server as NDJSON, drafts kept in localStorage,
// hints, Reset, the model picker, and "Try it" on the request bodies shown in the lesson.
// The markup comes from templates/sandbox/_sandbox.html; the server renders every result.
(function () {
  "use strict";

  var NDJSON = "application/x-ndjson";
  var TAB_INDENTS = "sandbox-tab-indents";
  var DRAFTS = "sandbox-draft:"; // + owner + ":" + lesson + ":" + exercise; site.js clears them

  function $(root, role) { return root.querySelector('[data-role="' + role + '"]'); }

  // A JSON.parse error as "line L, column C: what is wrong" (V8 reports a character position).
  function describeJsonError(text, error) {
    var message = String(error && error.message || error).replace(/^JSON\.parse: /, "");
    var match = /position (\d+)/.exec(message);
    var position = match ? Number(match[1]) : text.length;
    var before = text.slice(0, position).split("\n");
    var reason = message.replace(/\s*\((line \d+ column \d+)\)/, "").replace(/\s*in JSON at position \d+.*$/, "");
    return "Invalid JSON at line " + before.length + ", column " + (before[before.length - 1].length + 1) + ": " + reason;
  }

  function jsonProblem(text) {
    try { JSON.parse(text); return ""; } catch (error) { return describeJsonError(text, error); }
  }

  // Where a request field sits in the JSON text, as jsonc-parser's findNodeAtLocation finds it:
  // `path` is the verdict's field ("system", "messages[-1].content"; a negative index counts
  // from the end). Returns {from, to, found}: the key and its value (cut at the end of the key's
  // line), or the nearest enclosing field when the request lacks it (found: false); null when
  // the text is not JSON or no part of the path is there.
  function locateField(text, path) {
    var at = 0;
    function fail() { throw new SyntaxError("not JSON at " + at); }
    function space() { while (at < text.length && " \t\n\r".indexOf(text[at]) >= 0) at++; }
    function string() {
      var start = at++;
      while (at < text.length && text[at] !== '"') at += text[at] === "\\" ? 2 : 1;
      if (at++ >= text.length) fail();
      return { from: start, to: at, key: JSON.parse(text.slice(start, at)) };
    }
    function value() {
      space();
      var start = at, node;
      if (text[at] === "{") {
        node = { from: at++, fields: [] };
        space();
        if (text[at] === "}") at++;
        else for (;;) {
          space();
          if (text[at] !== '"') fail();
          var key = string();
          space();
          if (text[at++] !== ":") fail();
          node.fields.push({ key: key, value: value() });
          space();
          if (text[at] === ",") { at++; continue; }
          if (text[at++] !== "}") fail();
          break;
        }
      } else if (text[at] === "[") {
        node = { from: at++, items: [] };
        space();
        if (text[at] === "]") at++;
        else for (;;) {
          node.items.push(value());
          space();
          if (text[at] === ",") { at++; continue; }
          if (text[at++] !== "]") fail();
          break;
        }
      } else if (text[at] === '"') {
        node = { from: string().from };
      } else {
        var word = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(at, at + 400));
        if (!word) fail();
        at += word[0].length;
        node = { from: start };
      }
      node.to = at;
      return node;
    }
    var node;
    try { node = value(); } catch (error) { return null; }
    var place = null, found = true, steps = /([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]/g, step;
    while ((step = steps.exec(path))) {
      var next = null, from = null;
      if (step[1] !== undefined && node.fields) {
        var field = node.fields.filter(function (f) { return f.key.key === step[1]; }).pop();
        if (field) { next = field.value; from = field.key.from; }
      } else if (step[2] !== undefined && node.items) {
        var index = Number(step[2]);
        next = node.items[index < 0 ? node.items.length + index : index] || null;
        if (next) from = next.from;
      }
      if (!next) { found = false; break; }
      node = next;
      place = { from: from, to: next.to };
    }
    if (!place) return null;
    var lineEnd = text.indexOf("\n", place.from);
    if (lineEnd >= 0 && lineEnd < place.to) place.to = text.slice(place.from, lineEnd).trimEnd().length + place.from;
    place.found = found;
    return place;
  }

  // The editor: CodeMirror when its bundle loaded, else the textarea itself. Either way the
  // textarea keeps the current text, so htmx ("Get code") and the plain form post it.
  function makeEditor(section, textarea, onChange, onRun) {
    var CM = window.CM;
    if (!CM) {
      textarea.addEventListener("input", function () { onChange(textarea.value); });
      return {
        get: function () { return textarea.value; },
        set: function (text) { textarea.value = text; onChange(text); },
        focus: function () { textarea.focus(); },
        lintNow: function () {},
        mark: function () {} // the verdict names the field in text
      };
    }
    var errorBox = $(section, "json-error");
    var lint = CM.linter(function (view) {
      var diagnostics = CM.jsonParseLinter()(view);
      var text = view.state.doc.toString();
      errorBox.textContent = diagnostics.length ? jsonProblem(text) || diagnostics[0].message : "";
      errorBox.hidden = !diagnostics.length;
      return diagnostics;
    }, { delay: 300 });
    // The field the first failing check names, marked until the next run; edits move it along.
    var setMark = CM.StateEffect.define();
    var marked = CM.StateField.define({
      create: function () { return CM.Decoration.none; },
      update: function (marks, transaction) {
        marks = marks.map(transaction.changes);
        transaction.effects.forEach(function (effect) { if (effect.is(setMark)) marks = effect.value; });
        return marks;
      },
      provide: function (field) { return CM.EditorView.decorations.from(field); }
    });
    var extensions = [marked, 
      CM.lineNumbers(), CM.highlightActiveLineGutter(), CM.highlightSpecialChars(), CM.history(),
      CM.drawSelection(), CM.indentOnInput(), CM.syntaxHighlighting(CM.classHighlighter),
      CM.bracketMatching(), CM.closeBrackets(), CM.highlightActiveLine(), CM.json(), lint,
      CM.lintGutter(), CM.EditorView.lineWrapping,
      CM.keymap.of([
        { key: "Mod-Enter", run: function () { onRun(); return true; } },
        // Ahead of defaultKeymap's own Ctrl+M, so the switch on screen follows the key.
        { key: "Ctrl-m", mac: "Shift-Alt-m", run: function () { tabIndents(!switchBox.checked); return true; } }
      ].concat(CM.closeBracketsKeymap, CM.defaultKeymap, CM.historyKeymap, CM.lintKeymap, [CM.indentWithTab])),
      CM.EditorView.contentAttributes.of({
        "aria-label": "Request body",
        // The editor scrolls; axe (scrollable-region-focusable) wants a focusable element in it.
        tabindex: "0",
        // The verdict's "Look at: <field>" note, when a failed check names one.
        "aria-describedby": errorBox.id + " " + section.id + "-editor-help " + section.id + "-look-at"
      }),
      CM.EditorView.updateListener.of(function (update) {
        if (update.docChanged) {
          textarea.value = update.state.doc.toString();
          onChange(textarea.value);
        }
      })
    ];
    // The page's Content-Security-Policy allows CodeMirror's one <style> element by its nonce.
    var nonce = section.dataset.cspNonce;
    if (nonce) extensions.push(CM.EditorView.cspNonce.of(nonce));
    var view = new CM.EditorView({
      state: CM.EditorState.create({ doc: textarea.value, extensions: extensions }),
      parent: textarea.parentNode
    });
    textarea.parentNode.insertBefore(view.dom, textarea);
    textarea.hidden = true;
    // As in most code editors on the web, Tab moves focus on through the page unless the
    // learner has switched it to indenting (the switch, or Ctrl+M); the choice is remembered.
    var tabSwitch = $(section, "tab-switch"), switchBox = tabSwitch.querySelector("input");
    function tabIndents(on) {
      switchBox.checked = on;
      view.setTabFocusMode(!on);
      try { localStorage.setItem(TAB_INDENTS, on ? "1" : "0"); } catch (error) { /* kept for this page */ }
    }
    var remembered = null;
    try { remembered = localStorage.getItem(TAB_INDENTS); } catch (error) { remembered = null; }
    tabIndents(remembered === "1");
    switchBox.addEventListener("change", function () { tabIndents(switchBox.checked); });
    tabSwitch.hidden = false;
    $(section, "tab-help").hidden = false;
    var label = section.querySelector('label[for="' + textarea.id + '"]');
    if (label) label.addEventListener("click", function (event) { event.preventDefault(); view.focus(); });
    return {
      get: function () { return view.state.doc.toString(); },
      // One undoable change: Ctrl+Z brings back what Reset or "Try it" replaced.
      set: function (text) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }); },
      focus: function () { view.focus(); },
      lintNow: function () { CM.forceLinting(view); },
      // Mark `field` (or its nearest enclosing field); nothing when it is null or not there.
      mark: function (field) {
        var place = field ? locateField(view.state.doc.toString(), field) : null;
        var marks = CM.Decoration.none;
        if (place && place.to > place.from) {
          marks = CM.Decoration.set([CM.Decoration.mark({
            class: "cm-look-at" + (place.found ? "" : " is-around"),
            attributes: { title: "Look at: " + field + (place.found ? "" : " (not in the request yet)") }
          }).range(place.from, place.to)]);
        }
        view.dispatch({ effects: setMark.of(marks) });
        if (marks.size) {
          // Bring the mark into the editor's own view, without scrolling the page.
          var block = view.lineBlockAt(place.from), scroller = view.scrollDOM;
          if (block.top < scroller.scrollTop || block.bottom > scroller.scrollTop + scroller.clientHeight) {
            scroller.scrollTop = Math.max(block.top - scroller.clientHeight / 3, 0);
          }
        }
      }
    };
  }

  function Sandbox(section) {
    var form = section.querySelector("form");
    var textarea = form.querySelector("textarea[name=body]");
    var starterNode = document.getElementById(section.id + "-starter");
    var starter = starterNode ? JSON.parse(starterNode.textContent) : "";
    // Drafts belong to their learner: on a shared browser the next one never sees them
    // (site.js clears them at log-out). A visitor's draft moves to the account they sign in to.
    var place = section.dataset.lesson + ":" + (section.dataset.exercise || "playground");
    var owner = section.dataset.user || "visitor";
    var key = DRAFTS + owner + ":" + place;
    var runButton = $(section, "run"), stopButton = $(section, "stop");
    var modelPicker = $(section, "model");
    var output = $(section, "output"), timeline = $(section, "timeline");
    var timelineWrap = $(section, "timeline-wrap"), result = $(section, "result");
    var verdict = $(section, "verdict"), draftNote = $(section, "draft-note");
    var running = null, saveTimer = null, forgotten = false;

    // Log-out cleared the drafts (site.js): a save still waiting must not write one back.
    document.addEventListener("sandbox:drafts-forgotten", function () {
      clearTimeout(saveTimer);
      forgotten = true;
    });

    function store(text) {
      if (forgotten) return;
      try {
        if (text === starter) localStorage.removeItem(key); else localStorage.setItem(key, text);
      } catch (error) { /* private mode or full storage: the textarea still holds the text */ }
    }

    function changed(text) {
      clearTimeout(saveTimer);
      saveTimer = setTimeout(function () { store(text); syncModel(text); }, 250);
      if (!window.CM) {
        var box = $(section, "json-error"), problem = text.trim() ? jsonProblem(text) : "";
        box.textContent = problem;
        box.hidden = !problem;
      }
    }

    var editor = makeEditor(section, textarea, changed, run);
    var saved = null;
    try {
      localStorage.removeItem(DRAFTS + place); // the old key, shared by whoever used the browser
      saved = localStorage.getItem(key);
      var visitors = DRAFTS + "visitor:" + place;
      if (saved === null && owner !== "visitor" && localStorage.getItem(visitors) !== null) {
        saved = localStorage.getItem(visitors);
        localStorage.setItem(key, saved);
        localStorage.removeItem(visitors);
      }
    } catch (error) { saved = null; }
    if (saved !== null && saved !== editor.get()) {
      editor.set(saved);
      draftNote.hidden = false;
    }

    // The picker shows the body's model; picking one rewrites "model" in the body.
    var MODEL = /("model"\s*:\s*)"(?:[^"\\]|\\.)*"/;
    function syncModel(text) {
      var match = /"model"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text);
      var known = match && modelPicker.querySelector('option[value="' + CSS.escape(match[1]) + '"]');
      modelPicker.value = known ? match[1] : "";
    }
    modelPicker.addEventListener("change", function () {
      if (!modelPicker.value) return;
      var text = editor.get(), quoted = JSON.stringify(modelPicker.value);
      editor.set(MODEL.test(text) ? text.replace(MODEL, "$1" + quoted) : text.replace(/^\s*\{/, "{\n  \"model\": " + quoted + ","));
    });

    function say(html) { verdict.innerHTML = html; }
    function notice(text) {
      var p = document.createElement("p");
      p.className = "sandbox-notice";
      p.textContent = text;
      verdict.replaceChildren(p);
    }

    function finish() {
      // Hiding a focused Stop would drop keyboard focus on the page: hand it back to Run.
      var refocus = document.activeElement === stopButton;
      running = null;
      runButton.disabled = false;
      stopButton.hidden = true;
      section.removeAttribute("aria-busy");
      if (refocus) runButton.focus();
    }

    function handle(item) {
      if (item.kind === "event") {
        timelineWrap.hidden = false;
        timeline.insertAdjacentHTML("beforeend", item.html);
        timeline.scrollTop = timeline.scrollHeight;
      } else if (item.kind === "result") {
        result.innerHTML = item.html.result;
        say(item.html.verdict);
        editor.mark(item.verdict && item.verdict.field);
        // A failed run revealed the next hint: the list and the button follow (htmx swaps
        // the button out of band, as after "Show a hint").
        var hints = $(section, "hints");
        if (item.html.hints && hints && window.htmx) window.htmx.swap(hints, item.html.hints, { swapStyle: "innerHTML" });
        if (item.verdict && item.verdict.passed) markPassed(item);
        // The tutor and every sandbox share one allowance: show what is left everywhere.
        if (item.allowance_html) {
          document.querySelectorAll('[data-role="allowance"]').forEach(function (node) { node.outerHTML = item.allowance_html; });
        }
      }
    }

    function markPassed(item) {
      section.classList.add("is-passed");
      var badge = $(section, "passed-badge");
      if (badge) { badge.textContent = "Passed"; badge.className = "badge badge-done"; }
      var score = document.getElementById("exercises-passed");
      if (score && item.score_html) score.outerHTML = item.score_html;
    }

    async function readLines(response) {
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "", sawResult = false;
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        var lines = buffer.split("\n");
        buffer = lines.pop();
        lines.forEach(function (line) {
          if (!line.trim()) return;
          var item = JSON.parse(line);
          sawResult = sawResult || item.kind === "result";
          handle(item);
        });
      }
      if (!sawResult) notice("The run stopped before it finished. Your request is still here: run it again.");
    }

    async function run() {
      if (running) return;
      if (section.dataset.signedIn !== "true") {
        $(section, "signin").hidden = false;
        notice("Sign in to run requests. Your draft stays in the editor.");
        return;
      }
      var text = editor.get();
      textarea.value = text;
      var data = new FormData(form);
      data.set("body", text);
      running = new AbortController();
      var fromRun = document.activeElement === runButton;
      runButton.disabled = true;
      stopButton.hidden = false;
      if (fromRun) stopButton.focus(); // a disabled Run would otherwise lose the keyboard focus
      section.setAttribute("aria-busy", "true");
      output.hidden = false;
      timelineWrap.hidden = true;
      timeline.replaceChildren();
      result.replaceChildren();
      editor.mark(null);
      notice("Running…");
      try {
        var response = await fetch(section.dataset.streamUrl, {
          method: "POST",
          body: data,
          headers: { "X-CSRFToken": data.get("csrfmiddlewaretoken"), Accept: NDJSON },
          credentials: "same-origin",
          signal: running.signal
        });
        var type = response.headers.get("content-type") || "";
        if (response.ok && type.indexOf(NDJSON) === 0) {
          await readLines(response);
        } else if (type.indexOf("application/json") === 0) {
          var body = await response.json();
          if (response.status === 403 && $(section, "signin")) $(section, "signin").hidden = false;
          notice((body.error && body.error.message) || "The run was refused (HTTP " + response.status + ").");
        } else {
          notice("The server could not run this (HTTP " + response.status + "). Your request is still here: try again in a moment.");
        }
      } catch (error) {
        notice(error.name === "AbortError" ? "Stopped. Nothing was graded." :
          "The connection was lost. Your request is still here: run it again.");
      } finally {
        finish();
      }
    }

    stopButton.addEventListener("click", function () { if (running) running.abort(); });

    function reset() {
      if (editor.get() !== starter &&
          !window.confirm("Replace your request with the starter? Undo (Ctrl+Z) in the editor brings your version back.")) return;
      editor.set(starter);
      store(starter);
      draftNote.hidden = true;
      editor.focus();
    }

    form.addEventListener("submit", function (event) {
      var action = event.submitter && event.submitter.value;
      if (action === "code" || action === "hint") return; // htmx posts it; without htmx the page does
      event.preventDefault();
      if (action === "reset") reset();
      else run();
    });

    syncModel(editor.get());
    return { section: section, editor: editor, load: function (text) { editor.set(text); editor.focus(); } };
  }

  // "Try it": a request body shown in the lesson opens in the free-form sandbox, which moves to
  // just below it (its previous text stays in the editor's undo history).
  function requestBody(code) {
    var text = code.textContent;
    if (code.classList.contains("language-bash") || code.classList.contains("language-sh")) {
      var match = /\/v1\/messages[\s\S]*?(?:-d|--data(?:-raw)?) '([\s\S]*?)'/.exec(text);
      if (!match) return null;
      text = match[1];
    }
    try {
      var body = JSON.parse(text);
      return body && typeof body === "object" && Array.isArray(body.messages) ? JSON.stringify(body, null, 2) + "\n" : null;
    } catch (error) { return null; }
  }

  function addTryIt(playground) {
    var template = document.getElementById("sandbox-try-it");
    if (!template || !playground) return;
    document.querySelectorAll(".prose pre > code.language-json, .prose pre > code.language-bash").forEach(function (code) {
      var body = requestBody(code);
      if (!body) return;
      var pre = code.parentNode;
      var bar = template.content.firstElementChild.cloneNode(true);
      var anchor = pre.parentNode.classList.contains("codeblock") ? pre.parentNode : pre;
      anchor.after(bar);
      bar.querySelector("button").addEventListener("click", function () {
        bar.after(playground.section);
        playground.load(body);
        playground.section.scrollIntoView({ block: "start" });
      });
    });
  }

  function start() {
    var playground = null;
    document.querySelectorAll("[data-sandbox]").forEach(function (section) {
      var sandbox = Sandbox(section);
      if (!section.dataset.exercise) playground = sandbox;
    });
    addTryIt(playground);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
