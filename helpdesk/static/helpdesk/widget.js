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

  var css =
    ".dgw-button{position:fixed;right:1rem;bottom:1rem;z-index:2147483000;min-width:56px;min-height:56px;" +
    "padding:.75rem 1.1rem;border-radius:28px;border:3px solid #fff;background:#0b5394;color:#fff;" +
    "font:600 1.05rem/1.2 system-ui,sans-serif;box-shadow:0 2px 8px rgba(0,0,0,.35);cursor:pointer}" +
    ".dgw-button:focus-visible,.dgw-close:focus-visible{outline:3px solid #f0a500;outline-offset:2px}" +
    ".dgw-panel{position:fixed;right:1rem;bottom:5.5rem;z-index:2147483001;width:min(26rem,calc(100vw - 2rem));" +
    "height:min(40rem,calc(100vh - 7rem));background:#fff;border:2px solid #0b5394;border-radius:.6rem;" +
    "box-shadow:0 4px 18px rgba(0,0,0,.35);display:flex;flex-direction:column;overflow:hidden}" +
    ".dgw-panel[hidden]{display:none}" +
    ".dgw-bar{display:flex;justify-content:space-between;align-items:center;background:#0b5394;color:#fff;" +
    "padding:.25rem .5rem .25rem 1rem;font:600 1rem system-ui,sans-serif}" +
    ".dgw-close{min-width:44px;min-height:44px;background:transparent;color:#fff;border:0;font-size:1.6rem;cursor:pointer}" +
    ".dgw-frame{flex:1;border:0;width:100%}" +
    "@media (max-width:30rem){.dgw-panel{right:0;bottom:0;width:100vw;height:100vh;border-radius:0}}";
  var style = document.createElement("style");
  style.textContent = css;
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
