// Supporter console: video and screen sharing per chat panel (video-call.js).
// The supporter proposes video or asks to see the customer's screen; the
// customer decides. Relay-only sessions (volunteers) are the server's call:
// the peer connection uses exactly the ICE servers and policy it sent.
import { VideoCall, show, videoStrings } from "./video-call.js";
import { fmt } from "./socket.js";

const V = videoStrings();

class PanelVideo {
  constructor(app, contact) {
    this.app = app;
    this.contact = contact;
    this.proposal = null;
    this.call = new VideoCall({
      side: "supporter",
      contact,
      send: (frame) => app.send(frame),
      onChange: () => this.render(),
      onError: (err) => this.status(fmt(V.mediaFailed, { error: err && err.name ? err.name : String(err) })),
    });
    this.bound = null;
  }

  panel() {
    const panel = document.getElementById(`panel-${this.contact}`);
    if (panel && panel !== this.bound) this.bind(panel);
    return panel;
  }

  q(selector) {
    const panel = this.panel();
    return panel ? panel.querySelector(selector) : null;
  }

  bind(panel) {
    this.bound = panel;
    const on = (selector, handler) => {
      const node = panel.querySelector(selector);
      if (node) node.addEventListener("click", handler);
    };
    on(".video-start", () => this.app.send({ type: "rtc.propose", contact: this.contact, kind: "video" }));
    on(".video-ask-screen", () => this.app.send({ type: "rtc.propose", contact: this.contact, kind: "screen" }));
    on(".video-hangup", () => this.app.send({ type: "rtc.stop", contact: this.contact, kind: "all" }));
    on(".video-camera", () => this.toggleCamera());
    on(".video-accept", () => this.answer(true));
    on(".video-decline", () => this.answer(false));
    this.render();
  }

  status(text) {
    const node = this.q(".video-status");
    if (node) node.textContent = text || "";
  }

  answer(accept) {
    const open = this.proposal;
    this.prompt(null);
    if (open) this.app.send({ type: accept ? "rtc.accept" : "rtc.decline", contact: this.contact, proposal: open.proposal });
  }

  prompt(proposal) {
    this.proposal = proposal;
    const box = this.q(".video-prompt");
    if (!box) return;
    box.hidden = !proposal;
    if (proposal) {
      box.querySelector(".video-prompt-text").textContent = proposal.kind === "screen" ? V.offersScreen : V.offersVideo;
    }
  }

  async toggleCamera() {
    try {
      if (this.call.camera) await this.call.cameraOff();
      else await this.call.cameraOn();
    } catch (err) {
      this.status(fmt(V.mediaFailed, { error: err && err.name ? err.name : String(err) }));
    }
  }

  onFrame(frame) {
    switch (frame.type) {
      case "rtc.proposal":
        this.prompt({ proposal: frame.proposal, kind: frame.kind });
        break;
      case "rtc.proposed":
        this.status(V.waitingAnswer);
        break;
      case "rtc.declined":
        if (this.proposal && this.proposal.proposal === frame.proposal) this.prompt(null);
        if (frame.by === "customer") this.status(V.customerDeclined);
        break;
      case "rtc.start":
        this.prompt(null);
        this.status(frame.kind === "screen" ? V.screenOnSupporter : V.videoOn);
        this.call.handle(frame);
        break;
      case "rtc.stopped":
        this.call.handle(frame);
        this.status(frame.ended ? V.videoEnded : V.screenOff);
        break;
      default:
        this.call.handle(frame);
    }
    this.render();
  }

  render() {
    const panel = this.panel();
    if (!panel) return;
    const call = this.call;
    const live = Boolean(call.pc);
    const set = (selector, fn) => {
      const node = panel.querySelector(selector);
      if (node) fn(node);
    };
    set(".video-start", (n) => (n.hidden = live));
    set(".video-ask-screen", (n) => (n.hidden = call.kinds.has("screen")));
    set(".video-hangup", (n) => (n.hidden = !live));
    set(".video-camera", (n) => {
      n.hidden = !live;
      n.textContent = call.camera ? V.cameraOff : V.cameraOn;
      n.setAttribute("aria-pressed", call.camera ? "true" : "false");
    });
    set(".video-remote", (n) => show(n, live ? call.remoteCamera : null));
    set(".video-remote-screen", (n) => show(n, live ? call.remoteScreen : null));
    set(".video-local", (n) => show(n, call.camera));
  }

  close() {
    this.call.close();
    this.prompt(null);
    this.render();
  }
}

class ConsoleVideo {
  constructor() {
    this.socket = null;
    this.panels = new Map();
    document.addEventListener("helpdesk:frame", (event) => this.onFrame(event.detail));
    // Each chat panel gets its video controls as soon as console.js adds it.
    const panels = document.getElementById("chat-panels");
    if (panels) {
      const bindAll = () => {
        for (const panel of panels.querySelectorAll(".chat-panel[id^='panel-']")) {
          this.video(panel.id.slice("panel-".length)).panel();
        }
      };
      new MutationObserver(bindAll).observe(panels, { childList: true });
      bindAll();
    }
  }

  send(frame) {
    if (this.socket) this.socket.send(frame);
  }

  video(contact) {
    let panel = this.panels.get(contact);
    if (!panel) {
      panel = new PanelVideo(this, contact);
      this.panels.set(contact, panel);
    }
    return panel;
  }

  onFrame({ frame, socket }) {
    this.socket = socket;
    const contact = typeof frame.contact === "string" ? frame.contact : null;
    if (frame.type === "contact.state" && contact && this.panels.has(contact)) {
      if (!["active", "on_hold"].includes(frame.state)) {
        this.panels.get(contact).close();
        this.panels.delete(contact);
      }
      return;
    }
    if (frame.type === "error" && typeof frame.ref === "string" && frame.ref.startsWith("rtc.")) {
      for (const panel of this.panels.values()) panel.status(V[`error_${frame.code}`] || frame.detail);
      return;
    }
    if (!contact || !frame.type || !frame.type.startsWith("rtc.")) return;
    this.video(contact).onFrame(frame);
  }
}

if (window.RTCPeerConnection) new ConsoleVideo();
