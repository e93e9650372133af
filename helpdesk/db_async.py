"""An async PostgreSQL connection pool per event loop, for the chat store.

The chat hot path stores a message with one statement
(helpdesk/services/messages.py). Run from the event loop on an async psycopg
connection, it needs no worker thread: no hand-over to a thread and back, and
no thread waiting for the GIL while the loop runs. The voice webhooks that are
one statement (wait loop, status callbacks: realtime/telephony/runner.py)
and the customer socket's opening read (realtime/consumers/customer.py) use
the same pool. Everything else keeps Django's connections in the
consumers' thread pools.

One pool per event loop (a worker has one; tests make one per test), opened
on first use with the connection settings Django would use, in autocommit.
`close()` closes the running loop's pool (lifespan shutdown, test teardown).
CHAT_ASYNC_STORE=0 turns this off; it is off on SQLite.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

_pools: dict[asyncio.AbstractEventLoop, Any] = {}
_opening: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


@functools.cache
def _on_postgresql() -> bool:
    return connections["default"].vendor == "postgresql"


def enabled() -> bool:
    # Asked on every message: the database vendor is looked up once.
    return bool(getattr(settings, "CHAT_ASYNC_STORE", True)) and _on_postgresql()


def _connect_kwargs() -> dict[str, Any]:
    params = dict(connections["default"].get_connection_params())
    # Django's cursor class and adapters are for its own synchronous cursors.
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["autocommit"] = True
    return params


async def _pool():
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is not None:
        return pool
    opening = _opening.get(loop)
    if opening is None:
        opening = loop.create_task(_open(loop))
        _opening[loop] = opening
    return await asyncio.shield(opening)


async def _open(loop: asyncio.AbstractEventLoop):
    from psycopg_pool import AsyncConnectionPool

    # Forget pools of loops that have ended (tests make a loop per test).
    for old in [other for other in _pools if other.is_closed()]:
        _pools.pop(old, None)
        _opening.pop(old, None)
    pool = AsyncConnectionPool(
        kwargs=_connect_kwargs(),
        min_size=1,
        max_size=int(getattr(settings, "CHAT_DB_THREADS", 8)),
        timeout=float(getattr(settings, "DB_POOL_TIMEOUT_S", 10)),
        open=False,
        name="chat-store",
    )
    try:
        await pool.open(wait=True)
    except BaseException:
        _opening.pop(loop, None)
        raise
    _pools[loop] = pool
    return pool


async def fetchone(sql: str, params: list[Any]) -> tuple | None:
    """Run one statement in autocommit, prepared per connection; its first row.

    After a database restart the pool's idle connections are all dead, and
    each would fail one message: a statement that fails on a broken
    connection is tried once more on another (the pool drops the broken
    one). Callers' statements are idempotent (the message store is keyed by
    client_msg_id; a status callback only moves a call forward), so a retry
    after a lost reply stores nothing twice; the wait loop's retry may at
    worst leave out one position announcement.
    """
    return await _execute(sql, params, all_rows=False)


async def fetchall(sql: str, params: list[Any]) -> list[tuple]:
    """`fetchone`'s statement, all its rows (for reads)."""
    return await _execute(sql, params, all_rows=True)


async def _execute(sql: str, params: list[Any], *, all_rows: bool):
    import psycopg

    pool = await _pool()
    for attempt in (1, 2):
        async with pool.connection() as conn:
            try:
                cursor = await conn.execute(sql, params, prepare=True)
                return await (cursor.fetchall() if all_rows else cursor.fetchone())
            except psycopg.OperationalError:
                if attempt == 2 or not conn.broken:
                    raise
                log.info("chat store: connection broken, retrying once on another")
    return None


async def close() -> None:
    loop = asyncio.get_running_loop()
    opening = _opening.pop(loop, None)
    pool = _pools.pop(loop, None)
    if pool is None and opening is not None:
        try:
            pool = await opening
        except Exception:
            return
    if pool is not None:
        await pool.close()


class AsyncStoreLifespan:
    """Lifespan hook: close this worker's pool at shutdown."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await close()
