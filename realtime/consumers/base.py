"""What the customer and supporter consumers share.

- `receive` is the one guarded entry for client frames: size, JSON, schema and
  rate checks, dispatch to `on_<type>`, and every failure turned into an
  `error` frame (docs/protocol.md) with the socket left open. Nothing a client
  sends may take the worker down.
- `helpdesk_event` is the one entry for channel-layer events (published by
  realtime.events); it is guarded the same way.
- Message delivery keeps a cursor per contact (the last seq sent on this
  socket): notifications at or below it are dropped, a jump past it is filled
  from the database first, so a client sees every message once and in order
  whatever the channel layer does.
- A watchdog closes a socket silent for CHAT_IDLE_TIMEOUT_S (4408).
- After a fault of the channel layer (realtime/layer_watch.py) a socket
  re-syncs: `resync` sends the messages after each cursor from the database,
  under the same lock as live delivery, so nothing is sent twice.
- While the database is away, frames that need it are answered `unavailable`
  (docs/protocol.md): nothing was stored, resend later.

Database work runs in a small dedicated thread pool (`db`), not Django's
single thread-sensitive thread: that thread would serialise every socket's
queries in a process (docs/architecture.md section 4). A new chat message,
the hot path, is stored from the loop itself where it can (`post_message`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from helpdesk import db_async, logging_context, metrics
from helpdesk.db import keep_usable_connection
from helpdesk.services import messages as message_service
from helpdesk.services.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    RateLimited,
    ServiceError,
)
from realtime import events, layer_watch, serializers
from realtime.protocol import Frame, ProtocolError, parse_frame
from realtime.ratelimit import SocketRateLimit
from realtime.video import signalling as video_signalling

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "try again later": the database is away

ERROR_CODES = frozenset(
    {
        "invalid_json",
        "unknown_type",
        "invalid",
        "too_large",
        "rate_limited",
        "not_allowed",
        "not_found",
        "conflict",
        "unavailable",
        "internal",
    }
)
_ERROR_CLASSES = (
    (NotFound, "not_found"),
    (NotAllowed, "not_allowed"),
    (Conflict, "conflict"),
    (RateLimited, "rate_limited"),
    (InvalidInput, "invalid"),
)
STORING_FRAMES = frozenset(
    {"message.send", "note.add", "article.share", "feedback"}
    | {"rtc.propose", "rtc.accept", "rtc.decline", "rtc.stop"}  # each records a ContactEvent
)

# Two pools: the chat hot path (store, replay, receipts) must never queue
# behind console reads (welcome, queue snapshots), which are slower and come in
# bursts when routing tells every supporter of a provider that its queue moved.
_pool = ThreadPoolExecutor(
    max_workers=int(getattr(settings, "CHAT_DB_THREADS", 8)), thread_name_prefix="chat-db"
)
_console_pool = ThreadPoolExecutor(
    max_workers=int(getattr(settings, "CHAT_CONSOLE_DB_THREADS", 2)),
    thread_name_prefix="console-db",
)


def _in_thread(fn, args, kwargs):
    keep_usable_connection()
    try:
        with events.collecting() as collected:
            try:
                return fn(*args, **kwargs), None, collected
            except Exception as exc:
                return None, exc, collected
    finally:
        keep_usable_connection()


async def _run(executor: ThreadPoolExecutor, fn, args, kwargs):
    """Run `fn` in a worker thread, then send the events it committed from this loop.

    One hop each way and nothing more: the thread does not wait for the
    channel layer. The events go out before the caller continues (the other
    side is notified before the sender is acknowledged), and still go out if
    the caller is cancelled meanwhile (its socket closed): a stored message is
    always announced.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    future = loop.run_in_executor(executor, context.run, _in_thread, fn, args, kwargs)
    try:
        result, exc, collected = await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(functools.partial(_announce_when_done, events_at=2))
        raise
    await events.send_collected(collected)
    if exc is not None:
        raise exc
    return result


def _announce_when_done(future: asyncio.Future, *, events_at: int) -> None:
    """Send the committed events of a store whose caller was cancelled."""
    if future.cancelled() or future.exception() is not None or future.result() is None:
        return
    events.send_in_background(future.result()[events_at])


async def db(fn, *args, **kwargs):
    """Run a synchronous database function of the chat hot path off the event loop."""
    return await _run(_pool, fn, args, kwargs)


async def console_db(fn, *args, **kwargs):
    """The same for console reads (welcome, snapshots), on their own small pool."""
    return await _run(_console_pool, fn, args, kwargs)


@metrics.timed_async(metrics.MESSAGE_STORE_SECONDS)
async def post_message(**kwargs) -> message_service.PostResult:
    """Store a text message: from the loop when it can (db_async), else in a thread.

    The async path covers the common case, a new message stored; a resend or
    a refusal comes back as None and takes the thread path, which explains or
    acknowledges it. Like `db`, a stored message is announced even if the
    caller is cancelled meanwhile.
    """
    if db_async.enabled():
        task = asyncio.get_running_loop().create_task(message_service.apost_message(**kwargs))
        try:
            stored = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(functools.partial(_announce_when_done, events_at=1))
            raise
        if stored is not None:
            result, collected = stored
            await events.send_collected(collected)
            return result
    return await db(message_service.post_message, **kwargs)


def error_code(exc: ServiceError) -> str:
    if exc.code in ERROR_CODES:
        return exc.code
    for cls, code in _ERROR_CLASSES:
        if isinstance(exc, cls):
            return code
    return "invalid"


def database_unavailable(exc: BaseException) -> bool:
    """Is this the database being away (restarting, unreachable, pool exhausted)?"""
    from django.db import InterfaceError, OperationalError

    try:
        import psycopg
    except ImportError:  # SQLite only
        return isinstance(exc, (OperationalError, InterfaceError))
    return isinstance(
        exc, (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
    )


def idle_timeout() -> float:
    return float(getattr(settings, "CHAT_IDLE_TIMEOUT_S", 90))


class BaseConsumer(AsyncWebsocketConsumer):
    side: str = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rate = SocketRateLimit()
        self.cursors: dict[str, int] = {}  # contact public id -> last seq sent
        # Seqs above the cursor that this socket wrote and got back in its ack.
        self.own_seqs: dict[str, set[int]] = {}
        self.contact_pks: dict[str, int] = {}  # contact public id -> primary key
        self.last_frame_at = time.monotonic()
        self.groups_joined: set[str] = set()
        self._watchdog: asyncio.Task | None = None
        self.closing = False
        # Live delivery and re-sync take turns: neither sends what the other sent.
        self.delivery_lock = asyncio.Lock()

    async def dispatch(self, message: dict[str, Any]) -> None:
        logging_context.bind_socket(self)  # log lines name their socket
        # Channels runs close_old_connections() before every handler through
        # the process's single thread-sensitive thread, which would serialise
        # every frame and event of every socket onto that thread. Nothing here
        # touches the ORM on the event loop: `db`/`console_db` look after the
        # connections of their own threads.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message.get('type')!r}")
        await handler(message)

    # -- lifecycle -------------------------------------------------------------

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        """Connect; while the database is away, say so and close (the client retries)."""
        try:
            await super().websocket_connect(message)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("database unavailable while opening a %s socket: %r", self.side, exc)
            self.closing = True
            await self.accept()
            await self.send(
                text_data=json.dumps(
                    serializers.error(
                        "unavailable", "the service is briefly unavailable; reconnect later"
                    )
                )
            )
            await self.close(code=CLOSE_TRY_AGAIN)

    async def refuse(self, code: int) -> None:
        """Accept then close: a browser cannot read the reason of a refused handshake."""
        self.closing = True
        await self.accept()
        await self.close(code=code)

    async def start(self) -> None:
        await self.accept()
        metrics.socket_opened(self.side)
        self._metrics_counted = True
        self.last_frame_at = time.monotonic()
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_idle())
        layer_watch.register(self)

    async def join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    async def join_all(self, groups) -> None:
        """Join several groups at once (one subscription command where the layer has one)."""
        new = [group for group in dict.fromkeys(groups) if group not in self.groups_joined]
        add_many = getattr(self.channel_layer, "group_add_many", None)
        if add_many is None or len(new) < 2:
            for group in new:
                await self.join(group)
            return
        await add_many(new, self.channel_name)
        self.groups_joined.update(new)

    async def leave(self, group: str) -> None:
        if group in self.groups_joined:
            self.groups_joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if getattr(self, "_metrics_counted", False):
            self._metrics_counted = False
            metrics.socket_closed(self.side)
        if self._watchdog is not None:
            self._watchdog.cancel()
        layer_watch.unregister(self)
        for group in list(self.groups_joined):
            try:
                await self.leave(group)
            except Exception:
                log.warning("group_discard %s failed", group, exc_info=True)
        try:
            await video_signalling.socket_closed(self)
        except Exception:
            log.warning("ending video on %s failed", self.log_ref(), exc_info=True)
        await self.on_disconnect()

    async def on_disconnect(self) -> None:
        pass

    async def _watch_idle(self) -> None:
        timeout = idle_timeout()
        try:
            while not self.closing:
                await asyncio.sleep(min(10.0, timeout / 3))
                if time.monotonic() - self.last_frame_at > timeout:
                    log.info("closing idle %s socket %s", self.side, self.log_ref())
                    self.closing = True
                    await self.close(code=CLOSE_IDLE)
                    return
        except asyncio.CancelledError:
            pass

    def log_ref(self) -> str:
        return ",".join(self.contact_pks) or "-"

    # -- frames in -------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        self.last_frame_at = time.monotonic()
        frame: Frame | None = None
        try:
            if not self.rate.allow_frame():
                raise ProtocolError("rate_limited", "too many frames; slow down")
            frame = parse_frame(text_data if text_data is not None else bytes_data, side=self.side)
            if frame.type in STORING_FRAMES and not self.rate.allow_store():
                raise ProtocolError(
                    "rate_limited",
                    "too many messages; nothing was stored, resend later",
                    self._ref(frame),
                )
            if frame.type.startswith("rtc."):
                await video_signalling.handle_frame(self, frame)
            else:
                await getattr(self, "on_" + frame.type.replace(".", "_"))(frame)
        except ProtocolError as exc:
            await self.send_json(serializers.error(exc.code, exc.detail, exc.ref))
        except ServiceError as exc:
            await self.send_json(serializers.error(error_code(exc), exc.message, self._ref(frame)))
        except Exception as exc:
            if database_unavailable(exc):
                log.warning(
                    "database unavailable on %s socket, frame %s: %r",
                    self.side,
                    frame.type if frame else "?",
                    exc,
                )
                await self.send_json(
                    serializers.error(
                        "unavailable",
                        "the service is briefly unavailable; nothing was stored, resend later",
                        self._ref(frame),
                    )
                )
                return
            log.exception(
                "unexpected error on %s socket, frame %s, contact %s",
                self.side,
                frame.type if frame else "?",
                self.log_ref(),
            )
            await self.send_json(
                serializers.error("internal", "unexpected server error", self._ref(frame))
            )

    @staticmethod
    def _ref(frame: Frame | None) -> str | None:
        if frame is None:
            return None
        return frame.get("client_msg_id") or frame.type

    async def send_json(self, data: dict[str, Any]) -> None:
        if self.closing:
            return
        try:
            await self.send(text_data=json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        except OSError:  # the client is gone (uvicorn's ClientDisconnected); disconnect follows
            self.closing = True

    async def on_ping(self, frame: Frame) -> None:
        await self.send_json({"type": "pong"})

    # -- events in -------------------------------------------------------------

    async def helpdesk_event(self, message: dict[str, Any]) -> None:
        event = message.get("event") or {}
        try:
            kind = event.get("type") or ""
            if kind.startswith("rtc."):
                await video_signalling.handle_event(self, event)
                return
            if kind == "contact.state":
                await video_signalling.contact_state_changed(self, event)
            await self.on_event(event)
        except Exception:
            log.exception(
                "failed to handle %s event on %s socket, contact %s",
                event.get("type"),
                self.side,
                self.log_ref(),
            )

    async def on_event(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- ordered delivery ------------------------------------------------------

    def ack(self, result: message_service.PostResult, **kwargs) -> dict[str, Any]:
        """The message.ack frame; it carries the message when this socket has not had it.

        A socket gets each message once: in the welcome replay, as a
        message.new, or, for what it wrote itself, in this ack. The sender's
        own message.new is then skipped (`deliver_message`): it would only
        repeat the ack, and at a thousand chats that repeat is a third of
        all frames sent.
        """
        frame = serializers.ack(result, **kwargs)
        cursor = self.cursors.get(result.contact)
        if result.message and cursor is not None and result.seq > cursor:
            frame["message"] = result.message
            self.own_seqs.setdefault(result.contact, set()).add(result.seq)
        return frame

    def _own(self, contact: str, seq: int) -> bool:
        own = self.own_seqs.get(contact)
        if not own or seq not in own:
            return False
        own.discard(seq)
        if not own:
            del self.own_seqs[contact]
        return True

    async def deliver_message(self, contact: str, message: dict[str, Any]) -> None:
        """Send one message.new in order, filling any gap from the database."""
        async with self.delivery_lock:
            await self._deliver_message(contact, message)

    async def _deliver_message(self, contact: str, message: dict[str, Any]) -> None:
        cursor = self.cursors.get(contact)
        seq = message.get("seq")
        if cursor is None or not isinstance(seq, int) or seq <= cursor:
            return  # before `hello` (the welcome replays it) or already sent
        if seq > cursor + 1:
            replay = await db(
                message_service.replay,
                contact_id=self.contact_pks[contact],
                after_seq=cursor,
                for_customer=self.side == "customer",
                up_to=seq - 1,
            )
            for missed in replay.messages:
                if not self._own(contact, missed["seq"]):
                    await self.send_json(serializers.message_new(contact, missed))
        self.cursors[contact] = seq
        if not self._own(contact, seq) and self.visible(message):
            metrics.observe_delivery(message)
            await self.send_json(serializers.message_new(contact, message))

    def visible(self, message: dict[str, Any]) -> bool:
        return True

    # -- re-sync after a fault ----------------------------------------------------

    async def resync(self) -> None:
        """Send what this socket may have missed while the channel layer was away."""
        async with self.delivery_lock:
            for contact, cursor in list(self.cursors.items()):
                pk = self.contact_pks.get(contact)
                if pk is None:
                    continue
                replay = await db(
                    message_service.replay,
                    contact_id=pk,
                    after_seq=cursor,
                    for_customer=self.side == "customer",
                )
                if self.cursors.get(contact) != cursor:
                    continue  # served elsewhere meanwhile (left or re-joined)
                for missed in replay.messages:
                    if not self._own(contact, missed["seq"]) and self.visible(missed):
                        await self.send_json(serializers.message_new(contact, missed))
                self.cursors[contact] = max(cursor, replay.last_seq)
        await self.resync_state()

    async def resync_state(self) -> None:
        """The side's own state besides messages (contact state, offers, queue)."""
