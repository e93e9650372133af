"""Queue positions of one routing round -> `queue.position` frames and stored values.

Only customers whose value changed hear of it, at most one frame a second each
(routing.cadence). The stored ``last_position``/``last_estimated_wait_s`` are
what the customer last got, with ``last_position_at`` saying when, so the rule
holds whichever worker process runs the next round. Runs inside the round's
transaction; the frames go out after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings

from realtime.events import contact_group, publish_on_commit
from routing import cadence, store
from routing.snapshot import Loaded
from routing.types import Position

DEFAULT_FRAME_EVERY_S = 1.0


def frame_every_s() -> float:
    return float(getattr(settings, "ROUTING_POSITION_FRAME_S", DEFAULT_FRAME_EVERY_S))


def publish(loaded: Loaded, positions: Iterable[Position], *, now: datetime) -> list[int]:
    """Send and store the positions that are due; returns the contacts new to the queue."""
    every = frame_every_s()
    rows, first = [], []
    for p in positions:
        info = loaded.contacts[p.contact_id]
        last = info.last_position
        if last == p.position and info.last_estimated_wait_s == p.estimated_wait_s:
            continue  # unchanged (cadence.due says so too): most of a long queue, most rounds
        sent = cadence.Sent(
            None if last is None else (last, info.last_estimated_wait_s), info.last_position_at
        )
        if not cadence.due(sent, (p.position, p.estimated_wait_s), now=now, min_interval_s=every):
            continue
        if sent.value is None:
            first.append(p.contact_id)
        rows.append((p.contact_id, p.position, p.estimated_wait_s))
        publish_on_commit(
            contact_group(info.public_id),
            {
                "type": "queue.position",
                "contact": str(info.public_id),
                "position": p.position,
                "estimated_wait_s": p.estimated_wait_s,
            },
        )
    store.save_positions(rows, at=now)
    return first
