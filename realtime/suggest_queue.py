"""The Redis queue between the chat consumers and the suggestion worker.

A knowledge search is CPU-bound Python: run inside an ASGI worker it holds the
GIL and delays message delivery (docs/architecture.md, "Suggestions"). So
when a suggestion worker (`manage.py suggestion_worker`,
realtime/suggest_worker.py) is alive, the consumers only push a request here
and the worker searches and publishes the `suggestions` event itself.

Why a Redis list and not a channel of the channel layer (`runworker`): our
layer is pub/sub, which hands a named channel's message to *every* process
subscribed to it (two workers would each search every request) and keeps
nothing while no worker listens. A list gives each request to one worker and
holds a bounded backlog over a worker restart. Requests are taken newest
first (LPUSH, BLPOP): when the worker falls behind, the freshest conversations
are answered and the oldest age out (`CHAT_SUGGEST_MAX_AGE_S`, `MAX_BACKLOG`).

Keys carry the channel layer's prefix, which already keeps deployments (and
test runs) sharing one Redis apart. Without REDIS_URL there is no worker: one
process, and the consumers search in it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from dataclasses import asdict, dataclass

from django.conf import settings

from realtime.redis_keys import redis_key

log = logging.getLogger(__name__)

MAX_TEXT = 2000
# A request is a few kilobytes at most; anything far larger is not ours.
MAX_RAW_BYTES = 64 * 1024
MAX_BACKLOG = 1000
# The worker refreshes its mark every HEARTBEAT_S; the mark lives HEARTBEAT_TTL_S,
# so a stopped worker is noticed within that and the consumers search themselves.
HEARTBEAT_S = 3.0
HEARTBEAT_TTL_S = 10
# How long a consumer trusts what it last learnt about the worker.
ALIVE_CACHE_S = 2.0
_LANGUAGE = re.compile(r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
_TOPIC = re.compile(r"^[-\w]{1,100}$")  # a topic's slug


class BadRequest(ValueError):
    """A queued request that is not one the consumers could have written."""


@dataclass(frozen=True)
class Request:
    contact: str  # the contact's public id
    language: str
    text: str
    topic: str | None
    at: float  # epoch seconds when the consumer asked

    def encode(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode()


def decode(raw: bytes | str) -> Request:
    """A request from the queue, checked field by field; BadRequest if malformed."""
    if len(raw) > MAX_RAW_BYTES:
        raise BadRequest(f"{len(raw)} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("not JSON") from exc
    if not isinstance(data, dict):
        raise BadRequest("not an object")
    contact, language, text = data.get("contact"), data.get("language"), data.get("text")
    topic, at = data.get("topic"), data.get("at")
    try:
        contact = str(uuid.UUID(contact)) if isinstance(contact, str) else None
    except ValueError:
        contact = None
    if contact is None:
        raise BadRequest("contact")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise BadRequest("language")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("text")
    try:
        text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate: PostgreSQL would refuse it
        raise BadRequest("text") from exc
    if topic is not None and (not isinstance(topic, str) or not _TOPIC.match(topic)):
        raise BadRequest("topic")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise BadRequest("at")
    return Request(contact, language, text[-MAX_TEXT:], topic, float(at))


def enabled() -> bool:
    """A worker can exist only with Redis (several processes)."""
    return bool(settings.REDIS_URL)


def requests_key() -> str:
    return redis_key("suggest", "requests")


def worker_key() -> str:
    return redis_key("suggest", "worker")


def client(**options):
    """A new asyncio Redis client (the worker's own; consumers share `_loop_client`)."""
    from redis.asyncio import BlockingConnectionPool, Redis

    # Blocking: redis-py 8 raises instead of waiting when a plain pool is full.
    pool = BlockingConnectionPool.from_url(settings.REDIS_URL, timeout=10, **options)
    return Redis(connection_pool=pool)


_clients: dict[int, tuple[asyncio.AbstractEventLoop, object]] = {}


def _loop_client():
    """One client per event loop (a pool's connections belong to the loop that made them)."""
    loop = asyncio.get_running_loop()
    found = _clients.get(id(loop))
    if found is None or found[0] is not loop:
        for key in [k for k, (other, _) in _clients.items() if other.is_closed()]:
            del _clients[key]
        # Short timeouts: a consumer waiting on an unreachable Redis would hold
        # its contact's suggestions back; it searches itself instead.
        options = {"max_connections": 10, "socket_connect_timeout": 2, "socket_timeout": 2}
        found = _clients[id(loop)] = (loop, client(**options))
    return found[1]


_alive = {"until": 0.0, "value": False}


def forget_worker() -> None:
    """Ask Redis again on the next request (tests start and stop workers)."""
    _alive.update(until=0.0, value=False)


async def worker_alive() -> bool:
    """Whether a suggestion worker has marked itself alive lately (cached briefly)."""
    if not enabled():
        return False
    now = time.monotonic()
    if now < _alive["until"]:
        return _alive["value"]
    try:
        value = bool(await _loop_client().exists(worker_key()))
    except Exception as exc:  # Redis away: search here meanwhile
        log.info("suggestion worker check failed: %r", exc)
        value = False
    _alive.update(until=now + ALIVE_CACHE_S, value=value)
    return value


async def push(request: Request) -> None:
    """Queue one request for the worker; the backlog keeps its newest MAX_BACKLOG."""
    key = requests_key()
    async with _loop_client().pipeline(transaction=False) as pipe:
        pipe.lpush(key, request.encode())
        pipe.ltrim(key, 0, MAX_BACKLOG - 1)
        # Nobody left to read it: gone after a while rather than kept forever.
        pipe.expire(key, 3600)
        await pipe.execute()
