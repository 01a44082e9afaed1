// The tutor's socket, in one handler per event: what is sent (an id per question, nothing empty,
// nothing too large, nothing while the socket is down), and the connection told honestly:
// "Reconnecting…" while it is down; a reply that ended meanwhile is shown as it really is; and a
// question stays in the box until the server has taken it.
(function () {
  "use strict";

  var markup = window.tutorMarkup;
  var RETRIED = [1006, 1011, 1012, 1013]; // the codes htmx's ws extension reconnects after
  var TOO_BIG = 1009; // WebSocket's "message too big": the server closed on a frame over its limit
  var down = false;
  var leaving = false;

  // Back off, but never leave a learner waiting more than 8 s once the server is back.
  if (window.htmx) {
    htmx.config.wsReconnectDelay = function (retries) {
      return Math.min(1000 * Math.pow(2, retries), 8000) * (0.5 + Math.random() / 2);
    };
  }
  window.addEventListener("pagehide", function () { leaving = true; });

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "id-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function notice(text) {
    var box = markup.byId("notice");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle(markup.state.visible, Boolean(text));
  }

  // A question stays in the box until the server has taken it (it comes back in the log), and
  // only then is the box cleared; a refused one comes back with the server's notice. One the
  // server never answers (lost in a Redis or server restart) is not lost either: when the socket
  // closes, or after a few seconds of silence, a notice says so and the text is still there to
  // send again. Only the form's own send counts: Stop and Retry inside it must keep a draft.
  var UNANSWERED_MS = 8000;
  var UNANSWERED = "The tutor did not get your question (the connection dropped or the server is restarting). It is still in the box: send it again in a moment.";
  var asked = null; // the question sent and not yet taken or refused
  function lastQuestion() {
    var questions = document.querySelectorAll("#" + markup.ids.log + " " + markup.select.question);
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

  function setDown(message) {
    var root = document.querySelector(markup.select.live);
    if (!root) return;
    down = Boolean(message);
    root.classList.toggle(markup.state.disconnected, down);
    var banner = markup.byId("connection");
    banner.textContent = message || "";
    banner.hidden = !down;
    root.querySelectorAll(markup.select.send + ", " + markup.select.starter).forEach(function (button) {
      button.disabled = down;
    });
  }

  // Nothing is sent into a closed socket (htmx would queue it): the question stays in the box.
  // Every question carries an id of its own, so a message that a flaky connection re-sends is
  // answered once. Empty questions are not sent at all.
  document.addEventListener("htmx:wsConfigSend", function (event) {
    if (down) {
      event.preventDefault();
      return;
    }
    var params = event.detail.parameters;
    if (params.action) return;
    if (!String(params.message || "").trim()) {
      event.preventDefault();
      return;
    }
    // Sent already and still waiting: Enter pressed twice does not ask twice.
    if (asked && !asked.overdue && params.message === asked.text) {
      event.preventDefault();
      return;
    }
    params.client_id = newId();
  });

  document.addEventListener("htmx:wsAfterSend", function (event) {
    var form = event.target;
    if (!form || form.id !== markup.ids.form) return;
    settle();
    asked = {
      text: form.elements.message.value,
      before: lastQuestion(),
      timer: setTimeout(overdue, UNANSWERED_MS)
    };
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    if (!asked) return;
    var box = markup.byId("input");
    var said = markup.byId("notice");
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

  // A frame bigger than the server reads is not sent at all (a browser socket would be closed
  // for it), and the text stays in the box.
  document.addEventListener("htmx:wsBeforeSend", function (event) {
    var limit = markup.limits().max_frame_bytes;
    var size = new Blob([event.detail.message]).size;
    if (limit && size > limit) {
      event.preventDefault();
      notice("That message is too large to send (" + Math.ceil(size / 1024) + " KiB): the tutor takes up to " +
        Math.floor(limit / 1024) + " KiB. Shorten it and send again.");
    }
  });

  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event && event.detail.event.code;
    overdue(); // a question sent and not yet taken is still in the box: say so
    if (code === TOO_BIG) notice("The server closed the connection: that message was too large. Reconnecting…");
    if (leaving) return; // the page is going away, not the server
    if (code === markup.limits().unauthenticated) {
      setDown("You were logged out. Log in again to ask the tutor.");
    } else if (RETRIED.indexOf(code) >= 0) {
      setDown("Reconnecting…");
    } else {
      setDown("The tutor is unavailable. Reload the page to try again.");
    }
  });

  document.addEventListener("htmx:wsOpen", function () {
    if (down) setDown("");
  });

  // A resynced reply replaces only one the page still shows as streaming.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var fragment = event.detail.fragment;
    if (!fragment || !fragment.querySelector) return;
    var resync = (fragment.matches && fragment.matches(markup.select.resync)) ||
      fragment.querySelector(markup.select.resync);
    if (resync && !event.detail.target.classList.contains(markup.state.streaming)) {
      event.preventDefault();
    }
  });
})();
