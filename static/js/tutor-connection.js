// The tutor's socket, in one handler per event: what is sent (an id per question, nothing empty,
// nothing too large, nothing while the socket is down), and the connection told honestly:
// "Reconnecting…" while it is down; a reply that ended meanwhile is shown as it really is.
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
    box.classList.add(markup.state.visible);
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
    params.client_id = newId();
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
