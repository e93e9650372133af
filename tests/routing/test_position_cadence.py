"""Queue position frames over many routing rounds: few, and never stale for long.

The engine decides each round; ``routing.cadence.due`` decides which of its
positions go out. Over random queues and random round timings (a surge runs
rounds many times a second, a quiet day once a tick) a customer:
- gets their first position in the round that first gives them one,
- gets at most one frame per interval after that, and only for a new value,
- is never left with an old value once the interval has passed: the first
  round after it sends the current one (stale for at most one round).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing import cadence
from routing.engine import decide
from tests.routing.test_engine_properties import NOW, snapshots

INTERVAL_S = 1.0
GAPS = st.lists(st.floats(min_value=0.01, max_value=2.5), min_size=1, max_size=25)


def run_rounds(snap, gaps, leaves):
    """Rounds at NOW + cumulative gaps; offered and leaving contacts go. -> (frames, seen)."""
    sent: dict[int, cadence.Sent] = {}
    frames: dict[int, list[tuple[float, tuple]]] = {}
    seen: list[tuple[float, dict[int, tuple]]] = []  # per round: time, current values
    contacts = list(snap.contacts)
    t = 0.0
    for i, gap in enumerate(gaps):
        t += gap
        now = NOW + timedelta(seconds=t)
        decision = decide(replace(snap, now=now, contacts=tuple(contacts)))
        current = {p.contact_id: (p.position, p.estimated_wait_s) for p in decision.positions}
        for cid, value in current.items():
            last = sent.get(cid, cadence.Sent(None, None))
            if cadence.due(last, value, now=now, min_interval_s=INTERVAL_S):
                sent[cid] = cadence.Sent(value, now)
                frames.setdefault(cid, []).append((t, value))
        seen.append((t, current))
        gone = {o.contact_id for o in decision.offers} | set(leaves[i % len(leaves)])
        contacts = [c for c in contacts if c.id not in gone]
    return frames, seen


@settings(max_examples=150, deadline=None, database=None)
@given(snapshots(max_contacts=12), GAPS, st.lists(st.sets(st.integers(1, 12)), min_size=1))
def test_position_frames_are_few_and_never_stale_past_one_round(snap, gaps, leaves):
    frames, seen = run_rounds(snap, gaps, leaves)
    first_round: dict[int, float] = {}
    for t, current in seen:
        for cid in current:
            first_round.setdefault(cid, t)
    for cid, sent in frames.items():
        assert sent[0][0] == first_round[cid], "the first position goes out at once"
        for (t0, v0), (t1, v1) in zip(sent, sent[1:], strict=False):
            assert t1 - t0 >= INTERVAL_S - 1e-9, "at most one frame per interval"
            assert v1 != v0, "only a changed value is sent"
    for t, current in seen:
        for cid, value in current.items():
            last_t, last_value = [f for f in frames[cid] if f[0] <= t][-1]
            if last_value != value:
                # Held back only while the interval since the last frame runs:
                # the first round past it sends the value of that round.
                assert t - last_t < INTERVAL_S, (cid, t, last_t)


def test_due_rule():
    at = NOW
    later = NOW + timedelta(seconds=0.5)
    much_later = NOW + timedelta(seconds=1.0)
    never = cadence.Sent(None, None)
    assert cadence.due(never, (3, 60), now=at, min_interval_s=1)
    assert not cadence.due(cadence.Sent((3, 60), at), (3, 60), now=much_later, min_interval_s=1)
    assert not cadence.due(cadence.Sent((3, 60), at), (2, 40), now=later, min_interval_s=1)
    assert cadence.due(cadence.Sent((3, 60), at), (2, 40), now=much_later, min_interval_s=1)
