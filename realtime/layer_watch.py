"""Watches the channel layer of an event loop and re-syncs sockets after a fault.

The pub/sub channel layer is fire-and-forget (docs/architecture.md): an
event published while Redis restarts, or while this worker's subscription is
being re-made, is gone. The database holds every fact an event carries, so a
socket that may have missed something re-reads it (`resync()` on the
consumers: the message gap after its cursor, the contact's state, a
supporter's offers and queue).

One watcher per event loop that has sockets (started by the first consumer
that registers, stopped with the loop's last socket). Every `PROBE_EVERY_S`
it publishes a token to a channel of its own and waits for it to come back
through Redis, and reads Redis's run id. It calls for a re-sync of every
registered socket of its loop when

- a probe did not come back (Redis away, or the subscription dead: then it
  subscribes again every channel and group this loop has, which redis-py
  does not always do by itself after a long outage) and a later one does;
- Redis's run id changed (a restart quicker than a probe), or the
  subscription's connection was made again (redis-py reconnects it by
  itself, but what was published meanwhile is gone);
- a publish failed for good in this loop (realtime/layers.py): then it also
  asks the other workers to re-sync, through the `layer.resync` group,
  once Redis answers again.

`note_trouble` may be called from any thread or loop; it only sets a flag.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 1.5
# A burst of re-syncs is spread over this many seconds so that the sockets
# of a worker do not all query the database in the same instant.
RESYNC_SPREAD_S = 0.5
RESYNC_GROUP = "layer.resync"


class Resyncable(Protocol):
    closing: bool

    async def resync(self) -> None: ...


_watchers: dict[asyncio.AbstractEventLoop, LayerWatch] = {}
_trouble = threading.Event()  # any loop of this process saw a publish or subscribe fail


def note_trouble(reason: str) -> None:
    """Something may have been lost: the watchers check and re-sync."""
    log.debug("channel layer trouble: %s", reason)
    _trouble.set()


def register(consumer: Resyncable) -> None:
    """Re-sync `consumer` after faults of its loop's channel layer."""
    watcher = _watcher_for_loop()
    if watcher is not None:
        watcher.consumers.add(consumer)


def unregister(consumer: Resyncable) -> None:
    watcher = _watchers.get(asyncio.get_running_loop())
    if watcher is not None:
        watcher.consumers.discard(consumer)
        if not watcher.consumers:
            watcher.stop()


def _watcher_for_loop() -> LayerWatch | None:
    layer = get_channel_layer()
    if layer is None or not hasattr(layer, "_get_layer") or not hasattr(layer, "_enqueue"):
        return None  # the in-memory layer loses nothing to a restart
    loop = asyncio.get_running_loop()
    watcher = _watchers.get(loop)
    if watcher is None or watcher.stopped:
        for stale in [k for k in _watchers if k.is_closed()]:
            del _watchers[stale]
        watcher = _watchers[loop] = LayerWatch(layer)
        watcher.start()
    return watcher


class LayerWatch:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.consumers: weakref.WeakSet = weakref.WeakSet()
        self.task: asyncio.Task | None = None
        self.resyncs: set[asyncio.Task] = set()
        self.stopped = False
        self.healthy = True
        self.run_id: str | None = None
        self.probe_channel: str | None = None
        self.resync_channel: str | None = None
        self.lost_publishes = False
        self.resync_count = 0  # for tests and logs
        self.token = uuid.uuid4().hex  # tells this watcher's own resync requests apart
        self.reconnected = False

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()
        for task in list(self.resyncs):
            task.cancel()

    # -- the loop --------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self.stopped:
                await self._round()
                await asyncio.sleep(PROBE_EVERY_S)
        except asyncio.CancelledError:
            pass
        finally:
            await self._forget_channels()

    async def _round(self) -> None:
        trouble = _trouble.is_set()
        if trouble:
            _trouble.clear()
            self.lost_publishes = True
        ok, restarted = await self._probe()
        if not ok:
            if self.healthy:
                log.warning("channel layer: probe failed, sockets will re-sync when it answers")
            self.healthy = False
            await self._resubscribe()
            return
        if self.reconnected:
            self.reconnected = False
            restarted = True
        if not self.healthy or restarted or self.lost_publishes:
            reason = "restart" if restarted else "recovered" if not self.healthy else "lost"
            if not self.healthy or restarted:
                # The subscription may have missed its resubscribe: make it again.
                await self._resubscribe()
            self.healthy = True
            if self.lost_publishes:
                self.lost_publishes = False
                await self._ask_others()
            self.resync_all(reason)

    async def _probe(self) -> tuple[bool, bool]:
        """(did a token go round through Redis, has Redis restarted since the last probe)."""
        loop_layer = self.layer._get_layer()
        try:
            if self.probe_channel is None or self.probe_channel not in loop_layer.channels:
                self.probe_channel = await self.layer.new_channel("layerwatch.")
                self.resync_channel = await self.layer.new_channel("layerwatch.")
                await self.layer.group_add(RESYNC_GROUP, self.resync_channel)
            self._drain_resync_requests(loop_layer)
            queue: asyncio.Queue = loop_layer.channels[self.probe_channel]
            while not queue.empty():
                queue.get_nowait()
            token = uuid.uuid4().hex
            await asyncio.wait_for(
                self.layer.send(self.probe_channel, {"type": "probe", "token": token}),
                PROBE_TIMEOUT_S * 3,
            )
            deadline = time.monotonic() + PROBE_TIMEOUT_S
            came_back = False
            while (left := deadline - time.monotonic()) > 0:
                data = await asyncio.wait_for(queue.get(), left)
                if self.layer.deserialize(data).get("token") == token:
                    came_back = True
                    break
            if not came_back:
                return False, False
            return True, await self._restarted()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("channel layer probe failed: %r", exc)
            return False, False

    def _on_reconnect(self, connection: Any) -> None:
        self.reconnected = True

    async def _restarted(self) -> bool:
        restarted = False
        for shard in self.layer._get_layer()._shards:
            if shard._redis is None:
                continue
            connection = getattr(shard._pubsub, "connection", None)
            watched = getattr(connection, "_helpdesk_watch", None) == self.token
            if connection is not None and not watched:
                # redis-py keeps a weak reference: this watcher outlives the callback's use.
                connection.register_connect_callback(self._on_reconnect)
                connection._helpdesk_watch = self.token
            info = await shard._redis.info("server")
            run_id = f"{id(shard)}:{info.get('run_id')}"
            restarted = restarted or (self.run_id is not None and run_id != self.run_id)
            self.run_id = run_id
        return restarted

    def _drain_resync_requests(self, loop_layer) -> None:
        queue = loop_layer.channels.get(self.resync_channel)
        if queue is None or queue.empty():
            return
        senders = set()
        while not queue.empty():
            senders.add(self.layer.deserialize(queue.get_nowait()).get("sender"))
        if senders - {self.token}:
            self.resync_all("asked")

    async def _ask_others(self) -> None:
        try:
            await self.layer.group_send(RESYNC_GROUP, {"type": "resync", "sender": self.token})
        except Exception:
            log.warning("asking the other workers to re-sync failed", exc_info=True)
            self.lost_publishes = True

    async def _resubscribe(self) -> None:
        """Subscribe every channel and group of this loop again (harmless if subscribed)."""
        loop_layer = self.layer._get_layer()
        wanted: dict[Any, set[str]] = {}
        for name in [*loop_layer.channels, *loop_layer.groups]:
            wanted.setdefault(loop_layer._get_shard(name), set()).add(name)
        for shard in loop_layer._shards:
            names = wanted.get(shard, set())
            try:
                async with shard._lock:
                    shard._ensure_redis()
                    shard._ensure_receiver()
                    stale = shard._subscribed_to - names
                    if names:
                        await shard._pubsub.subscribe(*names)
                    if stale:
                        await shard._pubsub.unsubscribe(*stale)
                    shard._subscribed_to = set(names)
            except Exception as exc:
                log.debug("resubscribing failed: %r", exc)

    async def _forget_channels(self) -> None:
        loop_layer = self.layer._get_layer()
        for channel in (self.probe_channel, self.resync_channel):
            if channel and loop_layer.channels.pop(channel, None) is not None:
                try:
                    if channel == self.resync_channel:
                        await self.layer.group_discard(RESYNC_GROUP, channel)
                    await loop_layer._get_shard(channel).unsubscribe(channel)
                except Exception:
                    log.debug("unsubscribing the probe failed", exc_info=True)

    # -- re-syncing the sockets -------------------------------------------------

    def resync_all(self, reason: str) -> None:
        consumers = [c for c in self.consumers if not c.closing]
        if not consumers:
            return
        self.resync_count += 1
        log.info("channel layer %s: re-syncing %d sockets", reason, len(consumers))
        loop = asyncio.get_running_loop()
        for consumer in consumers:
            task = loop.create_task(self._resync_one(consumer))
            self.resyncs.add(task)
            task.add_done_callback(self.resyncs.discard)

    async def _resync_one(self, consumer: Resyncable) -> None:
        delay = random.random() * RESYNC_SPREAD_S
        try:
            while True:
                await asyncio.sleep(delay)
                if consumer.closing:
                    return
                try:
                    await consumer.resync()
                    return
                except Exception as exc:
                    # The database may be away too: try again, less and less often.
                    log.warning("re-sync of a socket failed, retrying: %r", exc)
                    delay = min(10.0, max(1.0, delay * 2)) * (1 + random.random() / 2)
        except asyncio.CancelledError:
            pass
