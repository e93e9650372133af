// The embeddable chat button. One tag on a provider's own site:
//   <script src="https://<host>/static/helpdesk/widget.js" data-provider="<slug>" data-lang="fi" async></script>
// It adds an accessible floating button that opens the chat in an iframe
// (/widget/?provider=<slug>&lang=<lang>). Plain script, no module: it must run
// on any site, old or new, and touch nothing but its own elements.
(function () {
  "use strict";
  var script =
    document.currentScript ||
    document.querySelector('script[src*="helpdesk/widget.js"][data-provider]') ||
    document.querySelector('script[src*="helpdesk/widget.js"]');
  if (!script || window.__digitukiWidget) return;
  window.__digitukiWidget = true;

  var origin = new URL(script.src, window.location.href).origin;
  var provider = script.getAttribute("data-provider") || "";
  var lang = (script.getAttribute("data-lang") || document.documentElement.lang || "fi").slice(0, 2);
  if (["fi", "sv", "en"].indexOf(lang) < 0) lang = "fi";
  var TEXT = {
    fi: { open: "Digituki-chat: kysy neuvoa", close: "Sulje chat", title: "Digituki-chat" },
    sv: { open: "Digistöd-chatt: fråga om råd", close: "Stäng chatten", title: "Digistöd-chatt" },
    en: { open: "Digital support chat: ask for help", close: "Close the chat", title: "Digital support chat" },
  }[lang];

  // A stylesheet from our origin rather than an inline <style>: a page with a
  // strict Content-Security-Policy (ours included) allows it by origin.
  var style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = script.src.replace(/widget\.js(\?.*)?$/, "widget.css");
  document.head.appendChild(style);

  var button = document.createElement("button");
  button.type = "button";
  button.className = "dgw-button";
  button.textContent = TEXT.open;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "digituki-widget-panel");

  var panel = document.createElement("div");
  panel.id = "digituki-widget-panel";
  panel.className = "dgw-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", TEXT.title);
  panel.hidden = true;

  var bar = document.createElement("div");
  bar.className = "dgw-bar";
  var heading = document.createElement("span");
  heading.textContent = TEXT.title;
  var close = document.createElement("button");
  close.type = "button";
  close.className = "dgw-close";
  close.setAttribute("aria-label", TEXT.close);
  close.textContent = "\u00d7";
  bar.appendChild(heading);
  bar.appendChild(close);
  panel.appendChild(bar);

  var frame = null;

  function open() {
    if (!frame) {
      // The iframe loads only on first open: a provider's page stays light.
      frame = document.createElement("iframe");
      frame.className = "dgw-frame";
      frame.title = TEXT.title;
      frame.src =
        origin + "/widget/?lang=" + encodeURIComponent(lang) + (provider ? "&provider=" + encodeURIComponent(provider) : "");
      frame.setAttribute("allow", "microphone; camera; display-capture; clipboard-write");
      panel.appendChild(frame);
    }
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    close.focus();
  }

  function shut() {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  button.addEventListener("click", function () {
    if (panel.hidden) open();
    else shut();
  });
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") shut();
  });

  function mount() {
    document.body.appendChild(panel);
    document.body.appendChild(button);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
