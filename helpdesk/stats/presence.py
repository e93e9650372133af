"""Measured online time: who was there to answer, sampled at every rollup run.

The platform keeps a supporter's current presence only (helpdesk/models/supporters.py),
not a history, so the rollup samples it: each run adds, for every supporter
who is available or busy with a live heartbeat, the minutes since the
previous run to the current hour of every region their providers serve
(a whole region or any municipality in it). The national service is not a
region's supply. The precision is the rollup interval
(settings.STATS_ROLLUP_EVERY_S): a supporter who came online just before a
run counts from the previous one. A gap between runs longer than
MAX_SAMPLE_GAP counts as MAX_SAMPLE_GAP, so a stopped server does not credit
the hours it was down.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F

from helpdesk.models import Provider, Supporter
from helpdesk.models.supporters import Presence
from helpdesk.stats.models import OnlineMinutes

MAX_SAMPLE_GAP = timedelta(minutes=15)


def sample_presence(*, now: datetime, previous: datetime | None) -> int:
    """Credit the online supporters with the minutes since `previous`; returns how many."""
    if previous is None or now <= previous:
        return 0
    minutes = min(now - previous, MAX_SAMPLE_GAP).total_seconds() / 60
    fresh = now - timedelta(seconds=float(getattr(settings, "PRESENCE_HEARTBEAT_TIMEOUT_S", 45)))
    online = list(
        Supporter.objects.filter(
            presence__in=[Presence.AVAILABLE, Presence.BUSY], last_heartbeat__gte=fresh
        ).values_list("pk", flat=True)
    )
    if not online:
        return 0
    regions_of_provider: dict[int, set[int]] = defaultdict(set)
    providers = Provider.objects.filter(active=True, is_national=False, supporters__in=online)
    for pid, region_id in providers.values_list("pk", "service_regions"):
        if region_id:
            regions_of_provider[pid].add(region_id)
    for pid, region_id in providers.values_list("pk", "service_municipalities__region"):
        if region_id:
            regions_of_provider[pid].add(region_id)
    per_region: dict[int, float] = defaultdict(float)
    memberships = Supporter.providers.through.objects.filter(supporter_id__in=online)
    regions_of_supporter: dict[int, set[int]] = defaultdict(set)
    for sid, pid in memberships.values_list("supporter_id", "provider_id"):
        regions_of_supporter[sid] |= regions_of_provider.get(pid, set())
    for regions in regions_of_supporter.values():
        for region_id in regions:
            per_region[region_id] += minutes
    hour = now.replace(minute=0, second=0, microsecond=0)
    for region_id, add in per_region.items():
        row, created = OnlineMinutes.objects.get_or_create(
            hour_start=hour, region_id=region_id, defaults={"minutes": add}
        )
        if not created:
            OnlineMinutes.objects.filter(pk=row.pk).update(minutes=F("minutes") + add)
    return sum(1 for regions in regions_of_supporter.values() if regions)


def online_hours(*, region_id: int, start: datetime, end: datetime) -> dict[datetime, float]:
    """Measured supporter-hours per UTC hour start in [start, end)."""
    rows = OnlineMinutes.objects.filter(
        region_id=region_id, hour_start__gte=start, hour_start__lt=end
    ).values_list("hour_start", "minutes")
    return {hour: round(minutes / 60, 3) for hour, minutes in rows}
