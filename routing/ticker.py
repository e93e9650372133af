"""The routing ticker: runs `routing.services.dispatch` in every worker process.

Each ASGI worker starts one (settings.LIFESPAN_HOOKS) and runs a routing round
every settings.ROUTING_TICK_S, or at once when `kick()` is called after a
commit that changes the queue (enqueue, decline, presence, end...), so the
time from enqueue to offer is milliseconds rather than a tick. The
PostgreSQL advisory lock inside dispatch makes the workers take turns; a
worker that finds the lock taken after a kick retries within BUSY_RETRY_S, so
a kick is never lost to a round that began just before the change committed.
Each ticker keeps the routing state between its rounds
(routing/incremental.py), so a round reads only what changed since the last.

The ticker owns a thread with its own event loop; the round runs in a worker
thread of that loop (sync_to_async), so the server's event loop never waits
for it and the events published after commit go out through the ticker
loop's own channel-layer connection. A failing round (database or Redis
restarting) is logged and retried on the next tick; nothing here can stop the
worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from helpdesk import metrics
from helpdesk.db import keep_usable_connection
from routing.incremental import IncrementalSnapshot

log = logging.getLogger(__name__)

_running: set[RoutingTicker] = set()
_running_lock = threading.Lock()
BUSY_RETRY_S = 0.02
MIN_ROUND_GAP_S = 0.05
ERROR_BACKOFF_MAX_S = 10.0


def kick() -> None:
    """Ask every ticker of this process for a round now; callable from any thread."""
    with _running_lock:
        tickers = list(_running)
    for ticker in tickers:
        ticker.kick()


class RoutingTicker:
    """One per process: a thread with its own event loop that runs the rounds.

    The round itself runs in a worker thread of that loop (sync_to_async), so
    the events it publishes after commit hop to this quiet loop and its own
    channel-layer connection, never queueing behind the server loop's sockets
    and requests under load.
    """

    def __init__(
        self, interval_s: float | None = None, *, dispatch=None, min_gap_s: float | None = None
    ):
        self.interval_s = float(interval_s or getattr(settings, "ROUTING_TICK_S", 1.0))
        # In a surge every new contact kicks: rounds then start at most this
        # often, each taking in all that arrived meanwhile, so their cost
        # follows the round rate rather than the request rate.
        if min_gap_s is None:
            min_gap_s = getattr(settings, "ROUTING_MIN_ROUND_GAP_S", MIN_ROUND_GAP_S)
        self.min_gap_s = max(0.0, float(min_gap_s))
        self._last_round_at = 0.0
        self._dispatch = dispatch
        # The routing state kept between this process's rounds (routing/incremental.py).
        self.state = IncrementalSnapshot()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = False
        # One thread keeps one database connection for the ticker's lifetime.
        self._executor: ThreadPoolExecutor | None = None
        self.rounds = 0
        self.errors = 0
        self.busy = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        if not getattr(settings, "ROUTING_TICKER_ENABLED", True):
            log.info("routing ticker disabled by settings")
            return
        if self.running:
            return
        self._stopping = False
        self._ready.clear()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routing-round")
        # Load the holiday calendar now rather than inside the first kicked round.
        self._executor.submit(_warm_up)
        self._thread = threading.Thread(target=self._main, name="routing-ticker", daemon=True)
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait, 10)
        with _running_lock:
            _running.add(self)
        log.info("routing ticker started, every %.2fs", self.interval_s)

    async def stop(self) -> None:
        with _running_lock:
            _running.discard(self)
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        self.kick()
        timeout = max(10.0, self.interval_s * 3)
        await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
        if thread.is_alive():
            log.warning("routing ticker did not stop within %.0fs", timeout)
        self._thread = None
        log.info("routing ticker stopped after %d rounds", self.rounds)

    def kick(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._wake = asyncio.Event()
            self._ready.set()
            loop.run_until_complete(self._run())
        except Exception:
            log.exception("routing ticker loop failed")
        finally:
            executor, self._executor = self._executor, None
            if executor is not None:
                try:
                    executor.submit(_close).result(timeout=10)
                except Exception:
                    log.debug("closing the ticker's connection failed", exc_info=True)
                executor.shutdown(wait=False)
            self._wake = None
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                # Closing the loop also lets the channel layer close its
                # connections for this loop.
                loop.close()
                self._loop = None

    async def _run(self) -> None:
        delay = self.interval_s
        backoff = 0.0
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            if self._stopping:
                break
            wait = self._last_round_at + self.min_gap_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # kicks meanwhile join this round
            self._wake.clear()
            if self._stopping:
                break
            previous_round_at = self._last_round_at
            self._last_round_at = time.monotonic()
            outcome = await self._round()
            if outcome == "busy":
                # Another process is mid-round and may not see our change. A
                # try that found the lock taken read nothing: it does not
                # count as a round for the gap, so the retry comes soon.
                self._last_round_at = previous_round_at
                delay = BUSY_RETRY_S
            elif outcome == "error":
                backoff = min(ERROR_BACKOFF_MAX_S, max(self.interval_s, backoff * 2 or 0.5))
                delay = backoff
            else:
                backoff = 0.0
                delay = self.interval_s

    async def _round(self) -> str:
        try:
            return await sync_to_async(
                self._round_sync, thread_sensitive=False, executor=self._executor
            )()
        except asyncio.CancelledError:
            raise
        except Exception:  # never let a round take the worker down
            self.errors += 1
            log.exception("routing round failed")
            return "error"

    def _round_sync(self) -> str:
        from routing.services import dispatch

        started = time.monotonic()
        try:
            if self._dispatch is not None:
                decision = self._dispatch()
            else:
                decision = dispatch(state=self.state)
        except Exception:
            self.errors += 1
            log.warning("routing round failed; retrying", exc_info=True)
            # The connection may be broken (database restart): start afresh.
            try:
                connection.close()
            except Exception:
                log.debug("closing a broken connection failed", exc_info=True)
            return "error"
        finally:
            keep_usable_connection()
        if decision is None:
            self.busy += 1
            return "busy"
        self.rounds += 1
        took = time.monotonic() - started
        metrics.ROUTING_ROUND_SECONDS.observe(took)
        if took > self.interval_s:
            log.warning("routing round took %.3fs (tick %.2fs)", took, self.interval_s)
        return "ok"


def _warm_up() -> None:
    from datetime import date

    from routing.availability import finnish_holidays

    try:
        _ = date.today() in finnish_holidays
    except Exception:  # only an optimisation
        log.debug("holiday calendar warm-up failed", exc_info=True)


def _close() -> None:
    """Runs in the ticker's own thread: closes that thread's connection."""
    connection.close()
