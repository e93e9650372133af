"""A bound on the welcome work a worker does at once, so chat keeps flowing.

When a worker restarts, or a network blip drops many sockets, they all come
back within a second and each asks for its welcome (its contact, the messages
it missed). Those reads share the chat's thread pool (``db``): unbounded they
would fill its queue, and a message sent by a customer who never left would
wait behind hundreds of welcomes. Here at most ``CHAT_WELCOME_CONCURRENCY``
(default 3, fewer than ``CHAT_DB_THREADS``) welcome reads of one event loop
are in the pool at a time; the rest wait their turn on the loop, where waiting
costs nothing, and the chat's own work always finds a free thread. Welcome
reads made from the loop on the async pool (a customer's opening read) pass
the same gate, since new chat messages are stored on that pool.
"""

from __future__ import annotations

import asyncio
import weakref

from django.conf import settings

from realtime.consumers.base import db

__all__ = ["gate", "limit", "welcome_db"]

DEFAULT_CONCURRENCY = 3
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def limit() -> int:
    threads = int(getattr(settings, "CHAT_DB_THREADS", 8))
    wanted = int(getattr(settings, "CHAT_WELCOME_CONCURRENCY", DEFAULT_CONCURRENCY))
    # Always leave the chat at least one thread of its own.
    return max(1, min(wanted, threads - 1))


def gate() -> asyncio.Semaphore:
    """This loop's gate, for welcome reads made on the loop itself (db_async):
    they share the async pool with the chat's stores the same way."""
    return _gate()


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = asyncio.Semaphore(limit())
        _gates[loop] = gate
    return gate


async def welcome_db(fn, *args, **kwargs):
    """``db(fn, ...)`` for a welcome: waits on the loop while the gate is full."""
    async with _gate():
        return await db(fn, *args, **kwargs)
