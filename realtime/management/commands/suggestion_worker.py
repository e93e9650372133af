"""Serve knowledge suggestions for live chats outside the ASGI workers.

    manage.py suggestion_worker [--max-age 30]

Runs until SIGTERM or SIGINT (the search in progress finishes first). Needs
REDIS_URL, as the ASGI workers it serves; run one or more per deployment
under a supervisor that restarts it (README, "Production shape").
"""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.suggest_worker import SuggestionWorker


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
        worker = SuggestionWorker(max_age_s=options["max_age"])
        asyncio.run(self._serve(worker))

    async def _serve(self, worker: SuggestionWorker) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)
