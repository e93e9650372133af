"""Measuring sinks for the device check: they consume a received track and count.

A remote track in aiortc queues every decoded frame until someone reads it, so
a sink must read without pause for as long as the peer lives; each probe runs
as one task owned by its `DeviceCheck` (realtime/video/device_check.py), which
cancels it on close. The probes keep only counters and a few numbers, never
the media itself: nothing is recorded (docs/architecture.md, privacy).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)

# dBFS of digital silence, reported as a number because JSON has no -inf.
SILENCE_DBFS = -100.0


def dbfs(amplitude: float) -> float:
    """An amplitude relative to full scale (1.0) in dBFS, floored at SILENCE_DBFS."""
    if amplitude <= 0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(amplitude))


def _full_scale(samples: np.ndarray) -> np.ndarray:
    """Samples as float64 in [-1, 1], whatever the decoder's sample format."""
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float64) / float(np.iinfo(samples.dtype).max + 1)
    return samples.astype(np.float64)


class VideoProbe:
    """Counts a video track's frames, their size and their rate."""

    kind = "video"

    def __init__(self, track: MediaStreamTrack, *, clock: Callable[[], float] = time.monotonic):
        self.track = track
        self._clock = clock
        self.frames = 0
        self.width: int | None = None
        self.height: int | None = None
        self._window_start: float | None = None
        self._window_frames = 0
        self._window_first: float | None = None
        self._window_last: float | None = None

    def start_window(self) -> None:
        """Frame rate is measured from here on (the check's measuring period)."""
        self._window_start = self._clock()
        self._window_frames = 0
        self._window_first = self._window_last = None

    def add_frame(self, frame) -> None:
        now = self._clock()
        self.frames += 1
        self.width, self.height = int(frame.width), int(frame.height)
        if self._window_start is not None:
            self._window_frames += 1
            if self._window_first is None:
                self._window_first = now
            self._window_last = now

    def fps(self) -> float:
        """Frames per second between the first and last frame of the window."""
        if self._window_frames < 2 or self._window_first is None:
            return 0.0
        span = self._window_last - self._window_first
        return (self._window_frames - 1) / span if span > 0 else 0.0

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps(), 1),
        }

    async def run(self) -> None:
        """Read until the track ends (the peer closed) or the task is cancelled."""
        try:
            while True:
                self.add_frame(await self.track.recv())
        except MediaStreamError:
            return


class AudioProbe:
    """Measures a microphone's level: RMS and peak in dBFS, and the loudest frame.

    The overall RMS of a voice with pauses is low; the loudest frame's RMS (a
    decoded frame is 20 ms) tells whether we heard anything at all.
    """

    kind = "audio"

    def __init__(self, track: MediaStreamTrack):
        self.track = track
        self.frames = 0
        self.samples = 0
        self._sum_squares = 0.0
        self._peak = 0.0
        self._loudest_ms = 0.0  # mean square of the loudest frame

    def add_frame(self, frame) -> None:
        samples = _full_scale(frame.to_ndarray())
        if samples.size == 0:
            return
        squares = float(np.dot(samples.ravel(), samples.ravel()))
        self.frames += 1
        self.samples += samples.size
        self._sum_squares += squares
        self._peak = max(self._peak, float(np.max(np.abs(samples))))
        self._loudest_ms = max(self._loudest_ms, squares / samples.size)

    def summary(self) -> dict:
        rms = math.sqrt(self._sum_squares / self.samples) if self.samples else 0.0
        return {
            "frames": self.frames,
            "rms_dbfs": round(dbfs(rms), 1),
            "peak_dbfs": round(dbfs(self._peak), 1),
            "loudest_dbfs": round(dbfs(math.sqrt(self._loudest_ms)), 1),
        }

    async def run(self) -> None:
        try:
            while True:
                self.add_frame(await self.track.recv())
        except MediaStreamError:
            return
