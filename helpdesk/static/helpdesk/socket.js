// A WebSocket that reconnects with backoff and keeps itself alive with pings.
// The server is the truth (docs/protocol.md): after every (re)connect the page
// sends `hello` with the last sequence numbers it saw and gets the rest replayed.

const PERMANENT_CLOSES = new Set([4401, 4403, 4404]);
const PING_EVERY_MS = 25000;
const MAX_BACKOFF_MS = 15000;

export function wsUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

export function newId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ReconnectingSocket {
  /**
   * @param {string} url
   * @param {{onOpen?: Function, onFrame?: Function, onStatus?: Function, onGiveUp?: Function}} handlers
   */
  constructor(url, handlers = {}) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.pingTimer = null;
    this.retryTimer = null;
    window.addEventListener("online", () => this.reconnectNow());
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.status("open");
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
      if (this.handlers.onOpen) this.handlers.onOpen();
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return; // a frame we cannot read is ignored; the next hello catches up
      }
      if (frame && typeof frame === "object" && this.handlers.onFrame) {
        try {
          this.handlers.onFrame(frame);
        } catch (err) {
          console.error("frame handler failed", frame.type, err);
        }
      }
      // Feature modules (video: video-call.js) listen beside the page's own handler.
      if (frame && typeof frame === "object") {
        document.dispatchEvent(new CustomEvent("helpdesk:frame", { detail: { frame, socket: this } }));
      }
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.pingTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      if (PERMANENT_CLOSES.has(event.code)) {
        this.stopped = true;
        this.status("closed");
        if (this.handlers.onGiveUp) this.handlers.onGiveUp(event.code);
        return;
      }
      this.status("reconnecting");
      this.scheduleRetry();
    });
  }

  scheduleRetry() {
    if (this.stopped) return;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    this.attempt = 0;
    this.connect();
  }

  get isOpen() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  /** Sends a frame; false when not connected (the caller keeps it for the resend). */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  status(state) {
    if (this.handlers.onStatus) this.handlers.onStatus(state);
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000);
  }
}

/** Fills "%(name)s" placeholders of a translated string. */
export function fmt(template, values = {}) {
  return String(template).replace(/%\((\w+)\)s/g, (_m, key) => (key in values ? values[key] : ""));
}

export function loadStrings() {
  const node = document.getElementById("ui-strings");
  try {
    return node ? JSON.parse(node.textContent) : {};
  } catch (err) {
    return {};
  }
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function timeLabel(iso, lang) {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(lang || document.documentElement.lang || "fi", {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23", // 24-hour clock in every language, as in Finland
  }).format(date);
}

/** A link is only followed when it stays on this site or is plain http(s). */
export function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url, window.location.origin);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (err) {
    return null;
  }
}
