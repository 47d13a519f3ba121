// The company page's network graph is drawn on the server (an inline SVG, usable without this
// script); a network wider than the screen scrolls inside its box, and this brings the current
// company into view instead of leaving the box at its left edge.
(function () {
  "use strict";
  function centre() {
    document.querySelectorAll(".crm-network-wrap").forEach(function (wrap) {
      const current = wrap.querySelector(".crm-network-current rect");
      if (!current || wrap.scrollWidth <= wrap.clientWidth) return;
      const box = current.getBoundingClientRect();
      const frame = wrap.getBoundingClientRect();
      wrap.scrollLeft += box.left + box.width / 2 - (frame.left + frame.width / 2);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", centre);
  } else {
    centre();
  }
})();
