"""Knowledge-base suggestions for the serving supporter, off the hot path.

After a customer message is stored the customer's consumer calls `schedule`;
at most one search per contact runs every CHAT_SUGGEST_INTERVAL_S seconds, on
the latest customer text, and its result goes to the contact's group as a
`suggestions` event (ephemeral: nothing to store). Message delivery never
waits for it.

Where the search runs: a search is CPU-bound Python that holds the GIL, and
in an ASGI worker it delays every socket's messages (bench/chat_load.py). So
when a suggestion worker is alive (realtime/suggest_worker.py) the request
only goes onto its Redis queue (realtime/suggest_queue.py) and the worker
searches and publishes. Without one (the embedded `make serve`, tests that
start none, a worker that is down) the search runs here, in one thread, under
a process-wide budget (CHAT_SUGGEST_MAX_PER_S) so that it cannot eat the CPU
that delivery needs; CHAT_SUGGEST_FALLBACK=0 turns that off. Without the
knowledge app this does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from realtime import suggest_queue
from realtime.events import apublish, contact_group
from realtime.suggest_worker import search as _search

log = logging.getLogger(__name__)

MAX_TEXT = suggest_queue.MAX_TEXT
_FORGET_AFTER_S = 3600


@dataclass
class _Pending:
    language: str
    text: str
    topic: str | None = None


_pending: dict[str, _Pending] = {}
_last_run: dict[str, float] = {}
_tasks: set[asyncio.Task] = set()
# One thread: searches are CPU-bound Python and hold the GIL, so running
# several at once would only take more time away from message delivery.
_search_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-suggest")
_budget = {"at": 0.0, "tokens": 0.0}


def _interval() -> float:
    return float(getattr(settings, "CHAT_SUGGEST_INTERVAL_S", 10.0))


def _take_budget() -> bool:
    """A process-wide cap on searches per second; above it suggestions are skipped."""
    rate = float(getattr(settings, "CHAT_SUGGEST_MAX_PER_S", 2.0))
    now = time.monotonic()
    _budget["tokens"] = min(rate, _budget["tokens"] + (now - _budget["at"]) * rate)
    _budget["at"] = now
    if _budget["tokens"] < 1.0:
        return False
    _budget["tokens"] -= 1.0
    return True


def _available() -> bool:
    try:
        from knowledge.services import suggest_articles  # noqa: F401
    except ImportError:
        return False
    return True


def schedule(*, contact: str, language: str, text: str, topic: str | None = None) -> None:
    """Note new customer text; a search for this contact runs soon, at most once per interval."""
    if not text or not _available():
        return
    pending = _pending.get(contact)
    if pending is not None:
        pending.text = (pending.text + "\n" + text)[-MAX_TEXT:]
        return
    _pending[contact] = _Pending(language, text[-MAX_TEXT:], topic)
    delay = max(0.0, _last_run.get(contact, 0.0) + _interval() - time.monotonic())
    task = asyncio.get_running_loop().create_task(_run(contact, delay))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _run(contact: str, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
        pending = _pending.pop(contact, None)
        now = time.monotonic()
        _last_run[contact] = now
        if len(_last_run) > 10_000:
            for key in [k for k, at in _last_run.items() if now - at > _FORGET_AFTER_S]:
                _last_run.pop(key, None)
        if pending is None:
            return
        if await suggest_queue.worker_alive():
            await suggest_queue.push(
                suggest_queue.Request(
                    contact, pending.language, pending.text, pending.topic, time.time()
                )
            )
            return
        if not getattr(settings, "CHAT_SUGGEST_FALLBACK", True) or not _take_budget():
            return
        articles = await sync_to_async(_search, thread_sensitive=False, executor=_search_pool)(
            pending.text, pending.language, pending.topic
        )
        if articles:
            await apublish(
                contact_group(contact),
                {"type": "suggestions", "contact": contact, "articles": articles[:3]},
            )
    except asyncio.CancelledError:
        _pending.pop(contact, None)
        raise
    except Exception:
        _pending.pop(contact, None)
        log.warning("suggestions failed for contact %s", contact, exc_info=True)
