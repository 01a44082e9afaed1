// The lesson sandbox, on top of its plain form (which works without this file): CodeMirror over
// the request textarea, runs streamed from the server as NDJSON, drafts kept in localStorage,
// hints, Reset, the model picker, and "Try it" on the request bodies shown in the lesson.
// The markup comes from templates/sandbox/_sandbox.html; the server renders every result.
(function () {
  "use strict";

  var NDJSON = "application/x-ndjson";
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
        lintNow: function () {}
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
    var extensions = [
      CM.lineNumbers(), CM.highlightActiveLineGutter(), CM.highlightSpecialChars(), CM.history(),
      CM.drawSelection(), CM.indentOnInput(), CM.syntaxHighlighting(CM.classHighlighter),
      CM.bracketMatching(), CM.closeBrackets(), CM.highlightActiveLine(), CM.json(), lint,
      CM.lintGutter(), CM.EditorView.lineWrapping,
      CM.keymap.of([{ key: "Mod-Enter", run: function () { onRun(); return true; } }]
        .concat(CM.closeBracketsKeymap, CM.defaultKeymap, CM.historyKeymap, CM.lintKeymap, [CM.indentWithTab])),
      CM.EditorView.contentAttributes.of({
        "aria-label": "Request body",
        "aria-describedby": errorBox.id + " " + section.id + "-editor-help"
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
    var label = section.querySelector('label[for="' + textarea.id + '"]');
    if (label) label.addEventListener("click", function (event) { event.preventDefault(); view.focus(); });
    return {
      get: function () { return view.state.doc.toString(); },
      // One undoable change: Ctrl+Z brings back what Reset or "Try it" replaced.
      set: function (text) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }); },
      focus: function () { view.focus(); },
      lintNow: function () { CM.forceLinting(view); }
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
    var hintButton = $(section, "hint"), modelPicker = $(section, "model");
    var output = $(section, "output"), timeline = $(section, "timeline");
    var timelineWrap = $(section, "timeline-wrap"), result = $(section, "result");
    var verdict = $(section, "verdict"), draftNote = $(section, "draft-note");
    var running = null, saveTimer = null;

    function store(text) {
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

    function showHint() {
      var next = section.querySelector(".sandbox-hint[hidden]");
      if (next) {
        next.hidden = false;
        form.elements.hints_shown.value = section.querySelectorAll(".sandbox-hint:not([hidden])").length;
      }
      if (!section.querySelector(".sandbox-hint[hidden]")) {
        hintButton.disabled = true;
        hintButton.title = "That was the last hint";
      }
    }

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
      if (action === "code") return; // htmx posts it; without htmx the page does
      event.preventDefault();
      if (action === "hint") showHint();
      else if (action === "reset") reset();
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
