"""Runs the statistics rollup inside every worker, like the retention purge.

The same owner and closing path as helpdesk/retention_timer.py (one daemon
thread per worker, woken by the lifespan's stop); only the work and the
interval differ: settings.STATS_ROLLUP_EVERY_S (0 turns it off). The rollup's
advisory lock lets one worker do each run while the others skip theirs.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection

from helpdesk.retention_timer import RetentionPurgeTimer

log = logging.getLogger(__name__)

FIRST_RUN_DELAY_S = 30.0


class StatsRollupTimer(RetentionPurgeTimer):
    """Lifespan hook: `rollup` now and then, in a thread of its own."""

    def __init__(
        self, interval_s: float | None = None, *, first_delay_s: float = FIRST_RUN_DELAY_S
    ):
        if interval_s is None:
            interval_s = getattr(settings, "STATS_ROLLUP_EVERY_S", 300.0)
        super().__init__(interval_s, first_delay_s=first_delay_s)

    async def start(self) -> None:
        if self.interval_s <= 0:
            log.info("stats rollup timer disabled by settings")
            return
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._main, name="stats-rollup", daemon=True)
        self._thread.start()
        log.info("stats rollup timer started: every %.0fs", self.interval_s)

    def _run_once(self) -> None:
        from helpdesk.stats.rollup import rollup

        try:
            rollup(wait=False)
            self.runs += 1
        except Exception:  # a failed run is retried at the next interval
            self.errors += 1
            log.exception("stats rollup failed; retrying in %.0fs", self.interval_s)
        finally:
            try:
                connection.close()
            except Exception:
                log.debug("closing the rollup thread's connection failed", exc_info=True)
