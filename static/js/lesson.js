// Lesson pages: mark the section being read in the contents, and show when a table scrolls.
(function () {
  "use strict";

  // The contents sidebar marks the last heading that has scrolled past the sticky header.
  function followSections() {
    var links = {};
    document.querySelectorAll(".toc .toc-list a[href^='#']").forEach(function (link) {
      links[decodeURIComponent(link.getAttribute("href").slice(1))] = link;
    });
    var headings = Array.prototype.filter.call(
      document.querySelectorAll(".prose h2[id], .prose h3[id], #knowledge-check"),
      function (heading) { return links[heading.id]; }
    );
    if (!headings.length) return;
    var current = null;
    var queued = false;
    function update() {
      queued = false;
      var line = parseFloat(getComputedStyle(document.documentElement).scrollPaddingTop) || 80;
      var found = headings[0];
      for (var i = 0; i < headings.length; i++) {
        if (headings[i].getBoundingClientRect().top - line > 8) break;
        found = headings[i];
      }
      if (found === current) return;
      if (current) links[current.id].removeAttribute("aria-current");
      links[found.id].setAttribute("aria-current", "true");
      current = found;
    }
    document.addEventListener("scroll", function () {
      if (!queued) { queued = true; requestAnimationFrame(update); }
    }, { passive: true });
    update();
  }

  // A table wider than its column gets a hint, a sticky first column and a fade on the edge
  // that still hides columns; the fade goes once the learner has scrolled to the end.
  function watchTables() {
    document.querySelectorAll(".table-frame").forEach(function (frame) {
      var scroller = frame.querySelector(".table-scroll");
      if (!scroller) return;
      function update() {
        var hidden = scroller.scrollWidth - scroller.clientWidth;
        frame.classList.toggle("is-scrollable", hidden > 1);
        frame.classList.toggle("can-scroll-right", hidden - scroller.scrollLeft > 1);
      }
      scroller.addEventListener("scroll", update, { passive: true });
      if (window.ResizeObserver) new ResizeObserver(update).observe(scroller);
      update();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    followSections();
    watchTables();
  });
})();
