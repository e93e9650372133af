"""When a waiting customer is sent a new queue position: pure, no Django.

A routing round computes every waiting contact's position and estimated wait,
but in a surge the values move on every round (each offer moves everyone
behind it up by one) and rounds run many times a second. A customer's page
needs neither: it gets its first value at once, later values only when they
differ from what it last got, and at most one frame per ``min_interval_s``.
A value held back is not lost: the first round after the interval has passed
sends the value of that round, so a page is never stale for more than one
round past the interval (the ticker runs a round at least every tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Sent", "due"]

Value = tuple[int, int | None]
"""(position, estimated_wait_s)."""


@dataclass(frozen=True, slots=True)
class Sent:
    """What the customer last got, and when (``at`` None: never, or not known)."""

    value: Value | None
    at: datetime | None


def due(sent: Sent, current: Value, *, now: datetime, min_interval_s: float) -> bool:
    """Whether ``current`` is to be sent now to a customer who last got ``sent``."""
    if sent.value == current:
        return False
    if sent.value is None or sent.at is None:
        return True  # the first value goes out at once
    return (now - sent.at).total_seconds() >= min_interval_s
