"""Supporter heartbeats, written once a second per worker rather than once per ping.

Every console socket pings every 20-30 s and each ping is a sign of life for
two stores: the socket set in Redis (presence across workers) and the
supporter's `last_heartbeat` row (routing's view). A worker with a thousand
consoles would otherwise write both about fifty times a second; here the
pings of one second become one Redis pipeline and one UPDATE. Routing
tolerates PRESENCE_HEARTBEAT_TIMEOUT_S (45 s) of silence, so a second of delay
changes nothing it decides.

The batch belongs to the event loop that made it (tests run several loops).
A failed flush is logged and its beats dropped: the next ping brings them
back long before routing would notice.

A console that opens must be offered work at once, so its socket is counted
in presence and its first heartbeat written before its connect completes
(`alive_now`); when a worker's consoles all come back together, the sockets
and rows asked for while one write is on its way go out together in the
next: one Redis pipeline and one UPDATE (and commit), instead of one each.
A supporter whose heartbeat is younger than `fresh_s()` (another tab, or
the socket that just dropped, wrote it) needs no UPDATE: routing already
counts them in, and the new socket's first ping is written before that
heartbeat runs out (see `fresh_s`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime

from django.conf import settings

from realtime.consumers import presence

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0


class _Batch:
    def __init__(self) -> None:
        self.beats: dict[int, set[str]] = {}
        self.task: asyncio.Task | None = None


_batches: dict[int, _Batch] = {}


def beat(supporter_id: int, socket: str) -> None:
    """Note that this socket of this supporter is alive; written within FLUSH_EVERY_S."""
    loop = asyncio.get_running_loop()
    batch = _batches.get(id(loop))
    if batch is None or (batch.task is not None and batch.task.get_loop() is not loop):
        batch = _batches[id(loop)] = _Batch()
    batch.beats.setdefault(supporter_id, set()).add(socket)
    if batch.task is None or batch.task.done():
        batch.task = loop.create_task(_flush_soon(batch))


async def _flush_soon(batch: _Batch) -> None:
    while True:
        await asyncio.sleep(FLUSH_EVERY_S)
        beats, batch.beats = batch.beats, {}
        if not beats:
            return  # no await since the swap: a new beat starts a new task
        await flush(beats)


async def flush(beats: dict[int, set[str]]) -> None:
    from realtime.consumers.base import console_db
    from routing.services import heartbeat_many

    if not beats:
        return
    try:
        await presence.sockets_alive(beats)
        await console_db(heartbeat_many, supporter_ids=list(beats))
    except Exception:
        log.warning("writing %d supporters' heartbeats failed", len(beats), exc_info=True)


# The console pings every 25 s (helpdesk/static/helpdesk/socket.js) and a
# ping is written within FLUSH_EVERY_S.
CONSOLE_PING_EVERY_S = 25.0


def fresh_s() -> float:
    """How young a heartbeat must be for an opening console to leave it as it is.

    Routing counts a supporter out PRESENCE_HEARTBEAT_TIMEOUT_S (45 s) after
    their last heartbeat; the opening socket's first ping is written at most
    CONSOLE_PING_EVERY_S + FLUSH_EVERY_S later. What is left, less a margin
    of 5 s for a slow network, is 14 s; with a shorter timeout every console
    writes.
    """
    timeout = float(getattr(settings, "PRESENCE_HEARTBEAT_TIMEOUT_S", 45))
    return max(0.0, timeout - CONSOLE_PING_EVERY_S - FLUSH_EVERY_S - 5.0)


def heartbeat_due(last_heartbeat: datetime | None, now: datetime) -> bool:
    """Must an opening console write its supporter's heartbeat (see fresh_s)?"""
    return last_heartbeat is None or (now - last_heartbeat).total_seconds() >= fresh_s()


class _Now:
    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.sockets: dict[int, set[str]] = {}
        self.waiters: list[asyncio.Future] = []
        self.task: asyncio.Task | None = None


_now: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Now] = weakref.WeakKeyDictionary()


async def alive_now(supporter_id: int, socket: str | None = None, *, write: bool = True) -> None:
    """Write routing's heartbeat of this supporter now; returns once it is committed.

    `socket`, a console that opens, is counted in presence first; `write`
    False leaves the heartbeat row as it is (a fresh one: `heartbeat_due`).
    Calls made while a write is on its way share the next one. A presence
    that fails is logged (the socket's pings add it again); a heartbeat that
    fails raises.
    """
    loop = asyncio.get_running_loop()
    state = _now.get(loop)
    if state is None:
        state = _now[loop] = _Now()
    done = loop.create_future()
    if write:
        state.pending.add(supporter_id)
    if socket is not None:
        state.sockets.setdefault(supporter_id, set()).add(socket)
    state.waiters.append(done)
    if state.task is None or state.task.done():
        state.task = loop.create_task(_write_now(state))
    # Shielded: a socket that closes meanwhile does not cancel the others' write.
    await asyncio.shield(done)


async def _write_now(state: _Now) -> None:
    from realtime.consumers.base import console_db
    from routing.services import heartbeat_many

    while state.waiters:
        ids, sockets, waiters = state.pending, state.sockets, state.waiters
        state.pending, state.sockets, state.waiters = set(), {}, []
        if sockets:
            try:
                await presence.sockets_opened(sockets)
            except Exception:
                log.warning("presence of %d opening sockets failed", len(sockets), exc_info=True)
        try:
            if ids:
                await console_db(heartbeat_many, supporter_ids=list(ids))
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()  # its socket may have gone: nobody else reads it
        else:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
