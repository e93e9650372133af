"""Garbage-collector settings for long-running worker processes.

A worker holds thousands of open sockets, each with its consumer, tasks and
buffers. CPython's collector with its default thresholds (700, 10, 10) runs a
young collection every few hundred allocations; each one promotes whatever is
in flight at that moment, and the promoted objects are traversed again and
again by the older generations. Measured in a worker with 1,000 chat sockets
on the 2-core reference machine: a collection of the middle generation took
30-70 ms every few seconds and a full one 150-300 ms, each blocking the event
loop and every socket on it. Chat latency followed those pauses.

So at startup (an ASGI lifespan hook, after Django and every module are
loaded) the worker collects once, freezes what survives (modules, settings,
URL patterns, translations: alive for the whole process, never garbage) so
that later full collections skip it, and raises the young threshold so that
short-lived objects die by reference counting before a collection sees them.
Reference cycles are still collected, only less often: memory held by
uncollected cycles stays bounded by the thresholds.
"""

from __future__ import annotations

import gc
import logging

from django.conf import settings

log = logging.getLogger(__name__)


def thresholds() -> tuple[int, int, int]:
    """settings.GC_THRESHOLDS as three integers; the current ones if unset or malformed.

    A typo in the environment must not stop a worker from starting (a crash
    loop takes the service down): it is logged as a warning naming the
    setting, and the interpreter's thresholds stay.
    """
    raw = str(getattr(settings, "GC_THRESHOLDS", "") or "").strip()
    if not raw:
        return gc.get_threshold()
    try:
        values = tuple(int(part) for part in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or values[0] <= 0 or min(values) < 0:
        current = gc.get_threshold()
        log.warning(
            "GC_THRESHOLDS=%r is not three comma-separated integers young,middle,old"
            " (young > 0), e.g. 20000,20,10; keeping the current thresholds %s",
            raw,
            current,
        )
        return current
    return values


class GcTuning:
    """Lifespan hook: freeze start-up objects and apply settings.GC_THRESHOLDS."""

    async def start(self) -> None:
        gc.collect()
        if getattr(settings, "GC_FREEZE_AT_STARTUP", True):
            gc.freeze()
        gc.set_threshold(*thresholds())
        log.info(
            "gc: %d start-up objects frozen, thresholds %s",
            gc.get_freeze_count(),
            gc.get_threshold(),
        )

    async def stop(self) -> None:
        pass
