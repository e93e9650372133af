"""Prometheus metrics (prometheus-client) and the protected /metrics endpoint.

What an operator watches (README, "What to monitor"):
- helpdesk_waiting_contacts{region,channel}: the queue, read from the database at
  scrape time (so every worker answers the same);
- helpdesk_open_sockets{side}: WebSockets open per worker;
- helpdesk_routing_round_seconds: how long a routing round takes;
- helpdesk_message_store_seconds: storing a chat message, frame to commit;
- helpdesk_message_delivery_seconds: a message's age when a socket sends it on;
- helpdesk_errors_total{source,code}: error frames and API errors by code.

Several worker processes (uvicorn --workers): set PROMETHEUS_MULTIPROC_DIR to an
empty directory shared by the workers (emptied before they start). Then every
worker writes its samples there and whichever worker answers a scrape adds
them all up; socket counts keep one series per live worker (label `pid`).
Without it, each worker reports only itself, which is right for one worker.

The endpoint answers only with `Authorization: Bearer <METRICS_TOKEN>`, or to a
national admin / superuser session; with no token set it is off (404) unless
METRICS_ALLOW_LOOPBACK lets direct loopback requests in (development).
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import time
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

OPEN_SOCKETS = Gauge(
    "helpdesk_open_sockets",
    "WebSockets open in this worker",
    ["side"],
    multiprocess_mode="liveall",
)
ROUTING_ROUND_SECONDS = Histogram(
    "helpdesk_routing_round_seconds", "Duration of one routing round", buckets=_LATENCY_BUCKETS
)
MESSAGE_STORE_SECONDS = Histogram(
    "helpdesk_message_store_seconds",
    "Storing one chat message, from its frame to its commit",
    buckets=_LATENCY_BUCKETS,
)
MESSAGE_DELIVERY_SECONDS = Histogram(
    "helpdesk_message_delivery_seconds",
    "Age of a message when a socket sends it on as message.new",
    buckets=_LATENCY_BUCKETS,
)
ERRORS = Counter("helpdesk_errors", "Errors answered, by source and code", ["source", "code"])


def error(source: str, code: str) -> None:
    try:
        ERRORS.labels(source, code).inc()
    except Exception:  # metrics never break an answer
        log.debug("metrics: error counter failed", exc_info=True)


def socket_opened(side: str) -> None:
    OPEN_SOCKETS.labels(side).inc()


def socket_closed(side: str) -> None:
    OPEN_SOCKETS.labels(side).dec()


def observe_delivery(message: dict) -> None:
    created = message.get("created_at")
    if not isinstance(created, str):
        return
    try:
        age = time.time() - datetime.fromisoformat(created).timestamp()
    except ValueError:
        return
    MESSAGE_DELIVERY_SECONDS.observe(max(age, 0.0))


def timed_async(histogram: Histogram):
    """Observe how long an async function takes (also when it fails)."""

    def wrap(fn):
        @functools.wraps(fn)
        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed

    return wrap


class WaitingContactsCollector:
    """The queue by region and channel, counted in the database at scrape time."""

    def collect(self):
        from django.db.models import Count

        from helpdesk.models import Contact
        from helpdesk.models.contacts import QUEUED_STATES

        family = GaugeMetricFamily(
            "helpdesk_waiting_contacts",
            "Contacts waiting in the queue, by region and channel",
            labels=["region", "channel"],
        )
        rows = (
            Contact.objects.filter(state__in=QUEUED_STATES)
            .values("region__code", "channel")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            family.add_metric([row["region__code"] or "unknown", row["channel"]], row["n"])
        yield family


def registry() -> CollectorRegistry:
    if MULTIPROCESS:
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
    else:
        # Our metrics only: the default registry's process metrics are the
        # host's job (node exporter), not ours.
        reg = CollectorRegistry()
        for collector in (
            OPEN_SOCKETS,
            ROUTING_ROUND_SECONDS,
            MESSAGE_STORE_SECONDS,
            MESSAGE_DELIVERY_SECONDS,
            ERRORS,
        ):
            reg.register(collector)
    reg.register(WaitingContactsCollector())
    return reg


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        if hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode()):
            return True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from helpdesk.permissions import Actor

        actor = Actor.for_user(user)
        if actor.superuser or actor.national_admin:
            return True
    if settings.METRICS_ALLOW_LOOPBACK and not request.headers.get("X-Forwarded-For"):
        return request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")
    return False


def metrics_view(request):
    if not _allowed(request):
        if not settings.METRICS_TOKEN and not settings.METRICS_ALLOW_LOOPBACK:
            raise Http404("metrics are off")
        return HttpResponse("metrics need a bearer token\n", status=401, content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


class MetricsLifespan:
    """In multiprocess mode, a worker that stops takes its live gauges with it."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        if MULTIPROCESS:
            multiprocess.mark_process_dead(os.getpid())
