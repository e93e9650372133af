"""Runs the retention purge inside every worker, so that no cron job is needed.

A lifespan hook (settings.LIFESPAN_HOOKS) owns one daemon thread per worker
process. The thread purges once shortly after startup and then every
settings.RETENTION_PURGE_EVERY_S (0 turns the timer off). The purge is
synchronous ORM work, so it runs in this thread and never on the server's
event loop. The purge's advisory lock lets one worker do the work while the
others find it taken and wait for their next turn (helpdesk/services/retention.py).

A failing run (database restarting, a bad setting) is logged and retried at
the next interval; nothing here can stop the worker. Stopping the hook wakes
the thread, which finishes at most the batch in hand. The thread gives its
database connection back after every run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)

# Long enough for a starting worker to settle (connections, caches, the first
# customers), short enough that a restarted server soon catches up.
FIRST_RUN_DELAY_S = 60.0
STOP_TIMEOUT_S = 30.0


class RetentionPurgeTimer:
    """Lifespan hook: `purge_expired` now and then, in a thread of its own."""

    def __init__(
        self,
        interval_s: float | None = None,
        *,
        first_delay_s: float = FIRST_RUN_DELAY_S,
        purge: Callable[..., object] | None = None,
    ):
        if interval_s is None:
            interval_s = getattr(settings, "RETENTION_PURGE_EVERY_S", 3600.0)
        self.interval_s = float(interval_s)
        self.first_delay_s = max(0.0, float(first_delay_s))
        self._purge = purge
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.errors = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        if self.interval_s <= 0:
            log.info("retention purge timer disabled by settings")
            return
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._main, name="retention-purge", daemon=True)
        self._thread.start()
        log.info(
            "retention purge timer started: first run in %.0fs, then every %.0fs",
            self.first_delay_s,
            self.interval_s,
        )

    async def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        await asyncio.get_running_loop().run_in_executor(None, thread.join, STOP_TIMEOUT_S)
        if thread.is_alive():
            log.warning("retention purge timer did not stop within %.0fs", STOP_TIMEOUT_S)
        self._thread = None
        log.info("retention purge timer stopped after %d runs", self.runs)

    def _main(self) -> None:
        delay = self.first_delay_s
        # Event.wait returns True once stop() is called: that ends the loop.
        while not self._stop.wait(delay):
            self._run_once()
            delay = self.interval_s

    def _run_once(self) -> None:
        from helpdesk.services.retention import purge_expired

        try:
            (self._purge or purge_expired)(should_stop=self._stop.is_set)
            self.runs += 1
        except Exception:  # never let a purge take the worker down
            self.errors += 1
            log.exception("retention purge failed; retrying in %.0fs", self.interval_s)
        finally:
            # An hour between runs: the connection goes back (to the pool, if
            # any) rather than sit idle, and a broken one is not reused.
            try:
                connection.close()
            except Exception:
                log.debug("closing the purge thread's connection failed", exc_info=True)
