"""Writes realistic contact history, so that dashboards and forecasts have data.

`manage.py simulate_traffic --weeks N --seed S [--regions 01 12 ...]` fills the
weeks before now with finished contacts and their ContactEvents, written in
bulk. It is demo and benchmark data: the contacts are marked by the
pseudonym prefix SIMULATION_PSEUDONYM_PREFIX so that they can be told apart.

The model, hour by hour and municipality by municipality:
- arrivals are Poisson with a rate in proportion to the population, times a
  weekday profile, an hour-of-day profile (Helsinki time) and a holiday
  factor (Finnish public holidays from `holidays`);
- channel, language (more Swedish where the municipality is bilingual or
  Swedish-speaking, see helpdesk/stats/languages.py) and topic are drawn from
  fixed mixes;
- the wait grows with the hour's load; a customer whose patience
  (exponential, shorter on the phone) runs out first abandons;
- handle times are log-normal per channel; some contacts are transferred
  or escalated to Kansalaisneuvonta; outcomes and feedback are drawn.

Everything comes from one random.Random(seed) and a fixed end hour, so the
same arguments on the same reference data write the same history.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from django.db import transaction

from helpdesk.models import Contact, ContactEvent, Feedback, Message, Municipality, Provider, Topic
from helpdesk.stats.languages import swedish_status

log = logging.getLogger(__name__)

HELSINKI = ZoneInfo("Europe/Helsinki")
SIMULATION_PSEUDONYM_PREFIX = "sim-"
# Contacts per 1,000 inhabitants per week, before the profiles: about
# 300,000 contacts a year for the whole country.
WEEKLY_RATE_PER_1000 = 1.05
# Relative demand by weekday (Mon..Sun) and by hour of day (Helsinki time).
WEEKDAY_PROFILE = (1.25, 1.15, 1.1, 1.05, 0.95, 0.3, 0.2)
HOUR_PROFILE = (
    0.02,
    0.01,
    0.01,
    0.01,
    0.02,
    0.05,
    0.2,
    0.6,
    1.3,
    1.8,
    1.9,
    1.7,
    1.5,
    1.6,
    1.5,
    1.2,
    0.9,
    0.7,
    0.6,
    0.5,
    0.35,
    0.2,
    0.1,
    0.05,
)
HOLIDAY_FACTOR = 0.25
CHANNEL_MIX = (("chat", 0.5), ("phone", 0.4), ("video", 0.1))
MEAN_HANDLE_S = {"chat": 660.0, "phone": 420.0, "video": 900.0}
MEAN_PATIENCE_S = {"chat": 420.0, "phone": 180.0, "video": 300.0}
OUTCOMES = (("solved", 0.62), ("partly", 0.18), ("referred", 0.1), ("not_solved", 0.1))
TRANSFER_P = 0.05
ESCALATE_P = 0.03
FEEDBACK_P = 0.3
RATING_WEIGHTS = (0.03, 0.05, 0.12, 0.35, 0.45)
CAN_DO_ALONE_P = 0.45
BATCH_CONTACTS = 20000

_MEAN_HOUR = sum(HOUR_PROFILE) / 24
_MEAN_DAY = sum(WEEKDAY_PROFILE) / 7


@dataclass(frozen=True)
class SimulationSummary:
    contacts: int
    events: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Place:
    municipality_id: int
    region_id: int
    population: int
    sv_share: float
    providers: dict[tuple[str, str], tuple[int, ...]]  # (channel, language) -> provider ids


def hourly_rate(population: int, local: datetime, fi_holidays) -> float:
    """Expected arrivals in the hour starting at `local` (Helsinki time)."""
    weekly = population / 1000.0 * WEEKLY_RATE_PER_1000
    factor = (WEEKDAY_PROFILE[local.weekday()] / _MEAN_DAY) * (
        HOUR_PROFILE[local.hour] / _MEAN_HOUR
    )
    if local.date() in fi_holidays:
        factor *= HOLIDAY_FACTOR
    return weekly / (7 * 24) * factor


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    # Knuth's method: fine for the small rates of one municipality-hour.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _choose(rng: random.Random, mix: Sequence[tuple[str, float]]) -> str:
    x = rng.random() * sum(w for _, w in mix)
    for value, weight in mix:
        x -= weight
        if x <= 0:
            return value
    return mix[-1][0]


def _places(region_codes: Sequence[str] | None) -> list[_Place]:
    municipalities = Municipality.objects.select_related("region").filter(population__gt=0)
    if region_codes:
        municipalities = municipalities.filter(region__code__in=list(region_codes))
    providers = list(
        Provider.objects.filter(active=True).prefetch_related(
            "service_regions", "service_municipalities"
        )
    )
    national = [p for p in providers if p.is_national]
    places = []
    for m in municipalities:
        serving = [
            p
            for p in providers
            if not p.is_national
            and (
                any(r.pk == m.region_id for r in p.service_regions.all())
                or any(x.pk == m.pk for x in p.service_municipalities.all())
            )
        ]
        table: dict[tuple[str, str], tuple[int, ...]] = {}
        for channel, _w in CHANNEL_MIX:
            for language in ("fi", "sv", "en"):
                ids = tuple(
                    p.pk
                    for p in serving
                    if channel in (p.channels or []) and language in (p.languages or [])
                )
                if not ids:
                    ids = tuple(
                        p.pk
                        for p in national
                        if channel in (p.channels or []) and language in (p.languages or [])
                    )
                table[(channel, language)] = ids
        status = swedish_status(m.code, m.region.code)
        sv_share = {"sv": 0.85, "bilingual_sv": 0.5, "bilingual_fi": 0.12}.get(status, 0.005)
        places.append(_Place(m.pk, m.region_id, m.population, sv_share, table))
    return places


@contextmanager
def _keeping_given_times() -> Iterator[None]:
    """Let bulk_create store the historic times we give instead of now().

    auto_now_add fields overwrite any value on insert; the simulator writes
    the past, so it switches that off for its own inserts. Management command
    use only: the flag is process-wide while the block runs.
    """
    fields = [
        Contact._meta.get_field("created_at"),
        Feedback._meta.get_field("created_at"),
        Message._meta.get_field("created_at"),
    ]
    saved = [f.auto_now_add for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in zip(fields, saved, strict=True):
            f.auto_now_add = value


def simulate_traffic(
    *,
    weeks: float,
    seed: int = 0,
    region_codes: Sequence[str] | None = None,
    end: datetime | None = None,
    rate_scale: float = 1.0,
) -> SimulationSummary:
    """Write `weeks` of finished contacts ending at the hour `end` (default: this hour)."""
    if not 0 < weeks <= 260:
        raise ValueError("weeks must be more than 0 and at most 260")
    if rate_scale <= 0:
        raise ValueError("rate_scale must be positive")
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=round(weeks * 7 * 24))
    rng = random.Random(seed)
    places = _places(region_codes)
    if not places:
        raise ValueError("no municipalities with a population: load the reference data first")
    topics = list(Topic.objects.filter(parent__isnull=False).values_list("pk", flat=True))
    topic_weights = [1.0 / (1 + i % 7) for i in range(len(topics))]
    years = range(start.astimezone(HELSINKI).year, end.astimezone(HELSINKI).year + 1)
    fi_holidays = holidays.country_holidays("FI", years=years)
    total_contacts = total_events = 0
    pending: list[dict] = []
    with _keeping_given_times():
        hour = start
        while hour < end:
            local = hour.astimezone(HELSINKI)
            load = (HOUR_PROFILE[local.hour] / _MEAN_HOUR) * (
                WEEKDAY_PROFILE[local.weekday()] / _MEAN_DAY
            )
            for place in places:
                lam = hourly_rate(place.population, local, fi_holidays) * rate_scale
                for _ in range(_poisson(rng, lam)):
                    pending.append(_one_contact(rng, hour, place, load, topics, topic_weights))
            if len(pending) >= BATCH_CONTACTS:
                c, e = _write(pending)
                total_contacts += c
                total_events += e
                pending = []
            hour += timedelta(hours=1)
        if pending:
            c, e = _write(pending)
            total_contacts += c
            total_events += e
    log.info(
        "simulated %d contacts and %d events from %s to %s (seed %d)",
        total_contacts,
        total_events,
        start,
        end,
        seed,
    )
    return SimulationSummary(total_contacts, total_events, start, end)


def _one_contact(rng, hour, place: _Place, load: float, topics, topic_weights) -> dict:
    created = hour + timedelta(seconds=rng.random() * 3600)
    channel = _choose(rng, CHANNEL_MIX)
    r = rng.random()
    language = "sv" if r < place.sv_share else ("en" if r > 0.985 else "fi")
    providers = place.providers[(channel, language)] or place.providers[(channel, "fi")]
    provider = rng.choice(providers) if providers else None
    topic = rng.choices(topics, weights=topic_weights)[0] if topics else None
    patience = rng.expovariate(1.0 / MEAN_PATIENCE_S[channel])
    # Busy hours wait longer: most contacts are answered quickly, a tail waits.
    mean_wait = 25.0 + 45.0 * load
    wait = rng.expovariate(1.0 / mean_wait) if rng.random() < 0.7 else rng.random() * 5
    c = {
        "created": created,
        "channel": channel,
        "language": language,
        "municipality": place.municipality_id,
        "region": place.region_id,
        "provider": provider,
        "topic": topic,
    }
    if provider is None or patience < wait:
        c["abandoned_after"] = min(patience, 3600.0)
        return c
    sigma = 0.6
    mu = math.log(MEAN_HANDLE_S[channel]) - sigma * sigma / 2
    c["wait"] = wait
    c["handle"] = rng.lognormvariate(mu, sigma)
    c["first_response"] = 5 + rng.expovariate(1 / 20.0) if channel == "chat" else None
    c["transfer"] = rng.random() < TRANSFER_P
    c["escalate"] = rng.random() < ESCALATE_P
    c["outcome"] = _choose(rng, OUTCOMES)
    if rng.random() < FEEDBACK_P:
        c["rating"] = rng.choices(range(1, 6), weights=RATING_WEIGHTS)[0]
        c["alone"] = rng.random() < CAN_DO_ALONE_P
    return c


def _write(specs: list[dict]) -> tuple[int, int]:
    contacts = []
    for s in specs:
        abandoned = "abandoned_after" in s
        ended = s["created"] + timedelta(
            seconds=s["abandoned_after"] if abandoned else s["wait"] + s["handle"]
        )
        contacts.append(
            Contact(
                public_id=uuid.uuid4(),
                channel=s["channel"],
                language=s["language"],
                municipality_id=s["municipality"],
                region_id=s["region"],
                topic_id=s["topic"],
                state="abandoned" if abandoned else "ended",
                pseudonym=f"{SIMULATION_PSEUDONYM_PREFIX}{uuid.uuid4().hex[:8]}",
                entry_provider_id=s["provider"],
                provider_id=None if abandoned else s["provider"],
                outcome="" if abandoned else s["outcome"],
                created_at=s["created"],
                waiting_since=s["created"],
                accepted_at=None if abandoned else s["created"] + timedelta(seconds=s["wait"]),
                ended_at=ended,
                consent_at=s["created"],
            )
        )
    events: list[ContactEvent] = []
    feedback: list[Feedback] = []
    messages: list[Message] = []
    with transaction.atomic():
        Contact.objects.bulk_create(contacts, batch_size=5000)
        for s, contact in zip(specs, contacts, strict=True):
            cid, at = contact.pk, s["created"]
            created_data = {"channel": s["channel"], "language": s["language"], "simulated": True}
            events.append(ContactEvent(contact_id=cid, kind="created", at=at, data=created_data))
            events.append(ContactEvent(contact_id=cid, kind="queued", at=at, step_index=0))
            if "abandoned_after" in s:
                events.append(
                    ContactEvent(
                        contact_id=cid,
                        kind="abandoned",
                        at=contact.ended_at,
                        data={"reason": "customer_left", "from_state": "waiting"},
                    )
                )
                continue
            accepted = contact.accepted_at
            events.append(
                ContactEvent(
                    contact_id=cid,
                    kind="accepted",
                    at=accepted,
                    provider_id=s["provider"],
                    data={"waited_s": int(s["wait"])},
                )
            )
            middle = accepted + (contact.ended_at - accepted) / 2
            if s["transfer"]:
                events.append(ContactEvent(contact_id=cid, kind="transferred", at=middle))
            elif s["escalate"]:
                events.append(ContactEvent(contact_id=cid, kind="escalated", at=middle))
            events.append(
                ContactEvent(
                    contact_id=cid,
                    kind="ended",
                    at=contact.ended_at,
                    provider_id=s["provider"],
                    data={"by": "supporter", "outcome": s["outcome"]},
                )
            )
            if s.get("first_response") is not None:
                messages.append(
                    Message(
                        contact_id=cid,
                        seq=1,
                        author_kind="supporter",
                        kind="text",
                        created_at=accepted + timedelta(seconds=s["first_response"]),
                    )
                )
            if "rating" in s:
                feedback.append(
                    Feedback(
                        contact_id=cid,
                        rating=s["rating"],
                        can_do_myself=s["alone"],
                        created_at=contact.ended_at,
                    )
                )
        ContactEvent.objects.bulk_create(events, batch_size=5000)
        Message.objects.bulk_create(messages, batch_size=5000)
        Feedback.objects.bulk_create(feedback, batch_size=5000)
    return len(contacts), len(events)
