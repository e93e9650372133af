"""The one publisher of real-time events.

Only services call `publish_on_commit`: an event leaves after the database
transaction that caused it commits, so no client ever sees rolled-back state.
The channel layer is a notification path only; every fact an event carries is
already in the database, and clients that miss an event catch up from there
(messages by sequence number, queue state by re-reading it).

Group names are defined here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

# Every event type that can be published, with the keys it must carry. The
# consumer tests check published events against this table.
EVENT_SCHEMAS: dict[str, frozenset[str]] = {
    "message.new": frozenset({"contact", "message"}),
    "message.receipt": frozenset({"contact", "who", "delivered_seq", "read_seq"}),
    "typing": frozenset({"contact", "who", "active"}),
    # Video (helpdesk/services/video.py, realtime/video/signalling.py).
    "rtc.proposal": frozenset({"contact", "proposal", "kind", "by", "expires_at"}),
    "rtc.declined": frozenset({"contact", "proposal", "kind", "by", "reason"}),
    "rtc.start": frozenset({"contact", "session", "kind", "kinds", "sockets", "relay_only"}),
    "rtc.stopped": frozenset({"contact", "session", "stopped", "kinds", "ended", "sockets"}),
    # Sent to one socket only (asend_to_socket): an offer, answer or candidate.
    "rtc.signal": frozenset({"contact", "session", "signal"}),
    "contact.state": frozenset({"contact", "state"}),
    "queue.position": frozenset({"contact", "position", "estimated_wait_s"}),
    "queue.closed": frozenset({"contact", "opens_at"}),
    "queue.changed": frozenset({"provider"}),
    "offer.new": frozenset({"offer", "contact", "expires_at"}),
    "offer.withdrawn": frozenset({"offer", "contact", "reason"}),
    "supporter.presence": frozenset({"supporter", "presence"}),
    "suggestions": frozenset({"contact", "articles"}),
    # Phone calls (realtime/telephony): "ended", "not_connected", "callback_failed".
    "phone.call": frozenset({"contact", "call"}),
    # Warm transfers of a call (realtime/telephony/warm.py): both supporters and
    # the asked ones hear each state.
    "phone.transfer": frozenset({"transfer", "contact", "state"}),
}


def contact_group(public_id: Any) -> str:
    """Everyone on one contact: the customer's sockets and the serving supporter's."""
    return f"contact.{getattr(public_id, 'hex', str(public_id).replace('-', ''))}"


def supporter_group(supporter_id: int) -> str:
    """All sockets of one supporter (several tabs or devices)."""
    return f"supporter.{supporter_id}"


def provider_queue_group(provider_id: int) -> str:
    """Supporters watching one provider's queue list."""
    return f"queue.provider.{provider_id}"


def national_queue_group() -> str:
    return "queue.national"


def check_event(event: dict[str, Any]) -> None:
    kind = event.get("type")
    required = EVENT_SCHEMAS.get(kind)
    if required is None:
        raise ValueError(f"unknown event type {kind!r}")
    missing = required - event.keys()
    if missing:
        raise ValueError(f"event {kind!r} lacks {sorted(missing)}")


async def _send_one(layer, group: str, event: dict[str, Any]) -> None:
    try:
        await layer.group_send(group, {"type": "helpdesk.event", "event": event})
    except Exception:  # the database already holds the truth; clients will catch up
        log.warning("publish to %s failed for %s", group, event.get("type"), exc_info=True)


async def _send_all(batch: list[tuple[str, dict[str, Any]]], *, resend: bool = True) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        # The pipelined layer (realtime/layers.py) queues them all at once, in
        # order; what is queued goes out even if this caller is cancelled.
        try:
            await send_many([(g, {"type": "helpdesk.event", "event": e}) for g, e in batch])
        except Exception:
            log.warning("publishing %d events failed", len(batch), exc_info=True)
        return
    # Other layers, sequentially: events for one group keep their order.
    for index, (group, event) in enumerate(batch):
        try:
            await _send_one(layer, group, event)
        except asyncio.CancelledError:
            if not resend:  # the background send itself: the loop is stopping
                raise
            # The caller gave up (its socket closed, the worker is stopping),
            # but the events describe committed state: send the rest anyway.
            # The one in flight may go twice; clients drop repeats by seq.
            send_in_background(batch[index:])
            raise


_background: set[asyncio.Task] = set()


def send_in_background(batch: list[tuple[str, dict[str, Any]]]) -> None:
    """Send committed events from a task of the running loop, nobody waiting for it."""
    if not batch:
        return
    task = asyncio.get_running_loop().create_task(_send_all(batch, resend=False))
    _background.add(task)
    task.add_done_callback(_background.discard)


class _Batch:
    """Events of one transaction (savepoint level), sent in one hop after commit.

    A routing round can publish hundreds of events; one async_to_sync hop per
    event costs more than the publishing itself.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def flush(self) -> None:
        events, self.events = self.events, []
        if events:
            _deliver(events)


def _deliver(events: list[tuple[str, dict[str, Any]]]) -> None:
    """The one exit to the channel layer (tests patch it to capture events)."""
    collector = getattr(_local, "collector", None)
    if collector is not None:
        collector.extend(events)
        return
    try:
        async_to_sync(_send_all)(events)
    except Exception:
        log.warning("publishing %d events failed", len(events), exc_info=True)


_local = threading.local()


@contextmanager
def collecting() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Keep the committed events of this thread in a list instead of sending them.

    For worker threads that serve an event loop (the chat consumers' database
    pools): the loop sends the list with `send_collected` when the call
    returns, so publishing costs no second hop from the thread back to the
    loop while the thread waits. Events still leave only after commit; only
    who sends them changes.
    """
    previous = getattr(_local, "collector", None)
    collected: list[tuple[str, dict[str, Any]]] = []
    _local.collector = collected
    try:
        yield collected
    finally:
        _local.collector = previous


async def send_collected(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Send events gathered by `collecting`, in order, from the event loop."""
    if events:
        await _send_all(events)


def publish_on_commit(group: str, event: dict[str, Any], *, using: str | None = None) -> None:
    """Publish `event` to `group` once the current transaction commits."""
    check_event(event)
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        batch = _Batch()
        batch.events.append((group, event))
        batch.flush()
        return
    key = (id(connection), tuple(connection.savepoint_ids))
    batch = getattr(_local, "batches", {}).get(key)
    # A batch whose hook is gone (run, or discarded by a rollback) is not reused.
    if batch is None or not any(hook[1] == batch.flush for hook in connection.run_on_commit):
        batch = _Batch()
        _local.__dict__.setdefault("batches", {})[key] = batch
        transaction.on_commit(batch.flush, using=using, robust=True)
    batch.events.append((group, event))


async def apublish(group: str, event: dict[str, Any]) -> None:
    """For ephemeral signals with no database state (typing indicators)."""
    check_event(event)
    layer = get_channel_layer()
    if layer is not None:
        await _send_one(layer, group, event)


async def asend_to_socket(channel_name: str, event: dict[str, Any]) -> None:
    """For ephemeral signals meant for one socket (WebRTC offers, answers, candidates)."""
    check_event(event)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.send(channel_name, {"type": "helpdesk.event", "event": event})
    except Exception:  # the peer is gone; its session ends with its socket
        log.warning("send to one socket failed for %s", event.get("type"), exc_info=True)
