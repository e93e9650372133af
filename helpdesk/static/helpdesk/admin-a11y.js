// The admin's two-list selector (filter_horizontal) puts an aria-label on a plain
// <span> (the magnifier icon), where ARIA does not allow one (axe:
// aria-prohibited-attr). Calling the icon an image makes the label valid and keeps
// what it says. The selector is built after the page loads, and inline rows are
// added later still, so new nodes are watched.
"use strict";

(function () {
  function fix(root) {
    root.querySelectorAll("span.help-tooltip[aria-label]:not([role])").forEach((icon) => {
      icon.setAttribute("role", "img");
    });
  }
  function start() {
    fix(document);
    new MutationObserver((changes) => {
      changes.forEach((change) => {
        change.addedNodes.forEach((node) => {
          if (node.nodeType === Node.ELEMENT_NODE) fix(node.parentNode || node);
        });
      });
    }).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
