"""A discrete-event simulation of one support day, driving ``routing.engine.decide``.

The simulator plays the part of ``routing.services``: it builds a snapshot on
every tick of a simulated clock, asks the engine for a decision and applies
it, while customers arrive (Poisson, per region and channel), wait, abandon or
ask for a callback, and supporters work their shifts, take breaks, lose their
connection, accept, decline or miss offers and handle contacts for an
exponentially distributed time. It checks, as it goes, what must never
happen in production: a contact given to two supporters, a supporter pushed
over capacity, a waiting contact the engine neither offered nor queued, or a
contact that never reached an end.

Everything is seeded through one ``random.Random(seed)``; the same inputs give
the same report. Nothing here touches a database or a clock.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from routing.availability import OpeningRule, is_open, next_opening, presence_after_heartbeat
from routing.engine import decide
from routing.types import (
    DEFAULT_STEPS,
    NATIONAL_FIRST_LINE_STEPS,
    PendingOffer,
    ProviderState,
    Snapshot,
    SupporterState,
    WaitingContact,
    Workflow,
)

__all__ = [
    "Behaviour",
    "ContactOutcome",
    "SimProvider",
    "SimRegion",
    "SimSupporter",
    "SimulationReport",
    "StepWaits",
    "sample_network",
    "simulate_day",
]

DEFAULT_WORKFLOW_ID = 1
NATIONAL_FIRST_LINE_WORKFLOW_ID = 2
_WORKFLOWS = {
    DEFAULT_WORKFLOW_ID: Workflow(DEFAULT_WORKFLOW_ID, DEFAULT_STEPS),
    NATIONAL_FIRST_LINE_WORKFLOW_ID: Workflow(
        NATIONAL_FIRST_LINE_WORKFLOW_ID, NATIONAL_FIRST_LINE_STEPS
    ),
}
_PINNED_STEP = -1
"""Waits after an escalation are reported under this step index."""


@dataclass(frozen=True, slots=True)
class SimRegion:
    name: str
    development_area: str
    municipalities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SimProvider:
    """A provider serving whole regions (or the whole country when national)."""

    id: int
    regions: frozenset[str]
    channels: frozenset[str]
    languages: frozenset[str]
    is_national: bool = False
    rules: tuple[OpeningRule, ...] = tuple(
        OpeningRule(weekday, time(8), time(20)) for weekday in range(5)
    )


@dataclass(frozen=True, slots=True)
class SimSupporter:
    id: int
    provider_ids: frozenset[int]
    languages: frozenset[str]
    skills: frozenset[str]
    capacity: Mapping[str, int]
    shift_start_h: float
    """Hours after the start of the day."""
    shift_end_h: float


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How customers and supporters behave; the defaults are a plausible weekday."""

    tick_s: float = 5.0
    offer_timeout_s: float = 30.0
    accept_p: float = 0.85
    decline_p: float = 0.08
    """The rest of the offers go unanswered and expire."""
    answer_delay_s: tuple[float, float] = (2.0, 20.0)
    handle_mean_s: Mapping[str, float] = field(
        default_factory=lambda: {"chat": 540.0, "phone": 420.0, "video": 900.0}
    )
    patience_mean_s: Mapping[str, float] = field(
        default_factory=lambda: {"chat": 1200.0, "phone": 480.0, "video": 1200.0}
    )
    callback_p: float = 0.4
    """Share of phone callers who ask for a callback instead of hanging up."""
    languages: Mapping[str, float] = field(
        default_factory=lambda: {"fi": 0.84, "sv": 0.09, "en": 0.07}
    )
    topics: tuple[str, ...] = ("banking", "health", "identification", "devices", "taxes")
    topic_p: float = 0.8
    unknown_municipality_p: float = 0.05
    returning_p: float = 0.1
    escalation_p: float = 0.03
    """Share of handled contacts escalated to the national provider afterwards."""
    break_rate_per_h: float = 0.4
    break_mean_s: float = 600.0
    busy_rate_per_h: float = 0.2
    busy_mean_s: float = 240.0
    disconnect_rate_per_h: float = 0.05
    disconnect_mean_s: float = 150.0
    heartbeat_timeout_s: float = 45.0
    away_after_expiry_s: float = 120.0
    drain_s: float = 3600.0
    """After the day ends: no new arrivals; the queue is worked off for this long."""


@dataclass(frozen=True, slots=True)
class ContactOutcome:
    contact_id: int
    channel: str
    region: str | None
    final_state: str
    """"ended" or "abandoned"."""
    answered_step: int | None
    wait_s: float | None
    """From arrival to the first accepted offer."""


@dataclass(frozen=True, slots=True)
class StepWaits:
    """Waits of the contacts answered at one step of one workflow.

    A wait runs from the moment the contact started waiting (arrival, or the
    escalation for pinned contacts) to the accepted offer, so the waits at
    later steps include the time spent at the earlier ones. ``abandoned``
    counts contacts that gave up while at this step.
    """

    workflow_id: int
    step_index: int
    target: str
    answered: int
    abandoned: int
    mean_s: float | None
    p50_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class SimulationReport:
    seed: int
    arrivals: int
    outcomes: tuple[ContactOutcome, ...]
    step_waits: tuple[StepWaits, ...]
    offers_made: int
    offers_accepted: int
    offers_declined: int
    offers_expired: int
    offers_withdrawn: int
    """Still open when the customer gave up."""
    advances: int
    closed_notices: int
    callbacks: int
    escalations: int
    double_assignments: int
    capacity_violations: int
    lost_contacts: int
    decide_calls: int

    @property
    def ended(self) -> int:
        return sum(1 for o in self.outcomes if o.final_state == "ended")

    @property
    def abandoned(self) -> int:
        return sum(1 for o in self.outcomes if o.final_state == "abandoned")

    def format(self) -> str:
        lines = [
            f"seed {self.seed}: {self.arrivals} contacts, {self.ended} ended, "
            f"{self.abandoned} abandoned, {self.callbacks} callbacks, "
            f"{self.escalations} escalations",
            f"offers {self.offers_made}: {self.offers_accepted} accepted, "
            f"{self.offers_declined} declined, {self.offers_expired} expired, "
            f"{self.offers_withdrawn} withdrawn; "
            f"{self.advances} advances, {self.closed_notices} closed notices, "
            f"{self.decide_calls} decisions",
            f"double assignments {self.double_assignments}, capacity violations "
            f"{self.capacity_violations}, lost contacts {self.lost_contacts}",
            "",
            f"{'workflow':>8} {'step':>4} {'target':<17} {'answered':>8} {'abandoned':>9} "
            f"{'mean s':>7} {'p50 s':>7} {'p90 s':>7}",
        ]
        for w in self.step_waits:
            step = "pin" if w.step_index == _PINNED_STEP else str(w.step_index)
            lines.append(
                f"{w.workflow_id:>8} {step:>4} {w.target:<17} {w.answered:>8} {w.abandoned:>9} "
                f"{_fmt(w.mean_s):>7} {_fmt(w.p50_s):>7} {_fmt(w.p90_s):>7}"
            )
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


class _Contact:
    __slots__ = (
        "id",
        "channel",
        "language",
        "municipality",
        "region",
        "development_area",
        "topic",
        "priority",
        "arrived",
        "waiting_since",
        "workflow_id",
        "step_index",
        "step_started",
        "declined",
        "pending",
        "preferred",
        "pinned_provider",
        "state",
        "supporter",
        "answered_step",
        "wait_s",
        "callback",
        "closed_noticed",
        "escalated",
        "patience_gen",
    )

    def __init__(self, **values: Any) -> None:
        self.declined: set[int] = set()
        self.pending: PendingOffer | None = None
        self.preferred: int | None = None
        self.pinned_provider: int | None = None
        self.state = "waiting"
        self.supporter: int | None = None
        self.answered_step: int | None = None
        self.wait_s: float | None = None
        self.callback = False
        self.closed_noticed = False
        self.escalated = False
        self.patience_gen = 0
        for name, value in values.items():
            setattr(self, name, value)

    def as_waiting(self) -> WaitingContact:
        return WaitingContact(
            id=self.id,
            channel=self.channel,
            language=self.language,
            municipality=self.municipality,
            region=self.region,
            development_area=self.development_area,
            topic=self.topic,
            priority=self.priority,
            waiting_since=self.waiting_since,
            workflow_id=self.workflow_id,
            step_index=self.step_index,
            step_started_at=self.step_started,
            preferred_supporter=self.preferred,
            declined_by=frozenset(self.declined),
            pending_offer=self.pending,
            pinned_provider=self.pinned_provider,
        )


class _Supporter:
    __slots__ = (
        "cfg",
        "presence",
        "on_shift",
        "load",
        "pending",
        "active",
        "idle_since",
        "last_heartbeat",
        "connected",
        "gen",
    )

    def __init__(self, cfg: SimSupporter, start: datetime) -> None:
        self.cfg = cfg
        self.presence = "offline"
        self.on_shift = False
        self.load: dict[str, int] = {}
        self.pending: dict[str, int] = {}
        self.active: set[int] = set()
        self.idle_since = start
        self.last_heartbeat: datetime | None = None
        self.connected = True
        self.gen = 0
        """Bumped on every presence change; stale 'come back' events check it."""

    def set_presence(self, presence: str, now: datetime) -> None:
        if presence == "available" and self.presence != "available" and not self.active:
            self.idle_since = now
        self.presence = presence
        self.gen += 1


class _Day:
    def __init__(
        self,
        *,
        seed: int,
        regions: Sequence[SimRegion],
        providers: Sequence[SimProvider],
        supporters: Sequence[SimSupporter],
        arrival_rates: Mapping[tuple[str, str], float | Sequence[float]],
        start: datetime,
        hours: float,
        behaviour: Behaviour,
        country_holidays: Any,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.b = behaviour
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        # Simulated time runs in UTC: adding seconds to a Helsinki time would
        # step by the wall clock and trip over the daylight-saving change.
        self.start = start = start.astimezone(UTC)
        self.day_end = start + timedelta(hours=hours)
        self.stop = self.day_end + timedelta(seconds=behaviour.drain_s)
        self.regions = {r.name: r for r in regions}
        self.provider_cfg = sorted(providers, key=lambda p: p.id)
        self.country_holidays = country_holidays
        self.supporters = {
            s.id: _Supporter(s, start) for s in sorted(supporters, key=lambda s: s.id)
        }
        for region, channel in arrival_rates:
            if region not in self.regions or channel not in behaviour.handle_mean_s:
                raise ValueError(f"no such region or channel: {region!r}, {channel!r}")
        self.arrival_rates = {key: arrival_rates[key] for key in sorted(arrival_rates)}
        self.contacts: dict[int, _Contact] = {}
        self.waiting: dict[int, _Contact] = {}
        self.events: list[tuple[datetime, int, str, tuple]] = []
        self.seq = 0
        self.handle_times = {ch: deque(maxlen=50) for ch in ("chat", "phone", "video")}
        self.provider_cache: tuple[datetime, tuple[ProviderState, ...]] | None = None
        self.lost: set[int] = set()
        self.waits: dict[tuple[int, int], list[float]] = {}
        self.counts = dict.fromkeys(
            (
                "offers_made",
                "offers_accepted",
                "offers_declined",
                "offers_expired",
                "offers_withdrawn",
                "advances",
                "closed_notices",
                "callbacks",
                "escalations",
                "double_assignments",
                "capacity_violations",
                "decide_calls",
            ),
            0,
        )
        self.region_supporters = {
            name: sorted(
                s.id
                for s in supporters
                if any(
                    not p.is_national and name in p.regions
                    for p in providers
                    if p.id in s.provider_ids
                )
            )
            for name in self.regions
        }
        self.national_provider = next((p.id for p in self.provider_cfg if p.is_national), None)

    # -- event queue ----------------------------------------------------------

    def schedule(self, at: datetime, kind: str, *payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, payload))

    def after(self, now: datetime, seconds: float) -> datetime:
        return now + timedelta(seconds=seconds)

    def expo(self, mean_s: float) -> float:
        return self.rng.expovariate(1.0 / mean_s) if mean_s > 0 else 0.0

    # -- setup ------------------------------------------------------------------

    def plan(self) -> None:
        for s in self.supporters.values():
            self.schedule(self.after(self.start, s.cfg.shift_start_h * 3600), "shift_start", s)
            self.schedule(self.after(self.start, s.cfg.shift_end_h * 3600), "shift_end", s)
        for (region, channel), rate in self.arrival_rates.items():
            peak = max(rate) if isinstance(rate, Sequence) else rate
            if peak > 0:
                first = self.after(self.start, self.expo(3600.0 / peak))
                self.schedule(first, "arrival_tick", region, channel, peak)

    def rate_at(self, region: str, channel: str, at: datetime) -> float:
        rate = self.arrival_rates[(region, channel)]
        if not isinstance(rate, Sequence):
            return rate
        hour = int((at - self.start).total_seconds() // 3600)
        return rate[min(hour, len(rate) - 1)] if rate else 0.0

    # -- events -----------------------------------------------------------------

    def handle(self, now: datetime, kind: str, payload: tuple) -> None:
        getattr(self, f"on_{kind}")(now, *payload)

    def on_arrival_tick(self, now: datetime, region: str, channel: str, peak: float) -> None:
        # Thinning: candidates at the peak rate, kept with probability rate/peak,
        # gives a Poisson process with a rate that changes by the hour.
        if now >= self.day_end:
            return
        if self.rng.random() * peak < self.rate_at(region, channel, now):
            self.arrive(now, region, channel)
        self.schedule(
            self.after(now, self.expo(3600.0 / peak)), "arrival_tick", region, channel, peak
        )

    def arrive(self, now: datetime, region_name: str, channel: str) -> None:
        b, rng = self.b, self.rng
        region = self.regions[region_name]
        languages = sorted(b.languages)
        language = rng.choices(languages, weights=[b.languages[x] for x in languages])[0]
        topic = rng.choice(b.topics) if b.topics and rng.random() < b.topic_p else None
        if rng.random() < b.unknown_municipality_p:
            municipality = area = region_value = None
            workflow_id = NATIONAL_FIRST_LINE_WORKFLOW_ID
        else:
            municipality = rng.choice(region.municipalities)
            region_value, area = region.name, region.development_area
            workflow_id = DEFAULT_WORKFLOW_ID
        contact = _Contact(
            id=len(self.contacts) + 1,
            channel=channel,
            language=language,
            municipality=municipality,
            region=region_value,
            development_area=area,
            topic=topic,
            priority=0,
            arrived=now,
            waiting_since=now,
            workflow_id=workflow_id,
            step_index=0,
            step_started=now,
        )
        known = self.region_supporters.get(region_name)
        if known and municipality is not None and rng.random() < b.returning_p:
            contact.preferred = rng.choice(known)
        self.contacts[contact.id] = contact
        self.waiting[contact.id] = contact
        self.schedule(
            self.after(now, self.expo(b.patience_mean_s[channel])), "patience", contact, 0
        )

    def on_patience(self, now: datetime, contact: _Contact, gen: int) -> None:
        if contact.state != "waiting" or gen != contact.patience_gen:
            return
        if (
            contact.channel == "phone"
            and not contact.callback
            and self.rng.random() < self.b.callback_p
        ):
            # The caller leaves a number: the contact stays queued, ahead of live callers.
            contact.callback = True
            contact.priority = 1
            self.counts["callbacks"] += 1
            return
        self.abandon(contact)

    def abandon(self, contact: _Contact) -> None:
        if contact.pending is not None:
            self.withdraw_offer(contact)
            self.counts["offers_withdrawn"] += 1
        contact.state = "abandoned"
        self.waiting.pop(contact.id, None)

    def withdraw_offer(self, contact: _Contact, *, sign_off: bool = True) -> None:
        offer = contact.pending
        contact.pending = None
        supporter = self.supporters[offer.supporter_id]
        supporter.pending[contact.channel] -= 1
        if sign_off:
            self.maybe_sign_off(supporter)

    def on_shift_start(self, now: datetime, s: _Supporter) -> None:
        s.on_shift = True
        s.last_heartbeat = now
        s.set_presence("available", now)
        self.plan_breaks(now, s)

    def plan_breaks(self, now: datetime, s: _Supporter) -> None:
        b = self.b
        for kind, rate in (
            ("break", b.break_rate_per_h),
            ("self_busy", b.busy_rate_per_h),
            ("disconnect", b.disconnect_rate_per_h),
        ):
            if rate > 0:
                self.schedule(self.after(now, self.expo(3600.0 / rate)), kind, s)

    def on_shift_end(self, now: datetime, s: _Supporter) -> None:
        s.on_shift = False
        s.set_presence("away", now)
        self.maybe_sign_off(s)

    def maybe_sign_off(self, s: _Supporter) -> None:
        if not s.on_shift and not s.active and not any(s.pending.values()):
            s.presence = "offline"
            s.gen += 1

    def _pause(self, now: datetime, s: _Supporter, kind: str, presence: str, mean: float) -> None:
        if not s.on_shift:
            return
        rate = {
            "break": self.b.break_rate_per_h,
            "self_busy": self.b.busy_rate_per_h,
        }[kind]
        self.schedule(self.after(now, self.expo(3600.0 / rate)), kind, s)
        if s.presence != "available":
            return
        s.set_presence(presence, now)
        self.schedule(self.after(now, self.expo(mean)), "back", s, s.gen)

    def on_break(self, now: datetime, s: _Supporter) -> None:
        self._pause(now, s, "break", "away", self.b.break_mean_s)

    def on_self_busy(self, now: datetime, s: _Supporter) -> None:
        self._pause(now, s, "self_busy", "busy", self.b.busy_mean_s)

    def on_back(self, now: datetime, s: _Supporter, gen: int) -> None:
        if s.on_shift and s.gen == gen:
            s.set_presence("available", now)

    def on_disconnect(self, now: datetime, s: _Supporter) -> None:
        if not s.on_shift:
            return
        rate = self.b.disconnect_rate_per_h
        self.schedule(self.after(now, self.expo(3600.0 / rate)), "disconnect", s)
        if s.connected:
            s.connected = False
            self.schedule(self.after(now, self.expo(self.b.disconnect_mean_s)), "reconnect", s)

    def on_reconnect(self, now: datetime, s: _Supporter) -> None:
        s.connected = True
        s.last_heartbeat = now

    def on_answer(
        self, now: datetime, contact: _Contact, offer: PendingOffer, accept: bool
    ) -> None:
        if contact.pending != offer or contact.state != "waiting":
            return  # withdrawn, expired or abandoned meanwhile
        s = self.supporters[offer.supporter_id]
        if not s.connected:
            return  # the answer never arrives; the offer will expire
        self.withdraw_offer(contact, sign_off=not accept)
        if not accept:
            contact.declined.add(s.cfg.id)
            self.counts["offers_declined"] += 1
            return
        self.counts["offers_accepted"] += 1
        if contact.supporter is not None:
            self.counts["double_assignments"] += 1
            return
        channel = contact.channel
        s.load[channel] = s.load.get(channel, 0) + 1
        s.active.add(contact.id)
        if s.load[channel] > s.cfg.capacity.get(channel, 0):
            self.counts["capacity_violations"] += 1
        contact.state = "active"
        contact.supporter = s.cfg.id
        self.waiting.pop(contact.id, None)
        step = _PINNED_STEP if contact.pinned_provider is not None else contact.step_index
        if contact.answered_step is None:
            contact.answered_step = step
            contact.wait_s = (now - contact.arrived).total_seconds()
        self.record_wait(contact, step, (now - contact.waiting_since).total_seconds())
        handle_s = self.expo(self.b.handle_mean_s[channel])
        self.schedule(self.after(now, handle_s), "end", contact, s, handle_s)

    def on_end(self, now: datetime, contact: _Contact, s: _Supporter, handle_s: float) -> None:
        channel = contact.channel
        s.load[channel] -= 1
        s.active.discard(contact.id)
        if not s.active:
            s.idle_since = now
        self.handle_times[channel].append(handle_s)
        contact.supporter = None
        escalate = (
            self.national_provider is not None
            and not contact.escalated
            and now < self.day_end
            and self.rng.random() < self.b.escalation_p
        )
        if escalate:
            contact.escalated = True
            contact.state = "waiting"
            contact.pinned_provider = self.national_provider
            contact.declined = set()
            contact.waiting_since = now
            contact.step_started = now
            contact.patience_gen += 1
            self.waiting[contact.id] = contact
            self.counts["escalations"] += 1
            mean = self.b.patience_mean_s[channel]
            self.schedule(
                self.after(now, self.expo(mean)), "patience", contact, contact.patience_gen
            )
        else:
            contact.state = "ended"
        self.maybe_sign_off(s)

    # -- one routing round ----------------------------------------------------

    def provider_states(self, now: datetime) -> tuple[ProviderState, ...]:
        minute = now.replace(second=0, microsecond=0)
        if self.provider_cache is not None and self.provider_cache[0] == minute:
            return self.provider_cache[1]
        states = []
        for p in self.provider_cfg:
            regions = [self.regions[name] for name in sorted(p.regions) if name in self.regions]
            open_now = is_open(p.rules, (), now, country_holidays=self.country_holidays)
            states.append(
                ProviderState(
                    id=p.id,
                    is_national=p.is_national,
                    municipalities=frozenset(m for r in regions for m in r.municipalities),
                    regions=frozenset(r.name for r in regions),
                    development_areas=frozenset(r.development_area for r in regions),
                    channels=p.channels,
                    languages=p.languages,
                    is_open=open_now,
                    next_open=None
                    if open_now
                    else next_opening(p.rules, (), now, country_holidays=self.country_holidays),
                )
            )
        self.provider_cache = (minute, tuple(states))
        return self.provider_cache[1]

    def snapshot(self, now: datetime) -> Snapshot:
        supporters = []
        for s in self.supporters.values():
            if s.connected and (s.on_shift or s.active):
                s.last_heartbeat = now
            presence = presence_after_heartbeat(
                s.presence, s.last_heartbeat, now, self.b.heartbeat_timeout_s
            )
            if presence == "offline":
                continue
            load = {ch: n for ch, n in s.load.items() if n}
            supporters.append(
                SupporterState(
                    id=s.cfg.id,
                    provider_ids=s.cfg.provider_ids,
                    presence=presence,
                    languages=s.cfg.languages,
                    skills=s.cfg.skills,
                    capacity=s.cfg.capacity,
                    load=load,
                    idle_since=s.idle_since,
                )
            )
        handle_time = {
            ch: (sum(times) / len(times) if times else self.b.handle_mean_s[ch])
            for ch, times in self.handle_times.items()
        }
        return Snapshot(
            now=now,
            contacts=tuple(c.as_waiting() for c in self.waiting.values()),
            supporters=tuple(supporters),
            providers=self.provider_states(now),
            workflows=_WORKFLOWS,
            handle_time_s=handle_time,
            offer_timeout_s=self.b.offer_timeout_s,
        )

    def route(self, now: datetime) -> None:
        snapshot = self.snapshot(now)
        decision = decide(snapshot)
        self.counts["decide_calls"] += 1

        # The engine must answer for every contact that is not waiting on an offer.
        answered = {o.contact_id for o in decision.offers} | {
            p.contact_id for p in decision.positions
        }
        expired = {e.contact_id for e in decision.expirations}
        for c in snapshot.contacts:
            if (c.pending_offer is None or c.id in expired) and c.id not in answered:
                self.lost.add(c.id)

        for e in decision.expirations:
            contact = self.contacts[e.contact_id]
            if contact.pending is None or contact.pending.supporter_id != e.supporter_id:
                continue
            self.withdraw_offer(contact)
            contact.declined.add(e.supporter_id)
            self.counts["offers_expired"] += 1
            s = self.supporters[e.supporter_id]
            if s.on_shift:
                s.set_presence("away", now)
                self.schedule(self.after(now, self.b.away_after_expiry_s), "back", s, s.gen)
        for a in decision.advances:
            contact = self.contacts[a.contact_id]
            contact.step_index = a.to_step
            contact.step_started = now
            self.counts["advances"] += 1
        for notice in decision.closed:
            contact = self.contacts[notice.contact_id]
            if not contact.closed_noticed:
                contact.closed_noticed = True
                self.counts["closed_notices"] += 1

        offered: set[int] = set()
        for offer in decision.offers:
            contact = self.contacts[offer.contact_id]
            s = self.supporters[offer.supporter_id]
            if offer.contact_id in offered or contact.state != "waiting" or contact.pending:
                self.counts["double_assignments"] += 1
                continue
            offered.add(offer.contact_id)
            channel = contact.channel
            used = s.load.get(channel, 0) + s.pending.get(channel, 0)
            if s.presence != "available" or used >= s.cfg.capacity.get(channel, 0):
                self.counts["capacity_violations"] += 1
            pending = PendingOffer(s.cfg.id, now)
            contact.pending = pending
            s.pending[channel] = s.pending.get(channel, 0) + 1
            self.counts["offers_made"] += 1
            roll = self.rng.random()
            if roll < self.b.accept_p + self.b.decline_p:
                delay = self.rng.uniform(*self.b.answer_delay_s)
                accept = roll < self.b.accept_p
                self.schedule(self.after(now, delay), "answer", contact, pending, accept)

    # -- the day ----------------------------------------------------------------

    def run(self) -> SimulationReport:
        self.plan()
        tick = timedelta(seconds=self.b.tick_s)
        now = self.start
        while now <= self.stop:
            while self.events and self.events[0][0] <= now:
                at, _, kind, payload = heapq.heappop(self.events)
                self.handle(at, kind, payload)
            if self.waiting:
                self.route(now)
            elif now >= self.day_end and not any(s.active for s in self.supporters.values()):
                break
            now += tick
        # Closing time: whoever still waits has given up; those being helped finish.
        for contact in list(self.waiting.values()):
            self.abandon(contact)
        while self.events:
            at, _, kind, payload = heapq.heappop(self.events)
            if kind == "end":
                self.handle(at, kind, payload)
        for contact in list(self.waiting.values()):
            self.abandon(contact)  # escalated after closing: nobody is left to answer
        return self.report()

    def record_wait(self, contact: _Contact, step: int, wait_s: float) -> None:
        self.waits.setdefault((contact.workflow_id, step), []).append(wait_s)

    def report(self) -> SimulationReport:
        outcomes = []
        abandoned_at: dict[tuple[int, int], int] = {}
        for contact in self.contacts.values():
            if contact.state not in ("ended", "abandoned"):
                self.lost.add(contact.id)
                continue
            if contact.state == "abandoned":
                step = _PINNED_STEP if contact.pinned_provider is not None else contact.step_index
                key = (contact.workflow_id, step)
                abandoned_at[key] = abandoned_at.get(key, 0) + 1
            outcomes.append(
                ContactOutcome(
                    contact_id=contact.id,
                    channel=contact.channel,
                    region=contact.region,
                    final_state=contact.state,
                    answered_step=contact.answered_step,
                    wait_s=contact.wait_s,
                )
            )
        step_waits = []
        for key in sorted(set(self.waits) | set(abandoned_at)):
            workflow_id, step = key
            waits = sorted(self.waits.get(key, ()))
            if step == _PINNED_STEP:
                target = "pinned provider"
            else:
                target = _WORKFLOWS[workflow_id].steps[step].target
            step_waits.append(
                StepWaits(
                    workflow_id=workflow_id,
                    step_index=step,
                    target=target,
                    answered=len(waits),
                    abandoned=abandoned_at.get(key, 0),
                    mean_s=sum(waits) / len(waits) if waits else None,
                    p50_s=_percentile(waits, 0.5),
                    p90_s=_percentile(waits, 0.9),
                )
            )
        return SimulationReport(
            seed=self.seed,
            arrivals=len(self.contacts),
            outcomes=tuple(outcomes),
            step_waits=tuple(step_waits),
            lost_contacts=len(self.lost),
            **self.counts,
        )


def _percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def simulate_day(
    *,
    seed: int,
    regions: Sequence[SimRegion],
    arrival_rates: Mapping[tuple[str, str], float | Sequence[float]],
    supporters: Sequence[SimSupporter],
    providers: Sequence[SimProvider],
    start: datetime,
    hours: float = 12.0,
    behaviour: Behaviour | None = None,
    country_holidays: Any = None,
) -> SimulationReport:
    """Simulate one day and report what happened to every contact.

    ``arrival_rates`` maps (region name, channel) to arrivals per hour, either
    one rate for the whole day or one per hour from ``start``. ``start`` must
    be an aware datetime; opening hours are evaluated in Helsinki time against
    ``country_holidays`` (Finnish public holidays by default).
    """
    day = _Day(
        seed=seed,
        regions=regions,
        providers=providers,
        supporters=supporters,
        arrival_rates=arrival_rates,
        start=start,
        hours=hours,
        behaviour=behaviour or Behaviour(),
        country_holidays=country_holidays,
    )
    return day.run()


def sample_network(
    *, supporters_per_region: int = 6, national_supporters: int = 6
) -> tuple[list[SimRegion], list[SimProvider], list[SimSupporter]]:
    """Four regions in three development areas, one provider each, and a national line."""
    regions = [
        SimRegion("Pohjois-Karjala", "Joensuu", ("Joensuu", "Kitee", "Lieksa")),
        SimRegion("Pohjois-Savo", "Kuopio", ("Kuopio", "Iisalmi", "Varkaus")),
        SimRegion("Etelä-Savo", "Kuopio", ("Mikkeli", "Savonlinna", "Pieksämäki")),
        SimRegion("Pohjanmaa", "Vaasa", ("Vaasa", "Mustasaari", "Pietarsaari")),
    ]
    weekday_hours = tuple(OpeningRule(d, time(8), time(18)) for d in range(5))
    national_hours = tuple(OpeningRule(d, time(8), time(21)) for d in range(7))
    providers = [
        SimProvider(
            id=index + 1,
            regions=frozenset({region.name}),
            channels=frozenset({"chat", "phone", "video"}),
            languages=frozenset({"fi", "sv"} if region.name == "Pohjanmaa" else {"fi"}),
            rules=weekday_hours,
        )
        for index, region in enumerate(regions)
    ]
    national_id = len(providers) + 1
    providers.append(
        SimProvider(
            id=national_id,
            regions=frozenset(),
            channels=frozenset({"chat", "phone"}),
            languages=frozenset({"fi", "sv", "en"}),
            is_national=True,
            rules=national_hours,
        )
    )
    topics = ("banking", "health", "identification", "devices", "taxes")
    supporters = []
    next_id = 1
    for provider in providers[:-1]:
        for n in range(supporters_per_region):
            languages = set(provider.languages) if n % 2 == 0 else {"fi"}
            if n % 3 == 0:
                languages.add("en")
            supporters.append(
                SimSupporter(
                    id=next_id,
                    provider_ids=frozenset({provider.id}),
                    languages=frozenset(languages),
                    skills=frozenset(topics[(n + k) % len(topics)] for k in range(3)),
                    capacity={"chat": 2, "phone": 1, "video": 1},
                    shift_start_h=0.0 if n % 2 == 0 else 2.0,
                    shift_end_h=8.0 if n % 2 == 0 else 10.0,
                )
            )
            next_id += 1
    for n in range(national_supporters):
        supporters.append(
            SimSupporter(
                id=next_id,
                provider_ids=frozenset({national_id}),
                languages=frozenset({"fi", "sv", "en"} if n % 2 == 0 else {"fi", "en"}),
                skills=frozenset(topics),
                capacity={"chat": 3, "phone": 1},
                shift_start_h=0.0 if n % 2 == 0 else 5.0,
                shift_end_h=8.0 if n % 2 == 0 else 13.0,
            )
        )
        next_id += 1
    return regions, providers, supporters
