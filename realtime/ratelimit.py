"""Per-socket rate limits: rates written and parsed as in the `limits` package.

The window belongs to one socket, so it lives on the socket: a deque of the
last hits' times (a moving window). `limits`' own MemoryStorage was measured
here to cost a fifth of a worker's CPU at 600 sockets: its expiry timer
re-arms every 10 ms and scans every key of the process. A per-socket deque
costs nothing when the socket is quiet and O(1) per frame when it is not.
"""

from __future__ import annotations

import functools
import time
from collections import deque

from django.conf import settings
from limits import parse

# Every frame (typing, receipts, pings included) gets a looser cap than the
# frames that store something, so that a runaway client cannot spin a worker.
ANY_FRAME_RATE = "120/10second"


@functools.lru_cache(maxsize=64)
def _parsed(rate: str) -> tuple[int, float]:
    # Every socket opens two windows of the same few rates: parsed once each.
    item = parse(rate)
    return item.amount, float(item.get_expiry())


class MovingWindow:
    """At most `amount` hits in any `period` seconds."""

    def __init__(self, rate: str):
        self.amount, self.period = _parsed(rate)
        self._hits: deque[float] = deque(maxlen=self.amount)

    def hit(self) -> bool:
        now = time.monotonic()
        if len(self._hits) == self.amount and now - self._hits[0] < self.period:
            return False
        self._hits.append(now)
        return True


class SocketRateLimit:
    """Two windows for one socket: stored frames and any frame."""

    def __init__(self, store_rate: str | None = None, any_rate: str = ANY_FRAME_RATE):
        self._store = MovingWindow(store_rate or settings.CHAT_RATE_LIMIT)
        self._any = MovingWindow(any_rate)

    def allow_frame(self) -> bool:
        return self._any.hit()

    def allow_store(self) -> bool:
        return self._store.hit()

    def close(self) -> None:
        """Nothing is held outside the socket; kept so callers need not know."""
