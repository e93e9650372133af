"""Supply and coverage: planned supporter-hours per region, and who serves whom.

Planned supply comes from ShiftPattern (a supporter's weekly shifts for one
provider) and ShiftException (a day off, or an extra shift on a date),
entered by provider admins in the admin. A supporter counts once in an hour,
as the fraction of the hour their shifts cover, for every region their
provider serves (a whole region, or any municipality in it). The national
service (Kansalaisneuvonta) is the last overflow of every region and is not
counted as any region's supply.

Coverage: for every municipality, which channels and languages its providers
offer. A municipality that must be served in Swedish (helpdesk/stats/languages.py)
without a Swedish-speaking provider is a finding of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from helpdesk.models import Municipality, Provider
from helpdesk.models.providers import CHANNEL_CHOICES
from helpdesk.stats.languages import swedish_status
from helpdesk.stats.models import ShiftException, ShiftPattern

HELSINKI = ZoneInfo("Europe/Helsinki")
CHANNELS = tuple(code for code, _label in CHANNEL_CHOICES)


def providers_serving_region(region_id: int, *, channel: str | None = None) -> list[Provider]:
    providers = (
        Provider.objects.filter(active=True, is_national=False)
        .filter(Q(service_regions__pk=region_id) | Q(service_municipalities__region_id=region_id))
        .distinct()
    )
    found = list(providers)
    if channel:
        found = [p for p in found if channel in (p.channels or [])]
    return found


def _overlap_hours(start: datetime, end: datetime, hour: datetime) -> float:
    lo = max(start, hour)
    hi = min(end, hour + timedelta(hours=1))
    return max(0.0, (hi - lo).total_seconds() / 3600)


def planned_supply(
    *, region_id: int, hours: Sequence[datetime], channel: str | None = None
) -> list[float]:
    """Planned supporters (in full-hour equivalents) for each local hour start in `hours`."""
    if not hours:
        return []
    provider_ids = [p.pk for p in providers_serving_region(region_id, channel=channel)]
    if not provider_ids:
        return [0.0 for _ in hours]
    first = min(hours).astimezone(HELSINKI).date()
    last = max(hours).astimezone(HELSINKI).date()
    patterns = list(ShiftPattern.objects.filter(provider_id__in=provider_ids))
    if channel:
        patterns = [p for p in patterns if not p.channels or channel in p.channels]
    exceptions = list(
        ShiftException.objects.filter(provider_id__in=provider_ids, date__range=(first, last))
    )
    cancelled = {(e.supporter_id, e.date) for e in exceptions if e.cancelled}
    shifts: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    day = first
    while day <= last:
        for p in patterns:
            if p.weekday != day.weekday() or (p.supporter_id, day) in cancelled:
                continue
            if (p.valid_from and day < p.valid_from) or (p.valid_until and day > p.valid_until):
                continue
            shifts[p.supporter_id].append(_span(day, p.start, p.end))
        day += timedelta(days=1)
    for e in exceptions:
        if not e.cancelled and e.start and e.end and e.end > e.start:
            shifts[e.supporter_id].append(_span(e.date, e.start, e.end))
    out = []
    for hour in hours:
        h = hour.astimezone(HELSINKI)
        total = 0.0
        for spans in shifts.values():
            total += min(1.0, sum(_overlap_hours(s, e, h) for s, e in spans))
        out.append(round(total, 3))
    return out


def _span(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    return (
        datetime.combine(day, start, tzinfo=HELSINKI),
        datetime.combine(day, end, tzinfo=HELSINKI),
    )


def coverage(*, region_ids: Iterable[int] | None = None) -> dict:
    """Per municipality and per region: channels and languages on offer, and the gaps."""
    municipalities = Municipality.objects.select_related("region").order_by("region__code", "code")
    if region_ids is not None:
        municipalities = municipalities.filter(region_id__in=list(region_ids))
    providers = list(
        Provider.objects.filter(active=True, is_national=False).prefetch_related(
            "service_regions", "service_municipalities"
        )
    )
    by_region: dict[int, list[Provider]] = defaultdict(list)
    by_municipality: dict[int, list[Provider]] = defaultdict(list)
    for p in providers:
        for r in p.service_regions.all():
            by_region[r.pk].append(p)
        for m in p.service_municipalities.all():
            by_municipality[m.pk].append(p)
    rows = []
    regions: dict[int, dict] = {}
    for m in municipalities:
        serving = {p.pk: p for p in by_region[m.region_id] + by_municipality[m.pk]}.values()
        channels = sorted({c for p in serving for c in (p.channels or [])})
        languages = sorted({lang for p in serving for lang in (p.languages or [])})
        status = swedish_status(m.code, m.region.code)
        missing = [c for c in CHANNELS if c not in channels]
        swedish_gap = status != "fi" and "sv" not in languages
        row = {
            "municipality_code": m.code,
            "municipality": m.localized_name(),
            "region_code": m.region.code,
            "population": m.population,
            "language_status": status,
            "providers": len(serving),
            "channels": channels,
            "languages": languages,
            "missing_channels": missing,
            "swedish_gap": swedish_gap,
        }
        rows.append(row)
        reg = regions.setdefault(
            m.region_id,
            {
                "region_code": m.region.code,
                "region": m.region.localized_name(),
                "municipalities": 0,
                "population": 0,
                "without_any_provider": 0,
                **{f"without_{c}": 0 for c in CHANNELS},
                **{f"population_without_{c}": 0 for c in CHANNELS},
                "swedish_municipalities": 0,
                "swedish_gaps": 0,
            },
        )
        reg["municipalities"] += 1
        reg["population"] += m.population
        reg["without_any_provider"] += not serving
        for c in missing:
            reg[f"without_{c}"] += 1
            reg[f"population_without_{c}"] += m.population
        reg["swedish_municipalities"] += status != "fi"
        reg["swedish_gaps"] += swedish_gap
    return {"municipalities": rows, "regions": list(regions.values())}
