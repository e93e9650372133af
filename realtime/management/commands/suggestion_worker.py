"""Serve knowledge suggestions for live chats outside the ASGI workers.

    manage.py suggestion_worker [--max-age 30]

Runs until SIGTERM or SIGINT (the search in progress finishes first). Needs
REDIS_URL, as the ASGI workers it serves; run one or more per deployment
under a supervisor that restarts it (README, "Production shape").
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.suggest_worker import SuggestionWorker

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run knowledge searches for chat suggestions (needs REDIS_URL)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-age",
            type=float,
            default=settings.CHAT_SUGGEST_MAX_AGE_S,
            help="seconds after which a queued request is dropped unanswered",
        )

    def handle(self, *args, **options):
        if not settings.REDIS_URL:
            raise CommandError(
                "REDIS_URL is not set: without Redis there is one process, and the chat"
                " consumers search in it."
            )
        lower_priority(settings.CHAT_SUGGEST_WORKER_NICE)
        worker = SuggestionWorker(max_age_s=options["max_age"])
        asyncio.run(self._serve(worker))

    async def _serve(self, worker: SuggestionWorker) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)


def lower_priority(by: int) -> int:
    """Lower this process's CPU priority by `by` (0: leave it); the niceness now.

    Suggestions help a supporter; the chat is what a customer waits for. In a
    busy hour the worker searches without pause (requests are always
    queued), and on a machine shared with the ASGI workers each search's
    Python would take CPU time that message delivery needs. At a lower
    priority the worker uses what the chat leaves: on an idle machine it
    searches as fast as before. Only the worker's own process is lowered; its
    database queries run at the database's priority.
    """
    if by <= 0:
        return os.nice(0)
    niceness = os.nice(by)
    log.info("suggestion worker running at niceness %d", niceness)
    return niceness
