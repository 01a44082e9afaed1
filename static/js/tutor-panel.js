// The tutor as a drawer over the lesson below 1280 px, and the API-call dialog.
(function () {
  "use strict";

  var markup = window.tutorMarkup, select = markup.select, state = markup.state;
  var WIDE = window.matchMedia("(min-width: 80rem)");
  var panel, fab, opener = null, inerted = [];

  function isOpen() { return panel.classList.contains(state.open); }

  // While the drawer is open everything else is inert: focus stays in it, and screen readers
  // read only the tutor, as in a modal dialog.
  function setInert(on) {
    inerted.forEach(function (el) { el.inert = false; });
    inerted = [];
    if (!on) return;
    for (var el = panel; el && el !== document.body; el = el.parentElement) {
      Array.prototype.forEach.call(el.parentElement.children, function (sibling) {
        if (sibling !== el && !sibling.inert && sibling.tagName !== "SCRIPT" && sibling.tagName !== "DIALOG") {
          sibling.inert = true;
          inerted.push(sibling);
        }
      });
    }
  }

  function open() {
    if (WIDE.matches || isOpen()) return;
    opener = document.activeElement;
    // The page under the drawer keeps its scroll position: it is hidden, never scrolled.
    panel.classList.add(state.open);
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "true");
    document.documentElement.classList.add(state.pageOpen);
    fab.setAttribute("aria-expanded", "true");
    setInert(true);
    var log = markup.byId("log");
    if (log) log.scrollTop = log.scrollHeight;
    markup.byId("title").focus();
  }

  function close() {
    if (!isOpen()) return;
    panel.classList.remove(state.open);
    panel.removeAttribute("role");
    panel.removeAttribute("aria-modal");
    document.documentElement.classList.remove(state.pageOpen);
    fab.setAttribute("aria-expanded", "false");
    setInert(false);
    (opener && document.contains(opener) ? opener : fab).focus({ preventScroll: true });
  }

  function apiDialog() { return markup.byId("apiDialog"); }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : event.target.parentElement;
    if (!panel || !target) return;
    if (target.closest(select.apiClose) || target === apiDialog()) {
      apiDialog().close(); // the close button, or a click on the backdrop
    } else if (target.closest("dialog")) {
      return;
    } else if (target.closest(select.fab)) {
      open();
    } else if (target.closest(select.tutorLink)) {
      // A skip link or "Ask this lesson's tutor": open the drawer, or beside the lesson
      // take the keyboard to the tutor as the link promises.
      event.preventDefault();
      if (!WIDE.matches) { open(); return; }
      (markup.byId("input") || markup.byId("title")).focus();
    } else if (target.closest(select.close)) {
      close();
    } else if (target.closest(select.apiOpen)) {
      // htmx loads the call into the dialog; until then it says so.
      markup.byId("apiBody").innerHTML = "<p>Loading…</p>";
      apiDialog().showModal();
    } else if (isOpen() && !panel.contains(target)) {
      close(); // a click on the shade beside the drawer
    }
  });

  // Tab and Shift+Tab wrap round inside the open drawer instead of leaving the page.
  function keepFocusInside(event) {
    var focusable = Array.prototype.filter.call(
      panel.querySelectorAll("a[href], button:not(:disabled), textarea, input, select, summary, [tabindex='0']"),
      function (el) { return el.offsetParent !== null; }
    );
    if (!focusable.length) return;
    var first = focusable[0], last = focusable[focusable.length - 1];
    if (event.shiftKey && (document.activeElement === first || !panel.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Tab" && panel && isOpen() && !(apiDialog() && apiDialog().open)) {
      keepFocusInside(event);
      return;
    }
    if (event.key !== "Escape" || !panel || !isOpen()) return;
    if (apiDialog() && apiDialog().open) return; // the dialog closes itself first
    event.preventDefault();
    close();
  });

  document.addEventListener("DOMContentLoaded", function () {
    panel = markup.byId("panel");
    fab = document.querySelector(select.fab);
    if (!panel || !fab) return;
    // Widening the window puts the tutor back beside the lesson.
    WIDE.addEventListener("change", function () { if (WIDE.matches) close(); });
    // A link to #tutor (after signing up, say) opens the drawer.
    if (location.hash === "#" + markup.ids.panel) open();
  });
})();

// Chat affordances: a character counter, jump to latest, copy a reply, focus back to the box,
// and a confirmation before starting a new conversation.
(function () {
  "use strict";

  var markup = window.tutorMarkup, select = markup.select;
  function input() { return markup.byId("input"); }
  function focusInput() { var el = input(); if (el) el.focus({ preventScroll: true }); }

  // Shown from 80% of the limit; past it Send is refused by the server with the draft kept.
  function count() {
    var el = input(), out = markup.byId("count");
    if (!el || !out) return;
    var max = parseInt(el.dataset.max, 10), used = el.value.length;
    if (!max) return;
    out.hidden = used < max * 0.8;
    out.classList.toggle(markup.state.over, used > max);
    out.textContent = used > max
      ? (used - max).toLocaleString() + " characters over the " + max.toLocaleString() + " limit: shorten it to send"
      : used.toLocaleString() + " / " + max.toLocaleString() + " characters";
  }
  document.addEventListener("input", function (event) { if (event.target.id === markup.ids.input) count(); });
  document.addEventListener("htmx:wsAfterSend", count);
  document.addEventListener("htmx:wsAfterMessage", count);

  // "Jump to latest" while a reply streams below what the learner is reading.
  function log() { return markup.byId("log"); }
  function pill() { return document.querySelector(select.latest); }
  function updatePill() {
    var el = log(), button = pill();
    if (!el || !button) return;
    var below = el.scrollHeight - el.scrollTop - el.clientHeight > 48;
    button.hidden = !(below && el.querySelector(select.streaming));
  }
  document.addEventListener("scroll", function (event) { if (event.target === log()) updatePill(); }, true);
  document.addEventListener("htmx:wsAfterMessage", updatePill);

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : event.target.parentElement;
    if (!target) return;
    if (target.closest(select.latest)) {
      log().scrollTop = log().scrollHeight;
      updatePill();
    } else if (target.closest(select.copy)) {
      var button = target.closest(select.copy);
      var body = button.closest(select.message).querySelector(select.body);
      var done = function (label) {
        button.textContent = label;
        setTimeout(function () { button.textContent = "Copy reply"; }, 2000);
      };
      // The reply only: the code blocks' bars (language label, Copy button) that site.js adds
      // are hidden while the text is read, so innerText leaves them out.
      var bars = body.querySelectorAll(select.codeBar);
      bars.forEach(function (bar) { bar.style.display = "none"; });
      if (navigator.clipboard && window.isSecureContext) {
        var text = body.innerText;
        bars.forEach(function (bar) { bar.style.display = ""; });
        navigator.clipboard.writeText(text).then(function () { done("Copied"); }, function () { done("Press Ctrl+C"); });
      } else {
        var range = document.createRange();
        range.selectNodeContents(body);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        var copied = document.execCommand && document.execCommand("copy");
        bars.forEach(function (bar) { bar.style.display = ""; });
        done(copied ? "Copied" : "Press Ctrl+C");
      }
    } else if (target.closest(select.stop)) {
      focusInput(); // Stop is disabled once the reply ends: keep the learner in the box
    }
  });

  // After the "what went wrong" form is sent, back to asking.
  // (After htmx settles: it puts focus back where it was once the swap is done.)
  var refocus = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    refocus = Boolean(event.detail.elt.closest && event.detail.elt.closest(select.feedbackReason));
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (refocus) { refocus = false; focusInput(); }
  });

  document.addEventListener("submit", function (event) {
    if (!event.target.matches(select.newForm)) return;
    if (!window.confirm("Start a new conversation? This one moves to Past conversations, where you can reopen it.")) {
      event.preventDefault();
    }
  });
})();
