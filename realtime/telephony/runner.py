"""Where the voice webhooks do their database work: a pool of their own.

Under ASGI a plain sync Django view runs in one shared thread per process,
so every webhook of a worker would wait for the one before it. The webhooks
are async views instead: the signature is checked on the event loop, and the
view body (a few queries and one transaction) runs on this pool, sized by
PHONE_WEBHOOK_THREADS (0 runs it on Django's shared thread instead). Events
the body commits are sent from the loop, as the chat consumers do.

The webhooks that are one statement (the wait loop, status callbacks) need
no thread at all: where `on_loop()` says so they run that statement from the
event loop on the async pool of helpdesk/db_async.py, and spare the hand-over
to a thread and back (measured with bench/twilio_webhook_cost.py, that
hand-over cost as much CPU as the statement). PHONE_WEBHOOK_ON_LOOP=0 turns
this off; it is off with PHONE_WEBHOOK_THREADS=0 too (the in-process tests'
data lives in their own transaction, which the pool's connections cannot see).
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings

from helpdesk import db_async
from helpdesk.db import keep_usable_connection
from realtime import events

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=int(getattr(settings, "PHONE_WEBHOOK_THREADS", 8)),
            thread_name_prefix="voice-webhook",
        )
    return _pool


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


def on_loop() -> bool:
    """Whether one-statement webhooks run their statement from the event loop."""
    return (
        bool(getattr(settings, "PHONE_WEBHOOK_THREADS", 8))
        and bool(getattr(settings, "PHONE_WEBHOOK_ON_LOOP", True))
        and db_async.enabled()
    )


async def run(fn, *args, **kwargs):
    if not getattr(settings, "PHONE_WEBHOOK_THREADS", 8):
        # 0: Django's shared thread (in-process tests, whose data lives in
        # the test's own open transaction on that thread's connection).
        return await sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    result, exc, collected = await loop.run_in_executor(
        _executor(), context.run, _in_thread, fn, args, kwargs
    )
    await events.send_collected(collected)
    if exc is not None:
        raise exc
    return result
