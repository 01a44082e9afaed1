// The tutor panel: only what htmx cannot do on its own.
(function () {
  "use strict";

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "id-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  // Enter sends, Shift+Enter makes a new line; never send while an IME is composing a character.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (input.id !== "tutor-input" || event.key !== "Enter") return;
    if (event.shiftKey || event.isComposing || event.keyCode === 229) return;
    // On touch keyboards Return is the only way to a new line: Send sends (see the hint).
    if (window.matchMedia("(pointer: coarse)").matches) return;
    event.preventDefault();
    if (input.value.trim() && input.form) input.form.requestSubmit();
  });

  // Every question carries an id of its own, so a message that a flaky connection re-sends is
  // answered once. Empty questions are not sent at all.
  document.addEventListener("htmx:wsConfigSend", function (event) {
    var params = event.detail.parameters;
    if (params.action) return;
    if (!String(params.message || "").trim()) {
      event.preventDefault();
      return;
    }
    params.client_id = newId();
  });

  // The server reads frames of up to 64 KiB; a bigger one is not sent at all (a browser socket
  // would be closed for it), and the text stays in the box.
  var MAX_FRAME_BYTES = 64 * 1024;
  function notice(text) {
    var box = document.getElementById("tutor-notice");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("is-visible", Boolean(text));
  }
  document.addEventListener("htmx:wsBeforeSend", function (event) {
    var size = new Blob([event.detail.message]).size;
    if (size > MAX_FRAME_BYTES) {
      event.preventDefault();
      notice("That message is too large to send (" + Math.ceil(size / 1024) + " KiB): the tutor takes up to 64 KiB. Shorten it and send again.");
    }
  });
  // A question stays in the box until the server has taken it (it comes back in the log), and
  // only then is the box cleared; a refused one comes back with the server's notice. One the
  // server never answers (lost in a Redis or server restart) is not lost either: when the socket
  // closes, or after a few seconds of silence, a notice says so and the text is still there to
  // send again. Only the form's own send counts: Stop and Retry inside it must keep a draft.
  var UNANSWERED_MS = 8000;
  var UNANSWERED = "The tutor did not get your question (the connection dropped or the server is restarting). It is still in the box: send it again in a moment.";
  var asked = null; // the question sent and not yet taken or refused
  function lastQuestion() {
    var questions = document.querySelectorAll("#tutor-log .msg-user");
    return questions.length ? questions[questions.length - 1].id : "";
  }
  function settle() {
    if (asked) clearTimeout(asked.timer);
    asked = null;
  }
  function overdue() {
    if (!asked || asked.overdue) return;
    clearTimeout(asked.timer);
    asked.overdue = true;
    notice(UNANSWERED);
  }
  document.addEventListener("htmx:wsConfigSend", function (event) {
    // Sent already and still waiting: Enter pressed twice does not ask twice.
    var params = event.detail.parameters;
    if (asked && !asked.overdue && !params.action && params.message === asked.text) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:wsAfterSend", function (event) {
    var form = event.target;
    if (!form || form.id !== "tutor-form") return;
    settle();
    asked = {
      text: form.elements.message.value,
      before: lastQuestion(),
      timer: setTimeout(overdue, UNANSWERED_MS),
    };
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (!asked) return;
    var box = document.getElementById("tutor-input");
    var said = document.getElementById("tutor-notice");
    if (lastQuestion() !== asked.before) {
      // A turn started: this question's (or, when two tabs asked at once, the other tab's;
      // then the server refuses this one and puts it back).
      if (box && box.value === asked.text) {
        box.value = "";
        box.dispatchEvent(new Event("input", { bubbles: true }));
      }
      if (said && said.textContent === UNANSWERED) notice("");
      settle();
    } else if (said && said.textContent.trim() && said.textContent !== UNANSWERED) {
      settle(); // refused: the server said why and put the question back in the box
    }
  });
  document.addEventListener("htmx:wsClose", overdue);
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event && event.detail.event.code;
    if (code === 1009) notice("The server closed the connection: that message was too large. Reconnecting…");
  });

  // Follow a streaming reply down the log, unless the learner scrolled up to read.
  var pinned = true;
  function log() { return document.getElementById("tutor-log"); }
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
