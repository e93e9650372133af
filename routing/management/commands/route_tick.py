"""Run routing rounds from the command line (deployments without ASGI lifespan)."""

import logging
import time

from django.core.management.base import BaseCommand
from django.db import connection

from routing.services import dispatch

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run one routing round, or keep running them with --loop."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="run until interrupted")
        parser.add_argument("--interval", type=float, default=None, help="seconds between rounds")

    def handle(self, *args, loop=False, interval=None, **options):
        from django.conf import settings

        interval = interval or settings.ROUTING_TICK_S
        while True:
            try:
                decision = dispatch()
            except Exception:
                if not loop:
                    raise
                log.exception("routing round failed")
                connection.close()
                decision = None
            if decision is None:
                summary = "another process holds the routing lock"
            else:
                summary = (
                    f"offers={len(decision.offers)} advances={len(decision.advances)} "
                    f"expired={len(decision.expirations)} positions={len(decision.positions)} "
                    f"closed={len(decision.closed)}"
                )
            if not loop:
                self.stdout.write(summary)
                return
            time.sleep(interval)
