// Copy buttons on code blocks: in lessons at load, and in tutor replies as htmx inserts them.
(function () {
  "use strict";

  // Styles that need JavaScript to work (the tutor drawer) key off this class.
  document.documentElement.classList.add("js");

  function addCopyButton(pre) {
    if (pre.dataset.copyReady) return;
    pre.dataset.copyReady = "1";
    var wrapper = document.createElement("div");
    wrapper.className = "codeblock";
    pre.parentNode.insertBefore(wrapper, pre);
    wrapper.appendChild(pre);
    var code = pre.querySelector("code");
    var lang = code && (code.className.match(/language-(\S+)/) || [])[1];
    var bar = document.createElement("div");
    bar.className = "codeblock-bar";
    var label = document.createElement("span");
    label.textContent = lang || "text";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + (lang || "code") + " to the clipboard");
    button.addEventListener("click", function () {
      var text = (code || pre).innerText;
      var done = function (message) {
        button.textContent = message;
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done("Copied"); }, function () { done("Press Ctrl+C"); });
      } else {
        var range = document.createRange();
        range.selectNodeContents(code || pre);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        done(document.execCommand && document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
      }
    });
    bar.appendChild(label);
    bar.appendChild(button);
    wrapper.insertBefore(bar, pre);
  }

  // A skip link takes the keyboard along, not only the scroll position: its target is focused
  // (the tutor's own link is handled by tutor-panel.js, which may open a drawer first).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".skip-link");
    var id = link && link.getAttribute("href").slice(1);
    var target = id && id !== "tutor" && document.getElementById(id);
    if (!target) return;
    event.preventDefault();
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
    history.replaceState(null, "", "#" + id);
  });

  var CODE = ".prose pre, pre.copyable";
  function enhance(root) {
    // htmx hands over each swapped element: it may itself be the block to enhance.
    if (root.matches && root.matches(CODE)) addCopyButton(root);
    root.querySelectorAll(CODE).forEach(addCopyButton);
  }

  if (window.htmx) {
    htmx.onLoad(enhance);
  } else {
    document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  }
})();

// Log-out forgets the sandbox drafts kept in this browser, so the next person at it starts clean.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-logout]")) return;
    try {
      for (var i = localStorage.length - 1; i >= 0; i--) {
        var key = localStorage.key(i);
        if (key && key.indexOf("sandbox-draft:") === 0) localStorage.removeItem(key);
      }
    } catch (error) { /* storage is off: there is nothing to clear */ }
    // An editor may still hold a save it has not written yet (sandbox.js waits for a pause in
    // typing): it drops it on this event, or it would put the draft back before the page goes.
    document.dispatchEvent(new CustomEvent("sandbox:drafts-forgotten"));
  });
})();
