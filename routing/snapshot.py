"""Database -> routing.types.Snapshot, in a fixed handful of queries.

This runs on every routing tick, so it reads plain values (``values()``), never
model instances, and does not grow its query count with the queue length.
Besides the snapshot the engine sees, it returns what applying a decision needs
(public ids, the last published position, pending offer ids, supporters whose
heartbeat expired) so that the apply step needs no further reads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Count, F

from helpdesk.models import (
    Assignment,
    Contact,
    ContactState,
    ExceptionDate,
    Municipality,
    Offer,
    OpeningHours,
    Provider,
    Region,
    Supporter,
)
from helpdesk.models.contacts import QUEUED_STATES
from routing import availability, types
from routing.models import ClosedNotice, Workflow

ROUTED_STATES = tuple(QUEUED_STATES | {ContactState.OFFERED})

# Used until there are ended assignments in the recent window to measure.
DEFAULT_HANDLE_TIME_S = {"chat": 600.0, "phone": 480.0, "video": 900.0}
HANDLE_TIME_WINDOW = timedelta(hours=3)


@dataclass(slots=True)
class ContactInfo:
    public_id: object
    state: str
    step_index: int
    last_position: int | None
    last_estimated_wait_s: int | None
    region: str | None
    municipality: str | None
    development_area: str | None
    pinned_provider: int | None
    last_position_at: datetime | None = None


@dataclass(slots=True)
class Loaded:
    snapshot: types.Snapshot
    contacts: dict[int, ContactInfo]
    pending_offer_ids: dict[int, int]
    """contact id -> id of its pending Offer row."""
    closed_notices: dict[int, datetime | None]
    """contact id -> opens_at of the closed notice last sent."""
    heartbeat_expired: list[int] = field(default_factory=list)
    """Supporters stored as present whose heartbeat ran out: to be set offline."""
    providers_by_area: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    national_providers: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class AreaIndex:
    """Municipality code -> (region code, development area code)."""

    municipality_region: dict[str, str]
    region_area: dict[str, str | None]


_area_cache: tuple[float, AreaIndex] | None = None
AREA_CACHE_S = 60.0


def load_area_index() -> AreaIndex:
    """Reference data changes a few times a year: cached per process for a minute."""
    global _area_cache
    cached = _area_cache
    if cached is not None and time.monotonic() - cached[0] < AREA_CACHE_S:
        return cached[1]
    index = _read_area_index()
    _area_cache = (time.monotonic(), index)
    return index


def clear_area_cache() -> None:
    global _area_cache
    _area_cache = None


def _read_area_index() -> AreaIndex:
    rows = Municipality.objects.values_list(
        "code", "region__code", "region__development_area__code"
    )
    municipality_region: dict[str, str] = {}
    region_area: dict[str, str | None] = {}
    for code, region, area in rows:
        municipality_region[code] = region
        region_area[region] = area
    # Regions without municipalities still need their development area.
    for code, area in Region.objects.values_list("code", "development_area__code"):
        region_area.setdefault(code, area)
    return AreaIndex(municipality_region, region_area)


def provider_states(
    provider_ids: list[int] | None,
    *,
    now: datetime,
    index: AreaIndex | None = None,
    opening: bool = True,
) -> list[types.ProviderState]:
    """Active providers (or the given ones) with expanded areas and opening state.

    ``opening=False`` skips the opening hours (every provider reads as open),
    for callers that only ask who serves where.
    """
    index = index or load_area_index()
    qs = Provider.objects.filter(active=True)
    if provider_ids is not None:
        qs = qs.filter(pk__in=provider_ids)
    rows = list(qs.values("id", "is_national", "channels", "languages"))
    ids = [r["id"] for r in rows]
    municipalities: dict[int, set[str]] = defaultdict(set)
    regions: dict[int, set[str]] = defaultdict(set)
    through_m = Provider.service_municipalities.through.objects.filter(provider_id__in=ids)
    for pid, code in through_m.values_list("provider_id", "municipality__code"):
        municipalities[pid].add(code)
        region = index.municipality_region.get(code)
        if region:
            regions[pid].add(region)
    through_r = Provider.service_regions.through.objects.filter(provider_id__in=ids)
    by_region: dict[str, list[str]] = defaultdict(list)
    for code, region in index.municipality_region.items():
        by_region[region].append(code)
    for pid, code in through_r.values_list("provider_id", "region__code"):
        regions[pid].add(code)
        municipalities[pid].update(by_region.get(code, ()))
    hours = _opening_state(ids, now) if opening else {}
    states = []
    for r in rows:
        pid = r["id"]
        areas = {index.region_area.get(code) for code in regions[pid]} - {None}
        is_open, next_open = hours.get(pid, (True, None))
        states.append(
            types.ProviderState(
                id=pid,
                is_national=r["is_national"],
                municipalities=frozenset(municipalities[pid]),
                regions=frozenset(regions[pid]),
                development_areas=frozenset(areas),
                channels=frozenset(r["channels"] or ()),
                languages=frozenset(r["languages"] or ()),
                is_open=is_open,
                next_open=next_open,
            )
        )
    return states


def _opening_state(ids: list[int], now: datetime) -> dict[int, tuple[bool, datetime | None]]:
    """(is_open, next_open) per provider.

    A provider with no opening rules and no exception dates at all has not
    restricted its hours: it is treated as open around the clock rather than
    as never open, which would silently swallow its queue.
    """
    rules: dict[int, list[availability.OpeningRule]] = defaultdict(list)
    for pid, weekday, opens, closes in OpeningHours.objects.filter(provider_id__in=ids).values_list(
        "provider_id", "weekday", "opens", "closes"
    ):
        rules[pid].append(availability.OpeningRule(weekday, opens, closes))
    today = now.astimezone(availability.HELSINKI).date()
    exceptions: dict[int, list[availability.ExceptionDate]] = defaultdict(list)
    window = (today - timedelta(days=1), today + timedelta(days=32))
    for pid, day, closed, opens, closes in ExceptionDate.objects.filter(
        provider_id__in=ids, date__range=window
    ).values_list("provider_id", "date", "closed", "opens", "closes"):
        exceptions[pid].append(availability.ExceptionDate(day, closed, opens, closes))
    result: dict[int, tuple[bool, datetime | None]] = {}
    for pid in ids:
        if not rules[pid] and not exceptions[pid]:
            result[pid] = (True, None)
            continue
        is_open = availability.is_open(rules[pid], exceptions[pid], now)
        next_open = None if is_open else availability.next_opening(rules[pid], exceptions[pid], now)
        result[pid] = (is_open, next_open)
    return result


def _workflows() -> dict[int, types.Workflow]:
    steps: dict[int, list[types.Step]] = defaultdict(list)
    for wf in Workflow.objects.prefetch_related("steps"):
        for s in sorted(wf.steps.all(), key=lambda s: s.order):
            steps[wf.id].append(
                types.Step(s.target, s.require_language, s.require_topic, s.timeout_s)
            )
    return {wid: types.Workflow(wid, tuple(s)) for wid, s in steps.items()}


def _handle_times(now: datetime) -> dict[str, float]:
    result = dict(DEFAULT_HANDLE_TIME_S)
    recent = (
        Assignment.objects.filter(ended_at__gte=now - HANDLE_TIME_WINDOW, ended_at__isnull=False)
        .values("contact__channel")
        .annotate(mean=Avg(F("ended_at") - F("started_at")), n=Count("id"))
    )
    for row in recent:
        mean = row["mean"]
        if mean is not None and row["n"] >= 3:
            seconds = mean.total_seconds() if isinstance(mean, timedelta) else float(mean) / 1e6
            result[row["contact__channel"]] = max(30.0, seconds)
    return result


def _supporters(now: datetime) -> tuple[list[types.SupporterState], list[int]]:
    timeout = settings.PRESENCE_HEARTBEAT_TIMEOUT_S
    rows = list(
        Supporter.objects.exclude(presence="offline").values(
            "id",
            "presence",
            "last_heartbeat",
            "languages",
            "capacity_chat",
            "capacity_phone",
            "capacity_video",
            "idle_since",
        )
    )
    ids = [r["id"] for r in rows]
    providers: dict[int, set[int]] = defaultdict(set)
    through = Supporter.providers.through.objects.filter(supporter_id__in=ids)
    for sid, pid in through.values_list("supporter_id", "provider_id"):
        providers[sid].add(pid)
    skills: dict[int, set[str]] = defaultdict(set)
    through_s = Supporter.skills.through.objects.filter(supporter_id__in=ids)
    for sid, slug in through_s.values_list("supporter_id", "topic__slug"):
        skills[sid].add(slug)
    load: dict[int, dict[str, int]] = defaultdict(dict)
    active = (
        Assignment.objects.filter(ended_at__isnull=True, supporter_id__in=ids)
        .values_list("supporter_id", "contact__channel")
        .annotate(n=Count("id"))
    )
    for sid, channel, n in active:
        load[sid][channel] = n
    states, expired = [], []
    for r in rows:
        presence = availability.presence_after_heartbeat(
            r["presence"], r["last_heartbeat"], now, timeout
        )
        if presence == "offline":
            expired.append(r["id"])
        states.append(
            types.SupporterState(
                id=r["id"],
                provider_ids=frozenset(providers[r["id"]]),
                presence=presence,
                languages=frozenset(r["languages"] or ()),
                skills=frozenset(skills[r["id"]]),
                capacity={
                    "chat": r["capacity_chat"],
                    "phone": r["capacity_phone"],
                    "video": r["capacity_video"],
                },
                load=load[r["id"]],
                idle_since=r["idle_since"],
            )
        )
    return states, expired


def load(*, now: datetime) -> Loaded:
    """Read everything one routing round needs."""
    rows = list(
        Contact.objects.filter(state__in=ROUTED_STATES).values(
            "id",
            "public_id",
            "state",
            "channel",
            "language",
            "municipality__code",
            "region__code",
            "region__development_area__code",
            "topic__slug",
            "priority",
            "waiting_since",
            "created_at",
            "workflow_id",
            "step_index",
            "step_started_at",
            "preferred_supporter_id",
            "pinned_provider_id",
            "pinned_supporter_id",
            "last_position",
            "last_estimated_wait_s",
            "last_position_at",
        )
    )
    pending: dict[int, tuple[int, int, datetime]] = {}
    for oid, cid, sid, created in Offer.objects.filter(
        state=Offer.State.PENDING, contact__state__in=ROUTED_STATES
    ).values_list("id", "contact_id", "supporter_id", "created_at"):
        pending[cid] = (oid, sid, created)
    declined: dict[int, set[int]] = defaultdict(set)
    for cid, sid in Offer.objects.filter(
        state__in=(Offer.State.DECLINED, Offer.State.EXPIRED, Offer.State.WITHDRAWN),
        contact__state__in=ROUTED_STATES,
        created_at__gte=F("contact__waiting_since"),
    ).values_list("contact_id", "supporter_id"):
        declined[cid].add(sid)

    contacts, infos = [], {}
    for r in rows:
        cid = r["id"]
        since = r["waiting_since"] or r["created_at"]
        offer = pending.get(cid)
        contacts.append(
            types.WaitingContact(
                id=cid,
                channel=r["channel"],
                language=r["language"],
                municipality=r["municipality__code"],
                region=r["region__code"],
                development_area=r["region__development_area__code"],
                topic=r["topic__slug"],
                priority=r["priority"],
                waiting_since=since,
                workflow_id=r["workflow_id"] or 0,
                step_index=r["step_index"],
                step_started_at=r["step_started_at"] or since,
                preferred_supporter=r["preferred_supporter_id"],
                declined_by=frozenset(declined.get(cid, ())),
                pending_offer=types.PendingOffer(offer[1], offer[2]) if offer else None,
                pinned_provider=r["pinned_provider_id"],
                pinned_supporter=r["pinned_supporter_id"],
            )
        )
        infos[cid] = ContactInfo(
            public_id=r["public_id"],
            state=r["state"],
            step_index=r["step_index"],
            last_position=r["last_position"],
            last_estimated_wait_s=r["last_estimated_wait_s"],
            region=r["region__code"],
            municipality=r["municipality__code"],
            development_area=r["region__development_area__code"],
            pinned_provider=r["pinned_provider_id"],
            last_position_at=r["last_position_at"],
        )
    supporters, expired = _supporters(now)
    providers = provider_states(None, now=now)
    notices = dict(
        ClosedNotice.objects.filter(contact__state__in=ROUTED_STATES).values_list(
            "contact_id", "opens_at"
        )
    )
    snapshot = types.Snapshot(
        now=now,
        contacts=tuple(contacts),
        supporters=tuple(supporters),
        providers=tuple(providers),
        workflows=_workflows(),
        handle_time_s=_handle_times(now),
        offer_timeout_s=settings.ROUTING_OFFER_TIMEOUT_S,
    )
    loaded = Loaded(
        snapshot=snapshot,
        contacts=infos,
        pending_offer_ids={cid: v[0] for cid, v in pending.items()},
        closed_notices=notices,
        heartbeat_expired=expired,
    )
    for p in providers:
        for code in p.municipalities:
            loaded.providers_by_area.setdefault(("municipality", code), set()).add(p.id)
        for code in p.regions:
            loaded.providers_by_area.setdefault(("region", code), set()).add(p.id)
        for code in p.development_areas:
            loaded.providers_by_area.setdefault(("development_area", code), set()).add(p.id)
        if p.is_national:
            loaded.national_providers.add(p.id)
    return loaded
