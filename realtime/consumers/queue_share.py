"""One queue read per worker for the consoles that see the same providers.

Every console's welcome lists the queue, and every `queue.changed` makes
every console of a provider list it again. Each list is the same read (the
providers' waiting contacts, routing/selectors.py `read_queue`) followed by
checks of its own viewer (pins, permissions: `queue_rows`). When a worker's
consoles come back at once, hundreds of identical reads queue for the console
pool; here the consoles of one provider set on one event loop share one read.

A shared read is never older than what its console will hear of live: a
console asks for a read with `not_before`, the moment from which it is
subscribed to the providers' queue groups (or the last `queue.changed` it
got), and is given only a read that started at or after that moment (one not
begun yet, one in flight, or one finished within SHARE_S). Anything committed
before such a read started is in it; anything committed after is announced
to the console by a `queue.changed` it is subscribed to.

A read's start is the moment its thread begins the first statement, not the
moment it was asked for. Only one read of a provider set runs at a time on a
loop: a console that finds the running one begun too early waits for the
next, which begins once the running one is over and serves every console
that came meanwhile. In a storm of reconnecting consoles a worker so makes a
read per read's duration, not one per console.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from dataclasses import dataclass

from realtime.consumers.base import console_db
from routing.selectors import QueueRead, read_queue

__all__ = ["SHARE_S", "clear", "shared_read"]

# How long a finished read may serve consoles that subscribed before it began.
SHARE_S = 1.0


@dataclass
class _Read:
    result: asyncio.Future | None = None
    # time.monotonic() as its first statement began (set in the thread); None: not yet.
    started: float | None = None
    finished: float | None = None


_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[frozenset, _Read]] = (
    weakref.WeakKeyDictionary()
)


def clear() -> None:
    """Forget every shared read (tests; an admin edit need not wait SHARE_S)."""
    _reads.clear()


def _usable(read: _Read | None, not_before: float, now: float) -> bool:
    if read is None:
        return False
    if read.finished is not None and (read.result.cancelled() or read.result.exception()):
        return False
    started = read.started
    if started is None:
        return read.finished is None  # not begun: it will begin after the caller subscribed
    if started < not_before:
        return False
    if read.finished is None:
        return True  # in flight: started after the caller subscribed
    return now - read.finished < SHARE_S


async def shared_read(provider_ids, *, not_before: float) -> QueueRead:
    """A `read_queue(provider_ids)` that started at or after `not_before` (time.monotonic)."""
    loop = asyncio.get_running_loop()
    reads = _reads.setdefault(loop, {})
    key = frozenset(provider_ids)
    now = time.monotonic()
    read = reads.get(key)
    if not _usable(read, not_before, now):
        running = read.result if read is not None and read.finished is None else None
        read = reads[key] = _Read()
        read.result = loop.create_task(_read(read, key, after=running))
        read.result.add_done_callback(functools.partial(_finished, read))
    # Shielded: a console that closes while waiting does not cancel the others' read.
    return await asyncio.shield(read.result)


def _finished(read: _Read, future: asyncio.Future) -> None:
    read.finished = time.monotonic()
    if not future.cancelled():
        future.exception()  # retrieved here: its waiters may all have gone


async def _read(read: _Read, key: frozenset, *, after: asyncio.Future | None) -> QueueRead:
    if after is not None:
        # One read of these providers at a time: those who come while it
        # runs share the next one. Its outcome is its own waiters' concern.
        await asyncio.wait([after])

    def run() -> QueueRead:
        read.started = time.monotonic()
        return read_queue(key)

    return await console_db(run)
