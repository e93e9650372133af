// Customer page: video and screen sharing with the supporter (video-call.js).
// The camera stays off until the customer turns it on; the screen is shared
// only after the customer picks it and the supporter accepts; the customer can
// stop either, or end the video, at any time. Nothing is ever recorded.
import { VideoCall, show, videoStrings } from "./video-call.js";
import { fmt } from "./socket.js";

const V = videoStrings();
const $ = (id) => document.getElementById(id);
const SERVED = new Set(["active", "on_hold"]);

class CustomerVideo {
  constructor(area) {
    this.area = area;
    this.socket = null;
    this.contact = null;
    this.state = null;
    this.proposal = null; // the supporter's open proposal {proposal, kind}
    this.mine = null; // this page's open proposal {proposal, kind}
    this.call = null;
    this.folded = false; // the customer hid the picture (the call goes on)
    document.addEventListener("helpdesk:frame", (event) => this.onFrame(event.detail));
    $("video-start").addEventListener("click", () => this.propose("video"));
    $("video-screen").addEventListener("click", () => this.offerScreen());
    $("video-screen-stop").addEventListener("click", () => this.send({ type: "rtc.stop", kind: "screen" }));
    $("video-hangup").addEventListener("click", () => this.send({ type: "rtc.stop", kind: "all" }));
    $("video-camera").addEventListener("click", () => this.toggleCamera());
    $("video-accept").addEventListener("click", () => this.answer(true));
    $("video-decline").addEventListener("click", () => this.answer(false));
    $("video-fold").addEventListener("click", () => {
      this.folded = !this.folded;
      this.render();
    });
  }

  send(frame) {
    if (this.socket) this.socket.send(frame);
  }

  status(text) {
    $("video-status").textContent = text || "";
  }

  ensureCall() {
    if (!this.call) {
      this.call = new VideoCall({
        side: "customer",
        contact: this.contact,
        send: (frame) => this.send(frame),
        onChange: () => this.render(),
        onError: (err) => this.status(fmt(V.mediaFailed, { error: err && err.name ? err.name : String(err) })),
      });
    }
    return this.call;
  }

  onFrame({ frame, socket }) {
    this.socket = socket;
    if (frame.type === "welcome" && frame.contact) {
      this.contact = frame.contact.id;
      if (frame.contact.channel === "video") this.area.classList.add("video-contact");
      this.setState(frame.contact.state);
      return;
    }
    if (frame.type === "contact.state") {
      this.setState(frame.state);
      return;
    }
    if (frame.type === "error" && typeof frame.ref === "string" && frame.ref.startsWith("rtc.")) {
      this.status(V[`error_${frame.code}`] || V.error_generic);
      return;
    }
    if (!frame.type || !frame.type.startsWith("rtc.")) return;
    switch (frame.type) {
      case "rtc.proposal":
        this.proposal = { proposal: frame.proposal, kind: frame.kind };
        $("video-prompt-text").textContent = frame.kind === "screen" ? V.askScreen : V.askVideo;
        $("video-prompt").hidden = false;
        $("video-accept").focus();
        break;
      case "rtc.proposed":
        this.mine = { proposal: frame.proposal, kind: frame.kind };
        this.status(V.waitingAnswer);
        break;
      case "rtc.declined":
        if (this.mine && this.mine.proposal === frame.proposal) {
          this.mine = null;
          if (frame.kind === "screen" && this.call) this.call.dropScreen();
          this.status(frame.by === "supporter" ? V.declined : "");
        }
        if (this.proposal && this.proposal.proposal === frame.proposal) this.closePrompt();
        break;
      case "rtc.start":
        this.mine = null;
        this.closePrompt();
        this.status(frame.kind === "screen" ? V.screenOn : V.videoOn);
        this.ensureCall().handle(frame);
        break;
      case "rtc.stopped":
        if (this.call) this.call.handle(frame);
        this.status(frame.ended ? V.videoEnded : V.screenOff);
        break;
      default:
        if (this.call) this.call.handle(frame);
    }
    this.render();
  }

  setState(state) {
    this.state = state;
    const served = SERVED.has(state);
    this.area.hidden = !served;
    if (!served && this.call) {
      this.call.close();
      this.closePrompt();
    }
    this.render();
  }

  closePrompt() {
    this.proposal = null;
    $("video-prompt").hidden = true;
  }

  propose(kind) {
    this.send({ type: "rtc.propose", kind });
  }

  async offerScreen() {
    // The browser asks which screen while this click still counts as the customer's choice.
    try {
      await this.ensureCall().prepareScreen();
    } catch (err) {
      this.status(V.screenNotShared);
      return;
    }
    if (this.call.kinds.has("screen")) await this.call.shareScreen();
    else this.propose("screen");
  }

  async answer(accept) {
    const open = this.proposal;
    this.closePrompt();
    if (!open) return;
    if (accept && open.kind === "screen") {
      try {
        await this.ensureCall().prepareScreen();
      } catch (err) {
        this.status(V.screenNotShared);
        this.send({ type: "rtc.decline", proposal: open.proposal });
        return;
      }
    }
    this.send({ type: accept ? "rtc.accept" : "rtc.decline", proposal: open.proposal });
  }

  async toggleCamera() {
    const call = this.ensureCall();
    try {
      if (call.camera) await call.cameraOff();
      else await call.cameraOn();
    } catch (err) {
      this.status(fmt(V.mediaFailed, { error: err && err.name ? err.name : String(err) }));
    }
  }

  render() {
    const call = this.call;
    const live = Boolean(call && call.pc);
    const kinds = call ? call.kinds : new Set();
    $("video-start").hidden = live;
    $("video-camera").hidden = !live;
    $("video-camera").textContent = call && call.camera ? V.cameraOff : V.cameraOn;
    $("video-camera").setAttribute("aria-pressed", call && call.camera ? "true" : "false");
    $("video-screen").hidden = kinds.has("screen");
    $("video-screen-stop").hidden = !kinds.has("screen");
    $("video-hangup").hidden = !live;
    show($("video-remote"), live ? call.remoteCamera : null);
    show($("video-local"), call && call.camera ? call.camera : null);
    // During a call a narrow screen gets a compact video strip (video.css) so the
    // messages and the message box stay in sight; the picture can also be folded away.
    if (!live) this.folded = false;
    this.area.classList.toggle("in-call", live);
    this.area.classList.toggle("folded", live && this.folded);
    document.body.classList.toggle("video-call-on", live);
    const fold = $("video-fold");
    fold.hidden = !live;
    fold.textContent = this.folded ? V.unfold : V.fold;
    fold.setAttribute("aria-expanded", this.folded ? "false" : "true");
  }
}

const area = $("video-area");
if (area && window.RTCPeerConnection) {
  new CustomerVideo(area);
} else if (area) {
  const note = $("video-unsupported");
  if (note) note.hidden = false;
}
