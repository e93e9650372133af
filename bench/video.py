"""How many device checks one worker process sustains at once, and their CPU.

One uvicorn worker on loopback (bench/_common.py) runs the device-check peers
(realtime/video/device_check.py). This process ramps N concurrent clients,
each an aiortc peer sending camera video at 640×480 and 15 fps plus Opus
audio, and finds the largest N at which every check still receives at least
90% of the frames its client sent (the report carries the frames received;
the client counts what it sent). The worker's CPU comes from
/proc/<pid>/stat over each step's measuring period.

The clients share the machine's cores with the worker, so they are made
cheap: the video is encoded once before the run (VP8, 2 s looped, a keyframe
every second) and the audio too (Opus), and the client peers only packetise
and encrypt. Their own CPU is printed beside the worker's.

    .venv/bin/python bench/video.py [--steps 1,2,4,8,12,16] [--duration 6]

Last line: `video device_checks=<n> cpu_per_check_pct=<n> frames_ok_pct=<n>`
(cpu_per_check_pct is the percent of one core per check at that N;
frames_ok_pct the lowest share of frames received among its checks).
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from _common import ROOT, free_port, start_uvicorn, stop_servers
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

sys.path.insert(0, str(ROOT))
from realtime.video.device_check import use_loopback_only  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 15
VIDEO_CLOCK = 90_000
AUDIO_RATE, AUDIO_SAMPLES = 48_000, 960
OK_SHARE = 90.0


# --- pre-encoded media ------------------------------------------------------------


def encode_video(seconds: int = 2) -> list[bytes]:
    """VP8 frames of a moving textured picture at about 600 kbit/s, a keyframe each second.

    The texture (fixed noise, panning) makes the decoder work about as hard as
    on a camera picture; a flat synthetic picture would cost the worker far less.
    """
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS)
    codec.bit_rate = 600_000
    codec.options = {"deadline": "realtime", "cpu-used": "8", "g": str(FPS), "lag-in-frames": "0"}
    rng = np.random.default_rng(17)
    base = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    base[:, :, 0] //= 2
    base[:, :, 0] += np.linspace(0, 127, WIDTH, dtype=np.uint8)[None, :]
    packets: list[bytes] = []
    for i in range(seconds * FPS):
        picture = np.roll(np.roll(base, i * 6, axis=1), i * 3, axis=0)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        if i % FPS == 0:
            frame.pict_type = av.video.frame.PictureType.I
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets[: seconds * FPS]


def encode_audio(seconds: int = 1) -> list[bytes]:
    """Opus packets of a 440 Hz tone, 20 ms each."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = AUDIO_RATE, "stereo", "s16"
    codec.bit_rate = 32_000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    packets: list[bytes] = []
    for i in range(seconds * AUDIO_RATE // AUDIO_SAMPLES):
        t = (np.arange(AUDIO_SAMPLES) + i * AUDIO_SAMPLES) / AUDIO_RATE
        wave = (3000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = AUDIO_RATE, i * AUDIO_SAMPLES
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets


class LoopedPackets(MediaStreamTrack):
    """Sends pre-encoded packets in real time, looping; remembers when each went out."""

    def __init__(self, kind: str, packets: list[bytes], rate: float, clock: int):
        super().__init__()
        self.kind = kind
        self._packets, self._rate, self._clock = packets, rate, clock
        self._start: float | None = None
        self.sent_at: list[float] = []

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        n = len(self.sent_at)
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + n / self._rate - time.monotonic()))
        packet = av.Packet(self._packets[n % len(self._packets)])
        packet.pts = int(n * self._clock / self._rate)
        packet.time_base = fractions.Fraction(1, self._clock)
        self.sent_at.append(time.monotonic())
        return packet


# --- one client -------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    sent: int = 0
    received: int = 0
    error: str = ""
    report: dict = field(default_factory=dict)

    @property
    def share(self) -> float:
        return 100.0 * self.received / self.sent if self.sent else 0.0


def post_offer(url: str, sdp: str) -> dict:
    body = json.dumps({"type": "offer", "sdp": sdp}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def run_client(url: str, video: list[bytes], audio: list[bytes], wait_s: float) -> Outcome:
    pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
    camera = LoopedPackets("video", video, FPS, VIDEO_CLOCK)
    microphone = LoopedPackets("audio", audio, AUDIO_RATE / AUDIO_SAMPLES, AUDIO_RATE)
    pc.addTrack(camera)
    pc.addTrack(microphone)
    channel = pc.createDataChannel("device-check")
    report: asyncio.Future = asyncio.get_running_loop().create_future()

    @channel.on("message")
    def on_message(message):
        data = json.loads(message)
        if data.get("type") == "ping" and channel.readyState == "open":
            channel.send(json.dumps({"type": "pong", "id": data["id"]}))
        elif data.get("type") == "report" and not report.done():
            report.set_result((time.monotonic(), data))

    try:
        await pc.setLocalDescription(await pc.createOffer())
        try:
            answer = await asyncio.to_thread(post_offer, url, pc.localDescription.sdp)
        except urllib.error.HTTPError as exc:
            return Outcome(False, error=f"HTTP {exc.code}: {exc.read()[:200]!r}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        try:
            arrived, data = await asyncio.wait_for(report, wait_s)
        except TimeoutError:
            return Outcome(False, sent=len(camera.sent_at), error="no report")
        channel.send(json.dumps({"type": "done"}))
        # Frames still in flight when the report was made do not count as lost:
        # half a round trip, and the one frame the receiver's jitter buffer holds.
        rtt_s = (data["connection"]["rtt_ms"] or 0) / 1000
        cutoff = arrived - rtt_s / 2 - 1 / FPS
        sent = sum(1 for t in camera.sent_at if t <= cutoff)
        received = (data.get("video") or {}).get("frames", 0)
        return Outcome(True, sent=sent, received=min(received, sent), report=data)
    finally:
        await pc.close()


# --- the ramp ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_step(n: int, url: str, pid: int, video, audio, duration: float) -> dict:
    cpu0, own0, wall0 = cpu_seconds(pid), time.process_time(), time.monotonic()
    outcomes = await asyncio.gather(
        *(run_client(url, video, audio, duration + 30) for _ in range(n)),
        return_exceptions=True,
    )
    wall = time.monotonic() - wall0
    cpu, own = cpu_seconds(pid) - cpu0, time.process_time() - own0
    results = [
        o if isinstance(o, Outcome) else Outcome(False, error=f"{type(o).__name__}: {o}")
        for o in outcomes
    ]
    shares = [r.share for r in results]
    ok = all(r.ok for r in results) and min(shares) >= OK_SHARE
    return {
        "n": n,
        "ok": ok,
        "min_share": min(shares),
        "worker_cpu_pct": 100 * cpu / wall,
        "cpu_per_check_pct": 100 * cpu / wall / n,
        "client_cpu_pct": 100 * own / wall,
        "errors": [r.error for r in results if r.error][:3],
        "fps": [r.report.get("video", {}).get("fps") for r in results if r.report][:4],
        "wall_s": wall,
    }


async def ramp(steps: list[int], duration: float) -> list[dict]:
    use_loopback_only()
    video, audio = encode_video(), encode_audio()
    port = free_port()
    # The checks touch no database; the worker's health check gets an empty SQLite file.
    var_dir = tempfile.mkdtemp(prefix="helpdesk-bench-video-")
    env = {
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "HELPDESK_VAR_DIR": var_dir,
        "WEBRTC_LOOPBACK_ONLY": "1",
        "DEVICE_CHECK_DURATION_S": str(duration),
        "DEVICE_CHECK_TIMEOUT_S": str(duration + 30),
        "DEVICE_CHECK_MAX_CONCURRENT": str(max(steps) + 1),
        "DEVICE_CHECK_RATE_LIMIT": "100000/minute",
        "ROUTING_TICKER_ENABLED": "0",
        "RETENTION_PURGE_EVERY_S": "0",
        "LOG_LEVEL": "WARNING",
    }
    server = start_uvicorn(port, env, log_name="bench-video")
    url = f"http://127.0.0.1:{port}/api/device-check/"
    results = []
    try:
        for n in steps:
            step = await run_step(n, url, server.pid, video, audio, duration)
            results.append(step)
            print(
                f"step n={n}: {'ok' if step['ok'] else 'FAILED'} "
                f"frames_ok_min={step['min_share']:.1f}% "
                f"worker_cpu={step['worker_cpu_pct']:.0f}% "
                f"per_check={step['cpu_per_check_pct']:.1f}% "
                f"client_cpu={step['client_cpu_pct']:.0f}% fps={step['fps']} "
                f"wall={step['wall_s']:.1f}s"
                + (f" errors={step['errors']}" if step["errors"] else ""),
                flush=True,
            )
            if not step["ok"]:
                break
            await asyncio.sleep(1.0)  # let the worker close the step's peers
    finally:
        stop_servers([server])
        shutil.rmtree(var_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="1,2,4,6,8,10,12,16", help="concurrent checks")
    parser.add_argument("--duration", type=float, default=6.0, help="each check's seconds")
    args = parser.parse_args()
    steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
    print(
        f"video: one worker, clients send pre-encoded VP8 {WIDTH}x{HEIGHT} {FPS} fps + Opus; "
        f"steps={steps} duration={args.duration}s; the clients run on the same cores",
        flush=True,
    )
    results = asyncio.run(ramp(steps, args.duration))
    passed = [r for r in results if r["ok"]]
    best = passed[-1] if passed else (results[0] if results else None)
    n = best["n"] if passed else 0
    cpu = round(best["cpu_per_check_pct"]) if best else 0
    share = int(best["min_share"]) if best else 0
    print(f"video device_checks={n} cpu_per_check_pct={cpu} frames_ok_pct={share}")


if __name__ == "__main__":
    main()
