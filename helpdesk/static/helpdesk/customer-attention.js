// Attention cues for a customer whose chat tab is in the background: the tab
// title changes, an optional short tone plays (made with WebAudio, no sound
// file) and, when the customer allowed it, a browser notification appears
// when the supporter joins or writes. Everything here is optional: without
// WebAudio or Notification support the chat works the same.
import { fmt, loadStrings } from "./socket.js";

const S = loadStrings();
const KEY_SOUND = "digituki.sound";
const KEY_NOTIFY = "digituki.notify";

function remember(key, on) {
  try {
    localStorage.setItem(key, on ? "1" : "0");
  } catch (err) {
    /* private mode: the choice lasts for this page only */
  }
}

function recalled(key) {
  try {
    return localStorage.getItem(key) === "1";
  } catch (err) {
    return false;
  }
}

class Attention {
  constructor() {
    this.baseTitle = document.title;
    this.unseen = 0;
    this.audio = null;
    this.supporterName = null;
    this.state = null;
    this.sound = document.getElementById("pref-sound");
    this.notify = document.getElementById("pref-notify");
    this.cues = [];
  }

  start() {
    if (this.sound) {
      this.sound.checked = recalled(KEY_SOUND);
      this.sound.addEventListener("change", () => {
        remember(KEY_SOUND, this.sound.checked);
        if (this.sound.checked) this.tone(); // a sample, and it unlocks audio on a click
      });
    }
    if (this.notify) {
      const supported = "Notification" in window;
      this.notify.disabled = !supported;
      this.notify.checked = supported && recalled(KEY_NOTIFY) && Notification.permission === "granted";
      this.notify.addEventListener("change", () => this.toggleNotify());
    }
    document.addEventListener("helpdesk:frame", (event) => this.onFrame(event.detail.frame));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.seen();
    });
    window.addEventListener("focus", () => this.seen());
  }

  async toggleNotify() {
    if (!this.notify.checked) {
      remember(KEY_NOTIFY, false);
      return;
    }
    let permission = Notification.permission;
    if (permission === "default") {
      try {
        permission = await Notification.requestPermission();
      } catch (err) {
        permission = "denied";
      }
    }
    this.notify.checked = permission === "granted";
    remember(KEY_NOTIFY, this.notify.checked);
  }

  onFrame(frame) {
    if (frame.type === "welcome") {
      this.state = frame.contact ? frame.contact.state : null;
      this.supporterName = frame.contact ? frame.contact.supporter_name : null;
      return;
    }
    if (frame.type === "contact.state") {
      const joined = frame.state === "active" && this.state !== "active" && this.state !== "on_hold";
      this.state = frame.state;
      if (frame.supporter_name) this.supporterName = frame.supporter_name;
      if (joined) this.cue(fmt(S.titleJoined, { name: this.name() }));
      return;
    }
    if (frame.type === "message.new" && frame.message && frame.message.author === "supporter") {
      if (frame.message.author_name) this.supporterName = frame.message.author_name;
      this.cue(fmt(S.titleMessage, { name: this.name() }), frame.message.body);
    }
  }

  name() {
    return this.supporterName || S.supporter || "";
  }

  /** Something happened the customer should notice; only cued when they look elsewhere. */
  cue(title, body) {
    this.cues.push(title); // kept for the browser tests and for debugging
    if (document.visibilityState === "visible" && document.hasFocus()) return;
    this.unseen += 1;
    document.title = `(${this.unseen}) ${title} – ${this.baseTitle}`;
    if (this.sound && this.sound.checked) this.tone();
    if (this.notify && this.notify.checked && "Notification" in window && Notification.permission === "granted") {
      try {
        const note = new Notification(title, { body: body ? String(body).slice(0, 120) : "", tag: "digituki-chat" });
        note.addEventListener("click", () => {
          window.focus();
          note.close();
        });
      } catch (err) {
        /* some browsers allow notifications only from a service worker */
      }
    }
  }

  seen() {
    if (!this.unseen) return;
    this.unseen = 0;
    document.title = this.baseTitle;
  }

  /** Two soft notes, a quarter of a second in all. */
  tone() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      if (!this.audio) this.audio = new Context();
      const ctx = this.audio;
      if (ctx.state === "suspended") ctx.resume();
      const start = ctx.currentTime + 0.01;
      [660, 880].forEach((frequency, i) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.value = frequency;
        const at = start + i * 0.13;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.15, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.12);
        osc.connect(gain).connect(ctx.destination);
        osc.start(at);
        osc.stop(at + 0.13);
      });
    } catch (err) {
      /* no sound is fine */
    }
  }
}

if (document.getElementById("chat-app")) {
  window.digitukiAttention = new Attention();
  window.digitukiAttention.start();
}
