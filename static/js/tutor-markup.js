// The tutor's markup as its scripts see it (templates/tutor/): every id, class and marker they
// use, in one map, and the limits they share with the server, read from the page (the
// socket_limits tag in tutor/_panel.html puts the Python constants there), never copied.
window.tutorMarkup = (function () {
  "use strict";

  var ids = {
    panel: "tutor",
    title: "tutor-title",
    log: "tutor-log",
    form: "tutor-form",
    input: "tutor-input",
    count: "tutor-count",
    notice: "tutor-notice",
    connection: "tutor-connection",
    actions: "tutor-actions",
    apiDialog: "api-call-dialog",
    apiBody: "api-call-body",
    limits: "tutor-limits"
  };

  // Classes the scripts set or test.
  var state = {
    open: "is-open",
    pageOpen: "tutor-is-open",
    visible: "is-visible",
    over: "is-over",
    disconnected: "is-disconnected",
    streaming: "status-streaming"
  };

  var limits = null;

  return {
    ids: ids,
    select: {
      live: ".tutor-live",
      fab: ".tutor-fab",
      close: ".tutor-close",
      latest: ".tutor-latest",
      newForm: ".tutor-new-form",
      starter: ".starter",
      send: "#" + ids.form + " button[type=submit]",
      stop: "#" + ids.actions + " [hx-vals*='stop']",
      tutorLink: 'a[href="#' + ids.panel + '"]',
      message: "article",
      question: ".msg-user",
      body: ".msg-body",
      streaming: "." + state.streaming,
      resync: "[data-resync]",
      copy: ".reply-copy",
      codeBar: ".codeblock-bar",
      feedbackReason: ".feedback-reason",
      apiOpen: ".api-call-open",
      apiClose: ".api-call-close"
    },
    state: state,
    byId: function (name) { return document.getElementById(ids[name]); },
    // {unauthenticated: close code, max_frame_bytes: …}; read once the page has been parsed.
    limits: function () {
      if (!limits) {
        var data = document.getElementById(ids.limits);
        limits = data ? JSON.parse(data.textContent) : {};
      }
      return limits;
    }
  };
})();
