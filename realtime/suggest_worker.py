"""The suggestion worker: knowledge searches for live chats, outside the ASGI workers.

Run by `manage.py suggestion_worker` beside the ASGI workers (README,
"Production shape"). It takes requests from realtime/suggest_queue.py, runs
`knowledge.services.suggest_articles` and publishes the `suggestions` event to
the contact's group, where the serving supporter's console picks it up (the
customer's socket ignores it). One search at a time: they are CPU-bound, so a
busier deployment runs more worker processes, each taking its own requests.

Nothing it receives may stop it: a malformed request is logged and dropped,
a failed search (the database away) is logged and the next request tried,
and while Redis is away it waits and tries again. It marks itself alive in
Redis; the consumers search themselves when no worker is marked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async

from realtime import suggest_queue
from realtime.events import apublish, contact_group

log = logging.getLogger(__name__)

POP_TIMEOUT_S = 1
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)
# Per contact, the newest request answered: an older one still queued (taken
# newest first) must not replace fresher suggestions in the console.
_REMEMBER = 10_000


def search(text: str, language: str, topic: str | None) -> list[dict]:
    """One search, on a database connection kept healthy between requests."""
    from django.db import close_old_connections

    from knowledge.services import suggest_articles

    close_old_connections()
    try:
        return list(suggest_articles(text=text, language=language, limit=3, topic=topic))
    finally:
        close_old_connections()


class SuggestionWorker:
    def __init__(
        self,
        *,
        search: Callable[[str, str, str | None], list[dict]] = search,
        max_age_s: float = 30.0,
    ) -> None:
        self.search = search
        self.max_age_s = max_age_s
        # One thread: the database connection stays the same one.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="suggest")
        self.latest: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    async def run(self, stop: asyncio.Event) -> None:
        """Serve requests until `stop` is set; the search in progress finishes first."""
        redis = suggest_queue.client(
            max_connections=4, socket_connect_timeout=5, socket_timeout=POP_TIMEOUT_S + 5
        )
        beat = asyncio.create_task(self._heartbeat(redis, stop))
        key = suggest_queue.requests_key()
        failures = 0
        log.info("suggestion worker %s serving %s", self.name, key)
        try:
            while not stop.is_set():
                try:
                    item = await redis.blpop([key], timeout=POP_TIMEOUT_S)
                    failures = 0
                except Exception as exc:
                    delay = RETRY_DELAYS_S[min(failures, len(RETRY_DELAYS_S) - 1)]
                    failures += 1
                    log.warning("suggestion queue unreachable (%r); retrying in %.1fs", exc, delay)
                    await _sleep_unless(stop, delay)
                    continue
                if item is None:
                    continue
                try:
                    await self.handle(item[1])
                except Exception:  # a bug here must not stop the suggestions
                    log.exception("suggestion request failed unexpectedly")
        finally:
            beat.cancel()
            try:
                await redis.delete(suggest_queue.worker_key())
            except Exception:
                pass  # the mark expires by itself
            await redis.aclose()
            self.pool.shutdown(wait=True)
            log.info("suggestion worker %s stopped: %s", self.name, self.counts)

    async def handle(self, raw: bytes | str) -> str:
        """Answer one queued request; returns what became of it (for logs and tests)."""
        outcome = await self._handle(raw)
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        return outcome

    async def _handle(self, raw: bytes | str) -> str:
        try:
            request = suggest_queue.decode(raw)
        except suggest_queue.BadRequest as exc:
            # The reason only: never a conversation's words in the log.
            log.warning("suggestion request dropped: bad %s", exc)
            return "invalid"
        if time.time() - request.at > self.max_age_s:
            return "stale"
        if self.latest.get(request.contact, float("-inf")) >= request.at:
            return "superseded"
        self._remember(request.contact, request.at)
        try:
            articles = await sync_to_async(self.search, thread_sensitive=False, executor=self.pool)(
                request.text, request.language, request.topic
            )
        except Exception:
            log.warning("suggestion search failed for contact %s", request.contact, exc_info=True)
            return "failed"
        if not articles:
            return "empty"
        # apublish logs and swallows a failed publish: a suggestion is a help.
        await apublish(
            contact_group(request.contact),
            {"type": "suggestions", "contact": request.contact, "articles": list(articles)[:3]},
        )
        return "published"

    def _remember(self, contact: str, at: float) -> None:
        self.latest[contact] = at
        if len(self.latest) > _REMEMBER:
            cutoff = time.time() - self.max_age_s
            self.latest = {c: t for c, t in self.latest.items() if t >= cutoff}

    async def _heartbeat(self, redis, stop: asyncio.Event) -> None:
        key = suggest_queue.worker_key()
        while not stop.is_set():
            try:
                await redis.set(key, self.name, ex=suggest_queue.HEARTBEAT_TTL_S)
            except Exception as exc:
                log.info("suggestion worker heartbeat failed: %r", exc)
            await _sleep_unless(stop, suggest_queue.HEARTBEAT_S)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
