// The tutor's connection, told honestly: "Reconnecting…" and no sending while the socket is
// down; a reply that ended while it was down is shown as it really is once it is back.
(function () {
  "use strict";

  var RETRIED = [1006, 1011, 1012, 1013]; // the codes htmx's ws extension reconnects after
  var down = false;
  var leaving = false;

  // Back off, but never leave a learner waiting more than 8 s once the server is back.
  if (window.htmx) {
    htmx.config.wsReconnectDelay = function (retries) {
      return Math.min(1000 * Math.pow(2, retries), 8000) * (0.5 + Math.random() / 2);
    };
  }
  window.addEventListener("pagehide", function () { leaving = true; });

  function live() { return document.querySelector(".tutor-live"); }

  function setDown(message) {
    var root = live();
    if (!root) return;
    down = Boolean(message);
    root.classList.toggle("is-disconnected", down);
    var banner = document.getElementById("tutor-connection");
    banner.textContent = message || "";
    banner.hidden = !down;
    root.querySelectorAll("#tutor-form button[type=submit], .starter").forEach(function (button) {
      button.disabled = down;
    });
  }

  document.addEventListener("htmx:wsClose", function (event) {
    if (leaving) return; // the page is going away, not the server
    var code = event.detail.event && event.detail.event.code;
    if (code === 4401) {
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

  // Nothing is sent into a closed socket (htmx would queue it): the question stays in the box.
  document.addEventListener("htmx:wsConfigSend", function (event) {
    if (down) event.preventDefault();
  });

  // A resynced reply replaces only one the page still shows as streaming.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var fragment = event.detail.fragment;
    if (!fragment || !fragment.querySelector) return;
    var resync = (fragment.matches && fragment.matches("[data-resync]")) ||
      fragment.querySelector("[data-resync]");
    if (resync && !event.detail.target.classList.contains("status-streaming")) {
      event.preventDefault();
    }
  });
})();
