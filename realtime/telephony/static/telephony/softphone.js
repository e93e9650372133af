// The console's phone: channel status, the browser softphone (@twilio/voice-sdk,
// installed by scripts/npm.sh into a git-ignored static folder) and, for every
// phone contact the supporter serves, buttons to connect the caller to the
// browser or to the supporter's own phone. It listens to the console's frames
// (the "console:frame" event of console.js) and never sees a caller's number:
// calls reach the browser with the platform's number as caller id.

import { fmt, make, postJson } from "./phone-dom.js";
import { WarmTransfers } from "./warm-transfer.js";

const S = JSON.parse(document.getElementById("phone-strings").textContent);
const OWN_NUMBER_KEY = "helpdesk.phone.ownNumber";
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error("script failed to load"));
    document.head.append(script);
  });
}

class Phone {
  constructor() {
    this.status = null;
    this.device = null;
    this.ready = false; // registered with Twilio: calls can reach this browser
    this.call = null; // the live softphone call
    this.cards = new Map(); // contact id -> card elements
    this.build();
    this.warm = new WarmTransfers(this, S);
  }

  build() {
    this.statusLine = make("p", { id: "phone-status", class: "phone-status", role: "status" });
    this.ownNumber = make("input", {
      id: "phone-own-number",
      type: "tel",
      inputmode: "tel",
      autocomplete: "tel",
      maxlength: "40",
    });
    this.ownNumber.value = localStorage.getItem(OWN_NUMBER_KEY) || "";
    this.ownNumber.addEventListener("change", () => localStorage.setItem(OWN_NUMBER_KEY, this.ownNumber.value.trim()));
    this.controls = make("p", { class: "phone-controls", hidden: "" });
    this.muteButton = make("button", { type: "button", class: "secondary", text: S.mute, onclick: () => this.toggleMute() });
    this.hangButton = make("button", { type: "button", class: "secondary", text: S.hangUp, onclick: () => this.hangUp() });
    this.controls.append(this.muteButton, this.hangButton);
    this.list = make("ul", { id: "phone-calls", class: "phone-calls" });
    this.section = make(
      "section",
      { id: "phone-panel", class: "phone-panel", "aria-labelledby": "phone-heading" },
      make("h2", { id: "phone-heading", text: S.title }),
      this.statusLine,
      make("label", { for: "phone-own-number", text: S.ownNumber }),
      this.ownNumber,
      this.controls,
      this.list,
    );
    const pane = document.querySelector(".queue-pane") || document.getElementById("console");
    if (pane) pane.prepend(this.section);
  }

  say(text) {
    this.statusLine.textContent = text;
  }

  async start() {
    try {
      const response = await fetch("/telephony/status", { credentials: "same-origin" });
      this.status = await response.json();
    } catch (_e) {
      this.status = { configured: false };
    }
    if (!this.status.configured) {
      this.section.dataset.state = "not-configured";
      this.say(S.notConfigured);
      return;
    }
    if (!this.status.sdk_installed) {
      this.section.dataset.state = "no-sdk";
      this.say(S.noSdk);
      return;
    }
    if (!this.status.softphone) {
      this.section.dataset.state = "no-softphone";
      this.say(S.noSoftphone);
      return;
    }
    this.say(S.starting);
    try {
      await loadScript(this.status.sdk_url);
      await this.startDevice();
      this.ready = true;
      this.section.dataset.state = "ready";
      this.say(S.ready);
    } catch (_e) {
      this.failed();
    }
    this.cards.forEach((card) => this.renderCard(card));
    this.warm.softphone(this.ready);
  }

  failed() {
    this.ready = false;
    this.section.dataset.state = "sdk-failed";
    this.say(S.sdkFailed);
    this.cards.forEach((card) => this.renderCard(card));
    this.warm.softphone(false);
  }

  async token() {
    const { ok, data } = await postJson("/telephony/token");
    if (!ok || !data.token) throw new Error(data.detail || "no token");
    return data;
  }

  async startDevice() {
    const first = await this.token();
    const Device = window.Twilio && window.Twilio.Device;
    if (!Device) throw new Error("no Device");
    this.device = new Device(first.token, { closeProtection: true, tokenRefreshMs: 60000 });
    // Renewed before it expires: the SDK warns a minute ahead, a timer backs it up.
    this.device.on("tokenWillExpire", () => this.renewToken());
    this.renewTimer = setInterval(() => this.renewToken(), Math.max(30, first.ttl_s * 0.8) * 1000);
    this.device.on("incoming", (call) => this.incoming(call));
    this.device.on("error", () => this.failed());
    this.device.on("unregistered", () => this.failed());
    await this.device.register();
  }

  async renewToken() {
    if (!this.device) return;
    try {
      const next = await this.token();
      this.device.updateToken(next.token);
    } catch (_e) {
      this.say(S.sdkFailed);
    }
  }

  incoming(call) {
    // Only calls this supporter asked for reach this identity: answer at once.
    this.call = call;
    call.accept();
    this.controls.hidden = false;
    this.muteButton.textContent = S.mute;
    this.say(S.connected);
    call.on("disconnect", () => this.callOver());
    call.on("cancel", () => this.callOver());
  }

  callOver() {
    this.call = null;
    this.controls.hidden = true;
    this.say(this.ready ? S.ready : S.sdkFailed);
  }

  toggleMute() {
    if (!this.call) return;
    const muted = !this.call.isMuted();
    this.call.mute(muted);
    this.muteButton.textContent = muted ? S.unmute : S.mute;
  }

  hangUp() {
    if (this.call) this.call.disconnect();
  }

  // --- phone contacts ---------------------------------------------------

  onFrame(frame) {
    if (frame.type === "welcome") {
      (frame.contacts || []).forEach((c) => this.serving(c));
      this.warm.restore();
    }
    else if (frame.type === "contact.assigned") this.serving(frame.contact || {});
    else if (frame.type === "contact.state" && ["ended", "abandoned", "transferred", "escalated"].includes(frame.state)) {
      // Handed over: leaving the call puts the caller back in the queue for the next supporter.
      if (this.call && this.cards.has(frame.contact) && ["transferred", "escalated"].includes(frame.state)) this.hangUp();
      this.drop(frame.contact);
    }
    else if (frame.type === "phone.call") this.callEvent(frame);
    else if (frame.type === "phone.transfer") this.warm.onFrame(frame);
  }

  serving(contact) {
    if (contact.channel !== "phone" || this.cards.has(contact.id)) return;
    const card = { contact, li: make("li", { class: "phone-call", "data-contact": contact.id }) };
    this.cards.set(contact.id, card);
    this.list.append(card.li);
    this.renderCard(card);
  }

  renderCard(card) {
    const { contact } = card;
    card.note = make("p", { class: "phone-note", role: "status" });
    const buttons = make("p", { class: "phone-actions" });
    if (this.ready) {
      buttons.append(make("button", { type: "button", class: "answer-browser", text: S.answerBrowser, onclick: () => this.connect(card, "browser") }));
    }
    if (this.status && this.status.configured) {
      buttons.append(make("button", { type: "button", class: "answer-phone secondary", text: S.answerPhone, onclick: () => this.connect(card, "phone") }));
    }
    if (this.status && this.status.configured) {
      buttons.append(make("button", { type: "button", class: "hold-call secondary", text: S.hold, onclick: () => this.hold(card) }));
    }
    card.li.replaceChildren(make("p", { text: fmt(S.callFrom, { name: contact.pseudonym || "" }) }), buttons, card.note);
    if (this.status && this.status.configured) card.li.append(this.warm.controls(card));
  }

  async connect(card, via) {
    const body = { via };
    if (via === "phone") {
      body.number = this.ownNumber.value.trim();
      if (!body.number) {
        card.note.textContent = S.needNumber;
        this.ownNumber.focus();
        return;
      }
    }
    card.note.textContent = S.connecting;
    const { ok, data } = await postJson(`/telephony/contacts/${encodeURIComponent(card.contact.id)}/connect`, body);
    if (!ok) card.note.textContent = fmt(S.failed, { detail: data.detail || "" });
    else card.note.textContent = data.state === "dialling" ? S.dialling : S.connecting;
  }

  async hold(card) {
    const { ok, data } = await postJson(`/telephony/contacts/${encodeURIComponent(card.contact.id)}/hold`);
    card.note.textContent = ok ? S.onHold : fmt(S.failed, { detail: data.detail || "" });
  }

  callEvent(frame) {
    const card = this.cards.get(frame.contact);
    if (!card) return;
    const texts = { ended: S.ended, not_connected: S.notConnected, callback_failed: S.callbackFailed };
    card.note.textContent = texts[frame.call] || "";
  }

  drop(contactId) {
    const card = this.cards.get(contactId);
    if (!card) return;
    card.li.remove();
    this.cards.delete(contactId);
  }
}

const phone = new Phone();
document.addEventListener("console:frame", (event) => phone.onFrame(event.detail));
phone.start();
