// The device check page: send camera, microphone and a data channel to the
// server's measuring peer (POST /api/device-check/, docs/protocol.md) and show
// its report in plain words. Nothing is recorded; the tracks stop at the end.
import { el, fmt, loadStrings } from "./socket.js";

const S = loadStrings();
const root = document.getElementById("device-check");
const $ = (id) => document.getElementById(id);

function iceServers() {
  try {
    return JSON.parse($("dc-ice-servers").textContent) || [];
  } catch (err) {
    return [];
  }
}

function setStatus(text) {
  $("dc-status").textContent = text;
}

function addLine(text, tone) {
  $("dc-lines").appendChild(el("li", { class: tone, text }));
}

function addAdvice(text) {
  $("dc-advice").appendChild(el("li", { text }));
  $("dc-advice-box").hidden = false;
}

function resetView() {
  $("dc-lines").replaceChildren();
  $("dc-advice").replaceChildren();
  $("dc-advice-box").hidden = true;
  $("dc-result").hidden = true;
  $("dc-level-row").hidden = true;
  setStatus("");
}

// Ask for both; when one kind is missing, go on with the other and say so.
async function getMedia() {
  const wants = [
    { video: { width: 640, height: 480 }, audio: true },
    { video: false, audio: true },
    { video: { width: 640, height: 480 }, audio: false },
  ];
  let lastError = null;
  for (const constraints of wants) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      lastError = err;
      if (err.name === "NotAllowedError" || err.name === "SecurityError") throw err;
    }
  }
  throw lastError;
}

function waitForGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function showReport(report, stream) {
  const v = report.video;
  const a = report.audio;
  const c = report.connection;
  const verdict = report.verdict;
  $("dc-result").hidden = false;

  if (verdict.camera === "ok") {
    addLine(fmt(S.cameraOk, { width: v.width, height: v.height, fps: Math.round(v.fps) }), "ok");
  } else if (verdict.camera === "slow") {
    addLine(fmt(S.cameraSlow, { fps: v.fps }), "warn");
    addAdvice(S.adviceSlow);
  } else if (verdict.camera === "no_frames") {
    addLine(S.cameraNoFrames, "bad");
    addAdvice(S.adviceNoFrames);
  } else {
    addLine(S.cameraNone, "bad");
    addAdvice(S.adviceNoCamera);
  }

  if (verdict.microphone === "ok") addLine(S.micOk, "ok");
  else if (verdict.microphone === "quiet") {
    addLine(S.micQuiet, "warn");
    addAdvice(S.adviceQuiet);
  } else if (verdict.microphone === "silent") {
    addLine(S.micSilent, "bad");
    addAdvice(S.adviceSilent);
  } else {
    addLine(S.micNone, "bad");
    addAdvice(S.adviceNoMic);
  }
  if (a) {
    const level = Math.round(a.loudest_dbfs);
    $("dc-level").value = Math.max(-60, Math.min(0, level));
    $("dc-level-text").textContent = fmt(S.level, { level });
    $("dc-level-row").hidden = false;
  }

  const numbers = { rtt: c.rtt_ms === null ? "?" : Math.round(c.rtt_ms), loss: c.loss_pct ?? 0 };
  if (verdict.connection === "good") addLine(fmt(S.connGood, numbers), "ok");
  else if (verdict.connection === "fair") {
    addLine(fmt(S.connFair, numbers), "warn");
    addAdvice(S.adviceConnection);
  } else if (verdict.connection === "poor") {
    addLine(fmt(S.connPoor, numbers), "bad");
    addAdvice(S.adviceConnection);
  } else {
    addLine(S.connUnknown, "warn");
    addAdvice(S.adviceConnUnknown);
  }
  const audioTrack = stream.getAudioTracks()[0];
  if (audioTrack && audioTrack.muted && verdict.microphone !== "ok") addAdvice(S.mutedBefore);
  setStatus(S.done);
  $("dc-result-heading").focus();
}

async function runCheck() {
  const button = $("dc-start");
  button.disabled = true;
  resetView();
  if (!navigator.mediaDevices || !window.RTCPeerConnection) {
    setStatus(S.unsupported);
    addAdvice(S.adviceUnsupported);
    button.disabled = false;
    return;
  }
  setStatus(S.asking);
  let stream;
  try {
    stream = await getMedia();
  } catch (err) {
    const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
    setStatus(denied ? S.denied : S.noDevices);
    addAdvice(denied ? S.adviceDenied : S.adviceNoDevices);
    button.disabled = false;
    return;
  }
  const preview = $("dc-preview");
  if (stream.getVideoTracks().length) {
    preview.srcObject = stream;
    preview.hidden = false;
  }

  const pc = new RTCPeerConnection({ iceServers: iceServers() });
  const finish = () => {
    pc.close();
    stream.getTracks().forEach((track) => track.stop());
    preview.srcObject = null;
    preview.hidden = true;
    button.textContent = S.again;
    button.disabled = false;
  };
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  const channel = pc.createDataChannel("device-check");
  let reported = false;
  channel.addEventListener("message", (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    if (data.type === "ping") channel.send(JSON.stringify({ type: "pong", id: data.id }));
    else if (data.type === "report" && !reported) {
      reported = true;
      channel.send(JSON.stringify({ type: "done" }));
      showReport(data, stream);
      root.dataset.report = JSON.stringify(data);
      setTimeout(finish, 200);
    }
  });

  setStatus(S.connecting);
  let answer;
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc, 5000);
    const response = await fetch(root.dataset.api, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }),
      credentials: "omit",
    });
    if (response.status === 503) throw new Error(S.busy);
    if (response.status === 429) throw new Error(S.tooMany);
    if (!response.ok) throw new Error(S.failed);
    answer = await response.json();
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  } catch (err) {
    setStatus(err && err.message && Object.values(S).includes(err.message) ? err.message : S.failed);
    finish();
    return;
  }
  setStatus(S.measuring);
  let gaveUp = false;
  const giveUp = () => {
    if (reported || gaveUp) return;
    gaveUp = true;
    setStatus(S.noConnection);
    addAdvice(S.adviceNoConnection);
    finish();
  };
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed") giveUp();
  });
  setTimeout(giveUp, (answer.duration_s + 15) * 1000);
}

if (root) {
  $("dc-start").addEventListener("click", () => {
    runCheck().catch(() => {
      setStatus(S.failed);
      $("dc-start").disabled = false;
    });
  });
}
