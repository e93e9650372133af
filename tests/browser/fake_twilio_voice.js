// A stand-in for @twilio/voice-sdk in browser tests: a Device that registers at
// once and rings when the test says so, and calls that record mute and accept.
(() => {
  class Emitter {
    constructor() {
      this.handlers = {};
    }
    on(name, fn) {
      (this.handlers[name] = this.handlers[name] || []).push(fn);
    }
    emit(name, ...args) {
      (this.handlers[name] || []).forEach((fn) => fn(...args));
    }
  }
  class FakeCall extends Emitter {
    constructor() {
      super();
      this.muted = false;
      this.accepted = false;
    }
    accept() {
      this.accepted = true;
    }
    mute(value) {
      this.muted = value !== false;
    }
    isMuted() {
      return this.muted;
    }
    disconnect() {
      this.emit("disconnect");
    }
  }
  class Device extends Emitter {
    constructor(token) {
      super();
      this.token = token;
      window.__twilioStandIn.devices.push(this);
    }
    async register() {
      this.registered = true;
    }
    updateToken(token) {
      this.token = token;
    }
  }
  window.__twilioStandIn = {
    devices: [],
    calls: [],
    ring() {
      const call = new FakeCall();
      this.calls.push(call);
      this.devices.forEach((d) => d.emit("incoming", call));
      return this.devices.length;
    },
  };
  window.Twilio = { Device };
})();
