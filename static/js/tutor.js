// The tutor panel: only what htmx cannot do on its own. Its socket: tutor-connection.js.
(function () {
  "use strict";

  var markup = window.tutorMarkup;

  // Enter sends, Shift+Enter makes a new line; never send while an IME is composing a character.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (input.id !== markup.ids.input || event.key !== "Enter") return;
    if (event.shiftKey || event.isComposing || event.keyCode === 229) return;
    // On touch keyboards Return is the only way to a new line: Send sends (see the hint).
    if (window.matchMedia("(pointer: coarse)").matches) return;
    event.preventDefault();
    if (input.value.trim() && input.form) input.form.requestSubmit();
  });

  // Follow a streaming reply down the log, unless the learner scrolled up to read.
  var pinned = true;
  function log() { return markup.byId("log"); }
  document.addEventListener("scroll", function (event) {
    var el = log();
    if (event.target === el) pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  }, true);
  document.addEventListener("htmx:wsAfterMessage", function () {
    var el = log();
    if (el && pinned) el.scrollTop = el.scrollHeight;
  });
  document.addEventListener("htmx:wsAfterSend", function () { pinned = true; });
  document.addEventListener("DOMContentLoaded", function () {
    var el = log();
    if (el) el.scrollTop = el.scrollHeight;
  });
})();
