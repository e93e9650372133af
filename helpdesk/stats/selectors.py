"""Permission-aware reads of the statistics: who sees which buckets, and the figures.

Three readers (helpdesk/permissions.py): a national admin sees every region;
a regional coordinator sees their own regions, whole; a provider admin sees
the contacts their own providers answered (or that came in through their
widget). Small cells are suppressed everywhere except in a coordinator's own
regions (helpdesk/stats/figures.py). Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.models import Municipality, Provider, Region, Topic
from helpdesk.models.providers import CHANNEL_CHOICES
from helpdesk.permissions import Action, Actor, require
from helpdesk.services.errors import InvalidInput, NotAllowed
from helpdesk.stats import figures
from helpdesk.stats.models import HourlyBucket

DEFAULT_PERIOD_DAYS = 28
MAX_PERIOD_DAYS = 3 * 366
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_REGION_CODE = re.compile(r"^[0-9]{2}$")
_SLUG = re.compile(r"^[-a-z0-9_]{1,64}$")
CHANNELS = tuple(code for code, _label in CHANNEL_CHOICES)
BUCKET_FIELDS = (
    "hour_start",
    "region_id",
    "provider_id",
    "channel",
    "topic_id",
    "language",
    *figures.SUM_FIELDS,
    "wait_hist",
    "abandon_wait_hist",
    "ratings",
)


@dataclass(frozen=True)
class StatsScope:
    """What one reader may see. None: no limit on that dimension."""

    kind: str  # "national" | "coordinator" | "provider"
    region_ids: frozenset[int] | None = None
    provider_ids: frozenset[int] | None = None
    unsuppressed_region_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class StatsFilter:
    start: date
    end: date  # exclusive
    region_codes: tuple[str, ...] = ()
    channel: str | None = None
    topic_slug: str | None = None

    def as_query(self) -> dict[str, str]:
        query = {"start": self.start.isoformat(), "end": (self.end - timedelta(days=1)).isoformat()}
        if self.region_codes:
            query["region"] = ",".join(self.region_codes)
        if self.channel:
            query["channel"] = self.channel
        if self.topic_slug:
            query["topic"] = self.topic_slug
        return query


def scope_for_user(user) -> StatsScope:
    """The reader's scope; NotAllowed for everyone without a statistics role."""
    actor = Actor.for_user(user)
    return scope_for_actor(actor)


def scope_for_actor(actor: Actor) -> StatsScope:
    if actor.national_admin or actor.superuser:
        require(actor, Action.STATS_NATIONAL_VIEW)
        return StatsScope(kind="national")
    if actor.coordinator_region_ids:
        for region_id in actor.coordinator_region_ids:
            require(actor, Action.STATS_REGION_VIEW, {"regions": frozenset({region_id})})
        regions = frozenset(actor.coordinator_region_ids)
        return StatsScope(kind="coordinator", region_ids=regions, unsuppressed_region_ids=regions)
    if actor.admin_provider_ids:
        for provider_id in actor.admin_provider_ids:
            require(actor, Action.STATS_PROVIDER_VIEW, {"providers": frozenset({provider_id})})
        return StatsScope(kind="provider", provider_ids=frozenset(actor.admin_provider_ids))
    raise NotAllowed(_("Statistics are for coordinators and administrators."))


def visible_regions(scope: StatsScope) -> list[Region]:
    regions = Region.objects.all().order_by("code")
    if scope.region_ids is not None:
        regions = regions.filter(pk__in=scope.region_ids)
    return list(regions)


def parse_filters(data: Mapping[str, str], *, today: date | None = None) -> StatsFilter:
    """Filters from query parameters; InvalidInput names the bad one."""
    today = today or timezone.localdate()

    def day(name: str, default: date) -> date:
        raw = data.get(name)
        if raw in (None, ""):
            return default
        if not isinstance(raw, str) or not _DATE.match(raw):
            raise InvalidInput(_("%(name)s must be a date like 2026-01-31.") % {"name": name})
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidInput(_("%(name)s is not a real date.") % {"name": name}) from exc

    end_inclusive = day("end", today)
    start = day("start", end_inclusive - timedelta(days=DEFAULT_PERIOD_DAYS - 1))
    if start > end_inclusive:
        raise InvalidInput(_("The period starts after it ends."))
    if (end_inclusive - start).days >= MAX_PERIOD_DAYS:
        raise InvalidInput(_("The period is too long: at most three years."))
    raw_regions = data.get("region") or ""
    if not isinstance(raw_regions, str):
        raise InvalidInput(_("Unknown region."))
    codes = tuple(sorted({c.strip() for c in raw_regions.split(",") if c.strip()}))
    if len(codes) > 30 or not all(_REGION_CODE.match(c) for c in codes):
        raise InvalidInput(_("Unknown region."))
    if codes:
        known = set(Region.objects.filter(code__in=codes).values_list("code", flat=True))
        if set(codes) - known:
            raise InvalidInput(_("Unknown region."))
    channel = data.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(_("Unknown channel."))
    topic = data.get("topic") or None
    if topic is not None and not (
        isinstance(topic, str) and _SLUG.match(topic) and Topic.objects.filter(slug=topic).exists()
    ):
        raise InvalidInput(_("Unknown topic."))
    return StatsFilter(
        start=start,
        end=end_inclusive + timedelta(days=1),
        region_codes=codes,
        channel=channel,
        topic_slug=topic,
    )


def _region_ids_for(scope: StatsScope, filters: StatsFilter) -> frozenset[int] | None:
    if not filters.region_codes:
        return scope.region_ids
    wanted = frozenset(
        Region.objects.filter(code__in=filters.region_codes).values_list("pk", flat=True)
    )
    if scope.region_ids is not None and not wanted <= scope.region_ids:
        # Asking for a region outside one's own is refused, not silently narrowed.
        raise NotAllowed(_("You may see the statistics of your own regions only."))
    return wanted


def bucket_queryset(scope: StatsScope, filters: StatsFilter):
    lo, hi = figures.day_range(filters.start, filters.end)
    qs = HourlyBucket.objects.filter(hour_start__gte=lo, hour_start__lt=hi)
    region_ids = _region_ids_for(scope, filters)
    if region_ids is not None:
        qs = qs.filter(region_id__in=region_ids)
    if scope.provider_ids is not None:
        qs = qs.filter(provider_id__in=scope.provider_ids)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.topic_slug:
        qs = qs.filter(topic__slug=filters.topic_slug)
    return qs


def bucket_rows(scope: StatsScope, filters: StatsFilter) -> list[dict]:
    return list(bucket_queryset(scope, filters).values(*BUCKET_FIELDS))


def region_populations() -> dict[int, int]:
    return {
        row["region_id"]: row["population"] or 0
        for row in Municipality.objects.values("region_id").annotate(population=Sum("population"))
    }


def dashboard_figures(scope: StatsScope, filters: StatsFilter) -> dict:
    """Every table of the dashboard, exports and API, computed once."""
    rows = bucket_rows(scope, filters)
    suppress = figures.Suppressor(scope.unsuppressed_region_ids)
    overall = figures.Totals()
    for row in rows:
        overall.add(row)
    regions = {r.pk: r for r in Region.objects.all()}
    topics = {t.pk: t.localized_name() for t in Topic.objects.all()}
    providers = dict(Provider.objects.values_list("pk", "name"))
    region_labels = {pk: f"{r.code} {r.localized_name()}" for pk, r in regions.items()}
    by_region = figures.by_key(rows, "region_id", suppress, region_labels)
    populations = region_populations()
    weeks = max(1.0, (filters.end - filters.start).days / 7)
    for row in by_region:
        population = populations.get(row["key"], 0)
        region = regions.get(row["key"])
        row["code"] = region.code if region else ""
        row["population"] = population
        row["per_1000_per_week"] = (
            round(row["arrivals"] / weeks / population * 1000, 3)
            if population and row["arrivals"] is not None
            else None
        )
    channel_labels = {code: label for code, label in CHANNEL_CHOICES}
    return {
        "scope": scope.kind,
        "filters": filters.as_query(),
        "summary": overall.figures(suppress=suppress(overall)),
        "volume": figures.by_day(rows, suppress),
        "heatmap": figures.heatmap(rows, suppress),
        "topics": figures.by_key(rows, "topic_id", suppress, topics),
        "channels": figures.by_key(rows, "channel", suppress, channel_labels),
        "regions": by_region,
        "providers": figures.by_key(rows, "provider_id", suppress, providers),
    }
