"""The channel layer: channels_redis's pub/sub layer with pipelined group sends.

channels_redis publishes each `group_send` as its own Redis round trip, under
a lock per shard that it also takes to subscribe and unsubscribe. Every
publish of a worker therefore waits for the previous one's reply, and the
reply is read only when the worker's event loop comes round to it: measured
with 1,000 chat pairs on two workers, a publish waited 2-16 ms at the median
and up to 200 ms at the 99th percentile, most of a message's latency.

Here the `group_send` calls made while a publish is on the wire are queued
and go out together as one pipeline (one write, one read of all replies) as
soon as it returns. Order is kept: one queue per event loop and shard, sent
in the order the calls were made, and Redis delivers a connection's
publishes in order. A caller still waits until its message is handed to
Redis (so errors reach it, as before); a caller that is cancelled meanwhile
does not take its message back out of the queue.

A publish that fails (after a Redis restart the first one on each pooled
connection fails with "Connection closed by server") is retried on a fresh
connection for a few seconds (`RETRY_DELAYS_S`) before its callers hear of
it; the queue waits meanwhile, so order is kept. Subscribing never fails a
caller: while Redis is away the subscription is only noted, and
realtime/layer_watch.py (which probes every worker's subscription) makes it
once Redis answers and tells the sockets to re-read what they may have missed.

Everything else (receiving, redis-py's own reconnects) is channels_redis's
own. The internals used here are those of channels-redis 4.2-4.3, the range
pyproject.toml allows; tests/realtime/test_layers.py runs against real Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import uuid
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer

log = logging.getLogger(__name__)

# Pauses between the attempts of a failed publish (about 3 s in all): long
# enough for a restarting Redis, short enough that a caller waiting for its
# ack is not kept long; what still fails is re-read from the database by the
# sockets (realtime/layer_watch.py).
RETRY_DELAYS_S = (0.0, 0.1, 0.25, 0.5, 1.0, 1.5)


def _note_trouble(reason: str) -> None:
    from realtime import layer_watch

    layer_watch.note_trouble(reason)


# Channel names: a random part drawn once per process, then a counter. A
# uuid4 per socket reads the kernel's random source each time, and in a
# reconnect storm every such call on the event loop waits for the GIL to come
# back from the worker threads (measured: 5% of the loop's busy time).
# Names need to be unique, not secret: only the server ever sees them.
_names_pid = 0
_names_token = ""
_names_counter = itertools.count()


def _channel_suffix() -> str:
    global _names_pid, _names_token, _names_counter
    if _names_pid != os.getpid():  # a forked worker draws its own
        _names_pid, _names_token = os.getpid(), uuid.uuid4().hex[:20]
        _names_counter = itertools.count()
    return f"{_names_token}{next(_names_counter):012x}"


class _Publisher:
    """One queue of pending publishes for one shard connection of one event loop."""

    def __init__(self, shard) -> None:
        self.shard = shard
        self.pending: list[tuple[str, bytes, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    def enqueue(self, channel: str, data: bytes) -> asyncio.Future:
        """Queue one publish; the future resolves when Redis has taken it."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.pending.append((channel, data, done))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._drain())
        return done

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await self._publish_with_retry(batch)
            except Exception as exc:  # each caller decides what a failed publish means
                _note_trouble("publish failed")
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _publish_with_retry(self, batch: list[tuple[str, bytes, asyncio.Future]]) -> None:
        error: Exception | None = None
        for attempt, delay in enumerate(RETRY_DELAYS_S):
            if delay:
                await asyncio.sleep(delay)
            try:
                self.shard._ensure_redis()
                async with self.shard._redis.pipeline(transaction=False) as pipe:
                    for channel, data, _ in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
                if attempt:
                    log.info("publish of %d events done on attempt %d", len(batch), attempt + 1)
                return
            except Exception as exc:
                error = exc
                log.info("publish of %d events failed (try %d): %r", len(batch), attempt + 1, exc)
                await _drop_idle_connections(self.shard)
        assert error is not None
        raise error


async def _subscribe_all(shard, names: list[str]) -> None:
    """channels_redis's `RedisSingleShardConnection.subscribe`, for several channels at once."""
    async with shard._lock:
        new = [name for name in dict.fromkeys(names) if name not in shard._subscribed_to]
        if not new:
            return
        shard._ensure_redis()
        shard._ensure_receiver()
        await shard._pubsub.subscribe(*new)
        shard._subscribed_to.update(new)


class _Subscriber:
    """Subscriptions asked for in one turn of the loop go out as one SUBSCRIBE.

    Every socket subscribes its own channel as it opens, and its groups just
    after; when a worker's sockets all come back at once, hundreds of them
    open in the same turns of the loop. Queued here, they share a command
    (one write to Redis instead of one each). A caller still waits until
    its names are subscribed, and hears of a failure as before.
    """

    def __init__(self, shard) -> None:
        self.shard = shard
        self.names: list[str] = []
        self.waiting: list[asyncio.Future] = []
        self.task: asyncio.Task | None = None

    def enqueue(self, names: list[str]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.names.extend(names)
        self.waiting.append(done)
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._drain())
        return done

    async def _drain(self) -> None:
        while self.waiting:
            names, waiting = self.names, self.waiting
            self.names, self.waiting = [], []
            try:
                await _subscribe_all(self.shard, names)
            except Exception as exc:
                for done in waiting:
                    if not done.done():
                        done.set_exception(exc)
                        done.exception()  # its caller may have gone meanwhile
            except BaseException:  # the loop is closing: nobody is left to tell
                for done in waiting + self.waiting:
                    done.cancel()
                raise
            else:
                for done in waiting:
                    if not done.done():
                        done.set_result(None)


def _queue_of(queues: dict, shard, kind):
    """The running loop's queue of `kind` for `shard`, made on first use."""
    key = (asyncio.get_running_loop(), id(shard))
    queue = queues.get(key)
    if queue is None or queue.shard is not shard:
        # A new loop or a flushed layer (tests): forget closed loops' queues.
        for stale in [k for k in queues if k[0].is_closed()]:
            del queues[stale]
        queue = queues[key] = kind(shard)
    return queue


async def _drop_idle_connections(shard) -> None:
    """Close the pool's idle connections: after a restart they are all dead.

    Connections in use (the subscription's) are left to redis-py's own
    reconnect and to the watcher.
    """
    redis = shard._redis
    if redis is None:
        return
    try:
        await redis.connection_pool.disconnect(inuse_connections=False)
    except Exception:
        log.debug("dropping idle Redis connections failed", exc_info=True)


class PipelinedPubSubChannelLayer(RedisPubSubChannelLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._publishers: dict[tuple[asyncio.AbstractEventLoop, int], _Publisher] = {}
        self._subscribers: dict[tuple[asyncio.AbstractEventLoop, int], _Subscriber] = {}

    async def group_send(self, group: str, message: dict) -> None:
        await self._enqueue(group, message)

    async def send(self, channel: str, message: dict) -> None:
        """Publish to one channel, retried like group sends."""
        await self._enqueue_channel(channel, message)

    async def new_channel(self, prefix: str = "specific.") -> str:
        """A channel of this process; its subscription may wait for Redis.

        channels_redis would raise while Redis is away, and the socket being
        opened would fail with it. Here the channel exists at once and the
        watcher subscribes it as soon as Redis answers.
        """
        layer = self._get_layer()
        channel = f"{layer.prefix}{prefix}{_channel_suffix()}"
        layer.channels[channel] = asyncio.Queue()
        try:
            await self._subscribe(layer._get_shard(channel), [channel])
        except Exception as exc:
            log.warning("subscribing %s failed, will retry: %r", channel, exc)
            _note_trouble("subscribe failed")
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        """As channels_redis's, but a subscription that fails is made later (watcher)."""
        await self.group_add_many([group], channel)

    async def group_add_many(self, groups: list[str], channel: str) -> None:
        """`group_add` of several groups for one channel: one SUBSCRIBE per shard.

        A console joins its own group and its providers' queues as it opens:
        one command for them all, not one round of the shard's lock each.
        """
        layer = self._get_layer()
        if channel not in layer.channels:
            raise RuntimeError(f"group_add_many() of {channel!r}, a channel of another process")
        by_shard: dict[int, tuple[Any, list[str]]] = {}
        for group in groups:
            name = layer._get_group_channel_name(group)
            # Noted first, as channels_redis does: the watcher subscribes every
            # noted group should this subscription fail.
            layer.groups.setdefault(name, set()).add(channel)
            shard = layer._get_shard(name)
            by_shard.setdefault(id(shard), (shard, []))[1].append(name)
        for shard, names in by_shard.values():
            try:
                await self._subscribe(shard, names)
            except Exception as exc:
                log.warning("subscribing groups %s failed, will retry: %r", names, exc)
                _note_trouble("subscribe failed")

    async def group_discard(self, group: str, channel: str) -> None:
        try:
            await self._get_layer().group_discard(group, channel)
        except Exception as exc:
            # The membership is gone; a stale subscription only costs traffic
            # and is dropped by the next successful resubscribe.
            log.warning("unsubscribing group %s failed: %r", group, exc)

    async def group_send_many(self, messages: list[tuple[str, dict]]) -> None:
        """Several group sends, queued together in order (a routing round's events).

        Sent one by one they would each wait for the previous reply; queued at
        once they share pipelines. Returns when Redis has taken them all.
        """
        pending = [self._enqueue(group, message) for group, message in messages]
        if pending:
            await asyncio.gather(*pending)

    def _subscribe(self, shard, names: list[str]) -> asyncio.Future:
        return _queue_of(self._subscribers, shard, _Subscriber).enqueue(names)

    def _enqueue(self, group: str, message: dict) -> asyncio.Future:
        layer = self._get_layer()
        return self._enqueue_channel(layer._get_group_channel_name(group), message)

    def _enqueue_channel(self, channel: str, message: dict) -> asyncio.Future:
        shard = self._get_layer()._get_shard(channel)
        publisher = _queue_of(self._publishers, shard, _Publisher)
        return publisher.enqueue(channel, self.serialize(message))
