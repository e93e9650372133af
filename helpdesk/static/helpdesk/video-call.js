// One WebRTC video session of a contact, browser to browser (docs/protocol.md, "Video").
//
// The server hands out the ICE servers in `rtc.start`; the peer connection is
// built with exactly those (an empty list means none: never a browser default
// or a public STUN server) and with iceTransportPolicy "relay" when the
// contact's addresses must stay private. The customer makes every offer (the
// first and each renegotiation when screen sharing starts or stops); the
// supporter only answers. Camera and microphone go on the first two
// transceivers, so turning the camera on or off needs no renegotiation; the
// customer's screen is the third. Nothing is recorded.

export const CAMERA_CONSTRAINTS = { video: { width: 640, height: 480 }, audio: true };

export class VideoCall {
  /**
   * @param {{side: "customer"|"supporter", contact: string, send: (frame: object) => void,
   *          onChange?: (call: VideoCall) => void, onError?: (err: Error) => void}} options
   */
  constructor({ side, contact, send, onChange, onError }) {
    this.side = side;
    this.contact = contact;
    this.sendFrame = send;
    this.onChange = onChange || (() => {});
    this.onError = onError || ((err) => console.error("video", err));
    this.pc = null;
    this.session = null;
    this.kinds = new Set();
    this.camera = null; // local camera + microphone stream
    this.screen = null; // the customer's shared screen stream
    this.remoteCamera = new MediaStream();
    this.remoteScreen = new MediaStream();
    this.pendingCandidates = [];
    this.negotiating = Promise.resolve();
  }

  send(frame) {
    const full = { ...frame, session: this.session };
    if (this.side === "supporter") full.contact = this.contact;
    this.sendFrame(full);
  }

  get offerer() {
    return this.side === "customer";
  }

  /** `rtc.start` for this socket: a new session, or a kind added to this one. */
  async start(frame) {
    if (!this.pc || frame.new_session || frame.session !== this.session) {
      const prepared = this.screen; // picked by the customer's click before the accept
      this.screen = null;
      this.close();
      this.screen = prepared;
      this.session = frame.session;
      this.pc = new RTCPeerConnection({
        iceServers: Array.isArray(frame.ice_servers) ? frame.ice_servers : [],
        iceTransportPolicy: frame.ice_transport_policy === "relay" ? "relay" : "all",
      });
      this.pc.addEventListener("icecandidate", (event) => {
        if (event.candidate && event.candidate.candidate) {
          this.send({ type: "rtc.candidate", candidate: event.candidate.toJSON() });
        }
      });
      this.pc.addEventListener("track", (event) => this.onTrack(event));
      this.pc.addEventListener("connectionstatechange", () => this.onChange(this));
      if (this.offerer) {
        this.audio = this.pc.addTransceiver("audio", { direction: "sendrecv" });
        this.video = this.pc.addTransceiver("video", { direction: "sendrecv" });
      }
    }
    this.kinds = new Set(frame.kinds || []);
    this.scheduleRefresh(frame.expires_at);
    if (this.side === "supporter" && !this.camera) {
      // The supporter chose video by proposing or accepting it: their camera goes on.
      await this.cameraOn().catch((err) => this.onError(err));
    }
    if (this.offerer) {
      if (this.kinds.has("screen") && this.screen && !this.screenAttached()) await this.shareScreen();
      else await this.negotiate();
    }
    this.onChange(this);
  }

  /** Asks for fresh TURN credentials ten minutes before these expire. */
  scheduleRefresh(expiresAt) {
    clearTimeout(this.refreshTimer);
    const expires = expiresAt ? Date.parse(expiresAt) : NaN;
    if (Number.isNaN(expires)) return;
    const delay = Math.max(60_000, expires - Date.now() - 600_000);
    this.refreshTimer = setTimeout(() => this.send({ type: "rtc.ice" }), delay);
  }

  /** `rtc.ice`: new credentials; the customer restarts ICE with them (an offer). */
  async refreshed(frame) {
    if (!this.pc || frame.session !== this.session) return;
    this.pc.setConfiguration({
      iceServers: Array.isArray(frame.ice_servers) ? frame.ice_servers : [],
      iceTransportPolicy: frame.ice_transport_policy === "relay" ? "relay" : "all",
    });
    this.scheduleRefresh(frame.expires_at);
    if (this.offerer) await this.negotiate({ iceRestart: true });
  }

  screenAttached() {
    return Boolean(this.screenTransceiver && this.screenTransceiver.direction === "sendonly");
  }

  /** Asks the browser for a screen: must run in the customer's click (a user gesture). */
  async prepareScreen() {
    if (this.screen) return this.screen;
    this.screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const [track] = this.screen.getVideoTracks();
    // Stopped from the browser's own "Stop sharing" bar: stop it for the supporter too.
    track.addEventListener("ended", () => {
      if (this.kinds.has("screen")) this.send({ type: "rtc.stop", kind: "screen" });
      else this.dropScreen();
    });
    this.onChange(this);
    return this.screen;
  }

  dropScreen() {
    if (this.screen) this.screen.getTracks().forEach((t) => t.stop());
    this.screen = null;
    this.onChange(this);
  }

  onTrack(event) {
    const mids = this.pc.getTransceivers().map((t) => t.mid);
    // The third m-line is the customer's screen; the first two camera and microphone.
    const isScreen = event.transceiver && mids.indexOf(event.transceiver.mid) >= 2;
    const stream = isScreen ? this.remoteScreen : this.remoteCamera;
    stream.getTracks().filter((t) => t.kind === event.track.kind).forEach((t) => stream.removeTrack(t));
    stream.addTrack(event.track);
    event.track.addEventListener("unmute", () => this.onChange(this));
    this.onChange(this);
  }

  /** The customer's offer (the first, or after a transceiver change); serialised. */
  negotiate(options = {}) {
    this.negotiating = this.negotiating.then(async () => {
      if (!this.pc || this.pc.signalingState === "closed") return;
      const offer = await this.pc.createOffer(options);
      await this.pc.setLocalDescription(offer);
      this.send({ type: "rtc.offer", sdp: this.pc.localDescription.sdp });
    }).catch((err) => this.onError(err));
    return this.negotiating;
  }

  async onOffer(frame) {
    if (!this.pc || frame.session !== this.session) return;
    await this.pc.setRemoteDescription({ type: "offer", sdp: frame.sdp });
    await this.flushCandidates();
    const transceivers = this.pc.getTransceivers();
    // Answer on the camera and microphone transceivers with this side's camera.
    this.audio = transceivers[0];
    this.video = transceivers[1];
    for (const t of transceivers.slice(0, 2)) t.direction = "sendrecv";
    if (this.camera) await this.attachCamera();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.send({ type: "rtc.answer", sdp: this.pc.localDescription.sdp });
  }

  async onAnswer(frame) {
    if (!this.pc || frame.session !== this.session) return;
    await this.pc.setRemoteDescription({ type: "answer", sdp: frame.sdp });
    await this.flushCandidates();
  }

  async onCandidate(frame) {
    if (!this.pc || frame.session !== this.session || !frame.candidate) return;
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(frame.candidate);
      return;
    }
    await this.pc.addIceCandidate(frame.candidate).catch((err) => this.onError(err));
  }

  async flushCandidates() {
    const waiting = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const candidate of waiting) {
      await this.pc.addIceCandidate(candidate).catch((err) => this.onError(err));
    }
  }

  async attachCamera() {
    if (!this.pc || !this.video || !this.audio) return;
    const [videoTrack] = this.camera ? this.camera.getVideoTracks() : [];
    const [audioTrack] = this.camera ? this.camera.getAudioTracks() : [];
    await this.video.sender.replaceTrack(videoTrack || null);
    await this.audio.sender.replaceTrack(audioTrack || null);
  }

  async cameraOn() {
    if (!this.camera) this.camera = await navigator.mediaDevices.getUserMedia(CAMERA_CONSTRAINTS);
    await this.attachCamera();
    this.onChange(this);
  }

  async cameraOff() {
    if (this.camera) this.camera.getTracks().forEach((t) => t.stop());
    this.camera = null;
    await this.attachCamera();
    this.onChange(this);
  }

  /** Sends the prepared screen, once the supporter accepted `screen` (rtc.start). */
  async shareScreen() {
    if (this.side !== "customer" || !this.pc || !this.screen) return;
    const [track] = this.screen.getVideoTracks();
    if (this.screenTransceiver) {
      this.screenTransceiver.direction = "sendonly";
      await this.screenTransceiver.sender.replaceTrack(track);
    } else {
      this.screenTransceiver = this.pc.addTransceiver(track, { direction: "sendonly", streams: [this.screen] });
    }
    await this.negotiate();
    this.onChange(this);
  }

  async screenStopped() {
    if (this.screen) this.screen.getTracks().forEach((t) => t.stop());
    this.screen = null;
    this.remoteScreen.getTracks().forEach((t) => this.remoteScreen.removeTrack(t));
    if (this.side === "customer" && this.screenTransceiver && this.pc) {
      await this.screenTransceiver.sender.replaceTrack(null);
      this.screenTransceiver.direction = "inactive";
      await this.negotiate();
    }
    this.onChange(this);
  }

  /** `rtc.stopped` from the server: what stopped, and whether the session ended. */
  async stopped(frame) {
    if (frame.session !== this.session) return;
    this.kinds = new Set(frame.kinds || []);
    if (frame.ended) {
      this.close();
    } else if ((frame.stopped || []).includes("screen")) {
      await this.screenStopped();
    }
    this.onChange(this);
  }

  close() {
    clearTimeout(this.refreshTimer);
    for (const stream of [this.camera, this.screen]) if (stream) stream.getTracks().forEach((t) => t.stop());
    this.camera = null;
    this.screen = null;
    this.screenTransceiver = null;
    this.audio = null;
    this.video = null;
    if (this.pc) this.pc.close();
    this.pc = null;
    this.session = null;
    this.kinds = new Set();
    this.pendingCandidates = [];
    this.remoteCamera = new MediaStream();
    this.remoteScreen = new MediaStream();
  }

  /** Dispatch one `rtc.*` frame of this contact. */
  async handle(frame) {
    try {
      if (frame.type === "rtc.start" && frame.here) await this.start(frame);
      else if (frame.type === "rtc.offer") await this.onOffer(frame);
      else if (frame.type === "rtc.answer") await this.onAnswer(frame);
      else if (frame.type === "rtc.candidate") await this.onCandidate(frame);
      else if (frame.type === "rtc.stopped") await this.stopped(frame);
      else if (frame.type === "rtc.ice") await this.refreshed(frame);
    } catch (err) {
      this.onError(err);
    }
  }
}

/** Reads the page's video texts (a JSON block, no inline script). */
export function videoStrings() {
  const node = document.getElementById("video-strings");
  try {
    return node ? JSON.parse(node.textContent) : {};
  } catch (err) {
    return {};
  }
}

/** Shows a stream in a <video>, hiding it when there is nothing to show. */
export function show(videoElement, stream) {
  const live = Boolean(stream && stream.getTracks().some((t) => t.readyState === "live"));
  if (videoElement.srcObject !== stream) videoElement.srcObject = live ? stream : null;
  if (!live) videoElement.srcObject = null;
  videoElement.hidden = !live;
  if (live) videoElement.play().catch(() => {});
}
