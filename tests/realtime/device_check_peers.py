"""Client-side peers for device-check tests: synthetic camera and microphone.

The camera sends 640×480 frames at a set rate; the microphone a sine tone of
known amplitude, so that the server's measurements can be checked against it.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import math
import time

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

VIDEO_CLOCK = 90_000


class SyntheticCamera(MediaStreamTrack):
    """Moving bars at width×height and `fps`, paced in real time; counts frames sent."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 15.0):
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.sent = 0
        self._start: float | None = None
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[:, :, 1] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        self._base = base

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            due = self._start + self.sent / self.fps
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        picture = np.roll(self._base, self.sent * 8, axis=1)
        frame = VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = int(self.sent * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.sent += 1
        return frame


class ToneMicrophone(MediaStreamTrack):
    """A 440 Hz sine of `amplitude` (full scale 1.0), 48 kHz, 20 ms frames.

    Stereo with the same signal in both channels: a mono source would be
    upmixed at -3 dB per channel by the sender's resampler.
    """

    kind = "audio"
    rate = 48_000
    samples = 960

    def __init__(self, amplitude: float = 0.1):
        super().__init__()
        self.amplitude = amplitude
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            due = self._start + self._sent / self.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = (np.arange(self.samples) + self._sent) / self.rate
        wave = (self.amplitude * 32767 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        interleaved = np.repeat(wave, 2).reshape(1, -1)
        frame = AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
        frame.sample_rate = self.rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.rate)
        self._sent += self.samples
        return frame


class CheckClient:
    """The customer's side: sends tracks and a data channel, answers pings, keeps the report."""

    def __init__(self, *, video: bool = True, audio: bool = True, amplitude: float = 0.1):
        self.pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
        self.camera = SyntheticCamera() if video else None
        self.microphone = ToneMicrophone(amplitude) if audio else None
        for track in (self.camera, self.microphone):
            if track is not None:
                self.pc.addTrack(track)
        self.channel = self.pc.createDataChannel("device-check")
        self.report: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pings = 0
        self.channel.on("message", self._on_message)

    def _on_message(self, message) -> None:
        data = json.loads(message)
        if data["type"] == "ping" and self.channel.readyState == "open":
            self.pings += 1
            self.channel.send(json.dumps({"type": "pong", "id": data["id"]}))
        elif data["type"] == "report" and not self.report.done():
            self.report.set_result(data)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def close(self) -> None:
        await self.pc.close()
