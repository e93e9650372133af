"""Which supporters have a console socket open, across all worker processes.

A supporter with two tabs who closes one stays online; when the last socket
closes they go offline. The sockets may live in different processes, so the
count is kept in Redis (a sorted set per supporter, scored by last sign of
life so that sockets of a crashed process age out). Without REDIS_URL there is
only one process and a dict in memory is the whole truth.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from django.conf import settings

from realtime.redis_keys import redis_key

# A socket silent for longer than this no longer counts: the consumer closes
# it after CHAT_IDLE_TIMEOUT_S anyway, so this only ages out crashed processes.
STALE_S = 180


def _key(supporter_id: int) -> str:
    return redis_key("presence", "sockets", supporter_id)


_local: dict[int, set[str]] = defaultdict(set)
_clients: dict[int, object] = {}


def _redis():
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        from redis.asyncio import BlockingConnectionPool, Redis

        # Blocking: redis-py 8 raises instead of waiting when a plain pool is
        # exhausted, and a burst of console connects would hit that.
        pool = BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=20, timeout=10)
        client = Redis(connection_pool=pool)
        _clients[id(loop)] = client
    return client


async def socket_alive(supporter_id: int, socket: str) -> None:
    await sockets_opened({supporter_id: {socket}})


async def sockets_opened(sockets: dict[int, set[str]]) -> None:
    """Count these sockets in, in one round trip (consoles that opened together)."""
    client = _redis()
    if client is None:
        for supporter_id, opened in sockets.items():
            _local[supporter_id].update(opened)
        return
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for supporter_id, opened in sockets.items():
            key = _key(supporter_id)
            pipe.zadd(key, dict.fromkeys(opened, now))
            pipe.expire(key, STALE_S)
        await pipe.execute()


async def sockets_alive(beats: dict[int, set[str]]) -> None:
    """Refresh many known sockets in one round trip (a worker's batched pings).

    Only sockets still in the set are refreshed (ZADD XX): a ping batched just
    before its socket closed must not bring the closed socket back.
    """
    client = _redis()
    if client is None:
        return  # in memory a socket is present until it closes; there is no age
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for supporter_id, sockets in beats.items():
            key = _key(supporter_id)
            pipe.zadd(key, dict.fromkeys(sockets, now), xx=True)
            pipe.expire(key, STALE_S)
        await pipe.execute()


async def socket_closed(supporter_id: int, socket: str) -> int:
    """Forget one socket; returns how many sockets of the supporter are still open."""
    client = _redis()
    if client is None:
        sockets = _local[supporter_id]
        sockets.discard(socket)
        if not sockets:
            _local.pop(supporter_id, None)
        return len(sockets)
    key = _key(supporter_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.zrem(key, socket)
        pipe.zremrangebyscore(key, "-inf", time.time() - STALE_S)
        pipe.zcard(key)
        results = await pipe.execute()
    return int(results[-1])
