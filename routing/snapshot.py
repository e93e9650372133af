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
from collections.abc import Iterable
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


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Providers as stored: areas expanded, opening rules read; not yet evaluated at a time."""

    rows: tuple[dict, ...]
    municipalities: dict[int, frozenset[str]]
    regions: dict[int, frozenset[str]]
    development_areas: dict[int, frozenset[str]]
    rules: dict[int, tuple[availability.OpeningRule, ...]]
    exceptions: dict[int, tuple[availability.ExceptionDate, ...]]


def read_provider_config(
    provider_ids: list[int] | None,
    *,
    now: datetime,
    index: AreaIndex | None = None,
    opening: bool = True,
) -> ProviderConfig:
    """Active providers (or the given ones) with their areas and, if asked, opening rules."""
    index = index or load_area_index()
    qs = Provider.objects.filter(active=True)
    if provider_ids is not None:
        qs = qs.filter(pk__in=provider_ids)
    rows = tuple(qs.values("id", "is_national", "channels", "languages"))
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
    rules, exceptions = _opening_rules(ids, now) if opening else ({}, {})
    return ProviderConfig(
        rows=rows,
        municipalities={pid: frozenset(municipalities[pid]) for pid in ids},
        regions={pid: frozenset(regions[pid]) for pid in ids},
        development_areas={
            pid: frozenset({index.region_area.get(code) for code in regions[pid]} - {None})
            for pid in ids
        },
        rules=rules,
        exceptions=exceptions,
    )


def provider_states_at(config: ProviderConfig, now: datetime) -> list[types.ProviderState]:
    """The providers as the engine sees them at ``now`` (opening state evaluated)."""
    states = []
    for r in config.rows:
        pid = r["id"]
        is_open, next_open = _opening_at(
            config.rules.get(pid, ()), config.exceptions.get(pid, ()), now
        )
        states.append(
            types.ProviderState(
                id=pid,
                is_national=r["is_national"],
                municipalities=config.municipalities[pid],
                regions=config.regions[pid],
                development_areas=config.development_areas[pid],
                channels=frozenset(r["channels"] or ()),
                languages=frozenset(r["languages"] or ()),
                is_open=is_open,
                next_open=next_open,
            )
        )
    return states


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
    config = read_provider_config(provider_ids, now=now, index=index, opening=opening)
    return provider_states_at(config, now)


def _opening_rules(
    ids: list[int], now: datetime
) -> tuple[
    dict[int, tuple[availability.OpeningRule, ...]],
    dict[int, tuple[availability.ExceptionDate, ...]],
]:
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
    return (
        {pid: tuple(r) for pid, r in rules.items()},
        {pid: tuple(e) for pid, e in exceptions.items()},
    )


def _opening_at(
    rules: tuple[availability.OpeningRule, ...],
    exceptions: tuple[availability.ExceptionDate, ...],
    now: datetime,
) -> tuple[bool, datetime | None]:
    """(is_open, next_open) of one provider.

    A provider with no opening rules and no exception dates at all has not
    restricted its hours: it is treated as open around the clock rather than
    as never open, which would silently swallow its queue.
    """
    if not rules and not exceptions:
        return True, None
    is_open = availability.is_open(rules, exceptions, now)
    next_open = None if is_open else availability.next_opening(rules, exceptions, now)
    return is_open, next_open


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


@dataclass(frozen=True, slots=True)
class Memberships:
    """Supporter id -> provider ids and topic skills (edited in the admin, rarely)."""

    providers: dict[int, frozenset[int]]
    skills: dict[int, frozenset[str]]


SUPPORTER_FIELDS = (
    "id",
    "presence",
    "last_heartbeat",
    "languages",
    "capacity_chat",
    "capacity_phone",
    "capacity_video",
    "idle_since",
)


def read_supporter_rows() -> list[dict]:
    return list(Supporter.objects.exclude(presence="offline").values(*SUPPORTER_FIELDS))


def read_memberships(ids: list[int] | None) -> Memberships:
    """Memberships of the given supporters, or of every supporter (``None``)."""
    providers: dict[int, set[int]] = defaultdict(set)
    through = Supporter.providers.through.objects.all()
    through_s = Supporter.skills.through.objects.all()
    if ids is not None:
        through = through.filter(supporter_id__in=ids)
        through_s = through_s.filter(supporter_id__in=ids)
    for sid, pid in through.values_list("supporter_id", "provider_id"):
        providers[sid].add(pid)
    skills: dict[int, set[str]] = defaultdict(set)
    for sid, slug in through_s.values_list("supporter_id", "topic__slug"):
        skills[sid].add(slug)
    return Memberships(
        {sid: frozenset(p) for sid, p in providers.items()},
        {sid: frozenset(t) for sid, t in skills.items()},
    )


def read_load(ids: list[int] | None) -> dict[int, dict[str, int]]:
    """Active assignments per supporter and channel."""
    load: dict[int, dict[str, int]] = defaultdict(dict)
    active = Assignment.objects.filter(ended_at__isnull=True)
    if ids is not None:
        active = active.filter(supporter_id__in=ids)
    rows = active.values_list("supporter_id", "contact__channel").annotate(n=Count("id"))
    for sid, channel, n in rows:
        load[sid][channel] = n
    return load


def supporter_states(
    rows: list[dict],
    memberships: Memberships,
    load: dict[int, dict[str, int]],
    now: datetime,
) -> tuple[list[types.SupporterState], list[int]]:
    """Supporters as the engine sees them at ``now``, and those whose heartbeat ran out."""
    timeout = settings.PRESENCE_HEARTBEAT_TIMEOUT_S
    states, expired = [], []
    no_load: dict[str, int] = {}
    for r in rows:
        sid = r["id"]
        presence = availability.presence_after_heartbeat(
            r["presence"], r["last_heartbeat"], now, timeout
        )
        if presence == "offline":
            expired.append(sid)
        states.append(
            types.SupporterState(
                id=sid,
                provider_ids=memberships.providers.get(sid, frozenset()),
                presence=presence,
                languages=frozenset(r["languages"] or ()),
                skills=memberships.skills.get(sid, frozenset()),
                capacity={
                    "chat": r["capacity_chat"],
                    "phone": r["capacity_phone"],
                    "video": r["capacity_video"],
                },
                load=load.get(sid, no_load),
                idle_since=r["idle_since"],
            )
        )
    return states, expired


def _supporters(now: datetime) -> tuple[list[types.SupporterState], list[int]]:
    rows = read_supporter_rows()
    ids = [r["id"] for r in rows]
    return supporter_states(rows, read_memberships(ids), read_load(ids), now)


CONTACT_FIELDS = (
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

PendingRow = tuple[int, int, datetime]
"""(offer id, supporter id, offered at) of a contact's pending offer."""


def read_contacts(ids: list[int] | None = None) -> list[dict]:
    """Routed contacts, all of them or those of ``ids`` still routed."""
    qs = Contact.objects.filter(state__in=ROUTED_STATES)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return list(qs.values(*CONTACT_FIELDS))


def read_pending() -> dict[int, PendingRow]:
    """Contact id -> its pending offer, for every routed contact."""
    pending: dict[int, PendingRow] = {}
    for oid, cid, sid, created in Offer.objects.filter(
        state=Offer.State.PENDING, contact__state__in=ROUTED_STATES
    ).values_list("id", "contact_id", "supporter_id", "created_at"):
        pending[cid] = (oid, sid, created)
    return pending


def read_declined(ids: list[int] | None = None) -> dict[int, set[int]]:
    """Contact id -> supporters who declined it (or let it expire) since it last queued."""
    declined: dict[int, set[int]] = defaultdict(set)
    qs = Offer.objects.filter(
        state__in=(Offer.State.DECLINED, Offer.State.EXPIRED, Offer.State.WITHDRAWN),
        contact__state__in=ROUTED_STATES,
        created_at__gte=F("contact__waiting_since"),
    )
    if ids is not None:
        qs = qs.filter(contact_id__in=ids)
    for cid, sid in qs.values_list("contact_id", "supporter_id"):
        declined[cid].add(sid)
    return declined


def read_closed_notices() -> dict[int, datetime | None]:
    return dict(
        ClosedNotice.objects.filter(contact__state__in=ROUTED_STATES).values_list(
            "contact_id", "opens_at"
        )
    )


def contact_entry(
    r: dict, offer: PendingRow | None, declined: Iterable[int]
) -> tuple[types.WaitingContact, ContactInfo]:
    """One routed contact row -> what the engine sees, and what applying needs."""
    since = r["waiting_since"] or r["created_at"]
    waiting = types.WaitingContact(
        id=r["id"],
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
        declined_by=frozenset(declined),
        pending_offer=types.PendingOffer(offer[1], offer[2]) if offer else None,
        pinned_provider=r["pinned_provider_id"],
        pinned_supporter=r["pinned_supporter_id"],
    )
    info = ContactInfo(
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
    return waiting, info


def assemble(
    *,
    now: datetime,
    contacts: Iterable[types.WaitingContact],
    infos: dict[int, ContactInfo],
    pending: dict[int, PendingRow],
    supporters: list[types.SupporterState],
    expired: list[int],
    providers: list[types.ProviderState],
    workflows: dict[int, types.Workflow],
    handle_times: dict[str, float],
    notices: dict[int, datetime | None],
) -> Loaded:
    snapshot = types.Snapshot(
        now=now,
        contacts=tuple(contacts),
        supporters=tuple(supporters),
        providers=tuple(providers),
        workflows=workflows,
        handle_time_s=handle_times,
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


def load(*, now: datetime) -> Loaded:
    """Read everything one routing round needs."""
    rows = read_contacts()
    pending = read_pending()
    declined = read_declined()
    contacts, infos = [], {}
    for r in rows:
        cid = r["id"]
        waiting, infos[cid] = contact_entry(r, pending.get(cid), declined.get(cid, ()))
        contacts.append(waiting)
    supporters, expired = _supporters(now)
    return assemble(
        now=now,
        contacts=contacts,
        infos=infos,
        pending=pending,
        supporters=supporters,
        expired=expired,
        providers=provider_states(None, now=now),
        workflows=_workflows(),
        handle_times=_handle_times(now),
        notices=read_closed_notices(),
    )
