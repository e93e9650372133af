"""Properties of ``routing.engine.decide`` over random snapshots.

The checks below restate the rules from the engine's docstring naively (one
contact, one supporter, one provider at a time) and compare them with what the
engine decided.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import decide
from routing.types import (
    DEFAULT_STEPS,
    NATIONAL_FIRST_LINE_STEPS,
    Decision,
    PendingOffer,
    ProviderState,
    Snapshot,
    Step,
    SupporterState,
    WaitingContact,
    Workflow,
)

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
OFFER_TIMEOUT = 30
CHANNELS = ("chat", "phone", "video")
LANGUAGES = ("fi", "sv", "en")
TOPICS = ("banking", "health")
PRESENCES = ("available", "busy", "away", "offline")
MUNICIPALITIES = {
    "Kuopio": ("Pohjois-Savo", "Kuopio"),
    "Iisalmi": ("Pohjois-Savo", "Kuopio"),
    "Mikkeli": ("Etelä-Savo", "Kuopio"),
    "Vaasa": ("Pohjanmaa", "Vaasa"),
}
REGIONS = sorted({r for r, _ in MUNICIPALITIES.values()})
AREAS = sorted({a for _, a in MUNICIPALITIES.values()})
PROVIDER_IDS = (1, 2, 3, 4)
SUPPORTER_IDS = tuple(range(100, 107))
HANDLE = {"chat": 300.0, "phone": 200.0}


def ago(seconds: int) -> datetime:
    return NOW - timedelta(seconds=seconds)


def subset(values) -> st.SearchStrategy[frozenset]:
    # One bitmask per set keeps the number of choices (and generation time) low.
    values = tuple(values)
    return st.integers(0, 2 ** len(values) - 1).map(
        lambda mask: frozenset(v for i, v in enumerate(values) if mask >> i & 1)
    )


def weighted(*choices: tuple[object, int]) -> st.SearchStrategy:
    """Sample with weights, so that most snapshots have offers to make."""
    return st.sampled_from([value for value, weight in choices for _ in range(weight)])


def sometimes(strategy: st.SearchStrategy, default: object = None) -> st.SearchStrategy:
    """``default`` three times in four, else a draw from ``strategy``."""
    return st.tuples(weighted((False, 3), (True, 1)), strategy).map(
        lambda pair: pair[1] if pair[0] else default
    )


def per_channel(counts: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, int]]:
    return st.tuples(*(counts for _ in CHANNELS)).map(
        lambda values: {ch: n for ch, n in zip(CHANNELS, values, strict=True) if n}
    )


# Strategies are built once: building them inside a draw costs more than drawing.
step = st.builds(
    Step,
    target=st.sampled_from(("municipality", "region", "development_area", "national")),
    require_language=st.booleans(),
    require_topic=st.booleans(),
    timeout_s=st.integers(0, 200),
)
terminal_step = step.map(lambda s: Step(s.target, s.require_language, s.require_topic, None))
workflows = st.tuples(st.lists(step, max_size=3), terminal_step).map(
    lambda parts: {
        1: Workflow(1, DEFAULT_STEPS),
        2: Workflow(2, NATIONAL_FIRST_LINE_STEPS),
        3: Workflow(3, (*parts[0], parts[1])),
    }
)


def _provider(municipalities: frozenset[str], **fields) -> ProviderState:
    # Regions and areas expanded from the service area, as the caller does.
    return ProviderState(
        id=0,
        municipalities=municipalities,
        regions=frozenset(MUNICIPALITIES[m][0] for m in municipalities),
        development_areas=frozenset(MUNICIPALITIES[m][1] for m in municipalities),
        **fields,
    )


provider = st.builds(
    _provider,
    municipalities=subset(sorted(MUNICIPALITIES)),
    is_national=weighted((False, 3), (True, 1)),
    channels=st.one_of(st.just(frozenset(CHANNELS)), subset(CHANNELS)),
    languages=st.one_of(st.just(frozenset({"fi", "sv"})), subset(LANGUAGES)),
    is_open=weighted((True, 4), (False, 1)),
    next_open=st.none() | st.integers(1, 50000).map(lambda s: NOW + timedelta(seconds=s)),
)
providers = st.lists(provider, min_size=1, max_size=len(PROVIDER_IDS)).map(
    lambda ps: tuple(replace(p, id=pid) for pid, p in zip(PROVIDER_IDS, ps, strict=False))
)

supporter = st.builds(
    SupporterState,
    id=st.just(0),
    provider_ids=subset(PROVIDER_IDS + (99,)),
    presence=weighted(("available", 5), ("busy", 1), ("away", 1), ("offline", 1)),
    languages=st.one_of(st.just(frozenset({"fi"})), subset(LANGUAGES)),
    skills=subset(TOPICS),
    capacity=per_channel(weighted((0, 1), (1, 3), (2, 2), (3, 1))),
    load=per_channel(weighted((0, 4), (1, 2), (2, 1))),
    idle_since=st.integers(0, 5).map(ago),
)
supporters = st.lists(supporter, max_size=len(SUPPORTER_IDS)).map(
    lambda ss: tuple(replace(s, id=sid) for sid, s in zip(SUPPORTER_IDS, ss, strict=False))
)

PLACES = [(m, *MUNICIPALITIES[m]) for m in sorted(MUNICIPALITIES)] + [(None, None, None)]
PINS = [(pid, None) for pid in PROVIDER_IDS + (99,)] + [(None, sid) for sid in SUPPORTER_IDS[:3]]


def _contact(place, pin, **fields) -> WaitingContact:
    return WaitingContact(
        id=0,
        municipality=place[0],
        region=place[1],
        development_area=place[2],
        pinned_provider=pin[0],
        pinned_supporter=pin[1],
        **fields,
    )


contact = st.builds(
    _contact,
    place=st.sampled_from(PLACES),
    pin=sometimes(st.sampled_from(PINS), (None, None)),
    channel=st.sampled_from(CHANNELS),
    language=weighted(("fi", 3), ("sv", 1), ("en", 1)),
    topic=st.none() | st.sampled_from(TOPICS),
    priority=st.integers(0, 1),
    waiting_since=st.integers(0, 20).map(ago),
    workflow_id=weighted((1, 3), (2, 1), (3, 2)),
    step_index=st.integers(0, 3),
    step_started_at=st.integers(0, 400).map(ago),
    preferred_supporter=sometimes(st.sampled_from(SUPPORTER_IDS)),
    declined_by=sometimes(subset(SUPPORTER_IDS), frozenset()),
    pending_offer=sometimes(
        st.builds(
            PendingOffer,
            supporter_id=st.sampled_from(SUPPORTER_IDS),
            offered_at=st.integers(0, 60).map(ago),
        )
    ),
)


def snapshots(max_contacts: int = 12) -> st.SearchStrategy[Snapshot]:
    return st.builds(
        lambda contacts, supporters, providers, workflows: Snapshot(
            now=NOW,
            contacts=tuple(replace(c, id=cid) for cid, c in enumerate(contacts, start=1)),
            supporters=supporters,
            providers=providers,
            workflows=workflows,
            handle_time_s=HANDLE,
            offer_timeout_s=OFFER_TIMEOUT,
        ),
        st.lists(contact, max_size=max_contacts),
        supporters,
        providers,
        workflows,
    )


SNAPSHOTS = snapshots()


TWIN_BASES = snapshots(max_contacts=8).filter(lambda s: s.contacts)


@st.composite
def snapshots_with_twins(draw) -> tuple[Snapshot, int, int]:
    """A snapshot plus a contact identical to one of it but for id and waiting time.

    The twin goes anywhere in the tuple, so input order says nothing about
    service order.
    """
    snap = draw(TWIN_BASES)
    original = draw(st.sampled_from(snap.contacts))
    twin = replace(
        original,
        id=1000,
        waiting_since=original.waiting_since + timedelta(seconds=draw(st.integers(-20, 20))),
    )
    at = draw(st.integers(0, len(snap.contacts)))
    contacts = (*snap.contacts[:at], twin, *snap.contacts[at:])
    return replace(snap, contacts=contacts), original.id, twin.id


def _fields(snap: Snapshot) -> dict:
    return {name: getattr(snap, name) for name in Snapshot.__slots__}


# -- the rules, restated one contact at a time --------------------------------------


def service_order(c: WaitingContact) -> tuple:
    return (-c.priority, c.waiting_since, c.id)


def expired(snap: Snapshot, c: WaitingContact) -> bool:
    offer = c.pending_offer
    return offer is not None and (NOW - offer.offered_at).total_seconds() >= OFFER_TIMEOUT


def live_pending(snap: Snapshot, c: WaitingContact) -> bool:
    return c.pending_offer is not None and not expired(snap, c)


def steps_of(snap: Snapshot, c: WaitingContact) -> tuple[Step, ...]:
    return snap.workflows[c.workflow_id].steps


def clamp(snap: Snapshot, c: WaitingContact) -> int:
    return min(c.step_index, len(steps_of(snap, c)) - 1)


def last_reachable(steps: tuple[Step, ...], index: int) -> int:
    while steps[index].timeout_s is not None and index < len(steps) - 1:
        index += 1
    return index


def serves(p: ProviderState, c: WaitingContact, step: Step) -> bool:
    """Could serve at this step, opening hours aside."""
    if c.channel not in p.channels:
        return False
    if step.require_language and c.language not in p.languages:
        return False
    if step.target == "national":
        return p.is_national
    value = {
        "municipality": (c.municipality, p.municipalities),
        "region": (c.region, p.regions),
        "development_area": (c.development_area, p.development_areas),
    }[step.target]
    return value[0] is not None and value[0] in value[1]


def open_providers(snap: Snapshot, c: WaitingContact, step: Step) -> set[int]:
    return {p.id for p in snap.providers if p.is_open and serves(p, c, step)}


def pinned_open(snap: Snapshot, c: WaitingContact) -> set[int]:
    return {
        p.id
        for p in snap.providers
        if p.id == c.pinned_provider and p.is_open and c.channel in p.channels
    }


def effective_step(snap: Snapshot, decision: Decision, c: WaitingContact) -> int:
    for a in decision.advances:
        if a.contact_id == c.id:
            return a.to_step
    return clamp(snap, c)


def blocked_supporters(snap: Snapshot) -> set[int]:
    return {c.pending_offer.supporter_id for c in snap.contacts if expired(snap, c)}


def declined(snap: Snapshot, c: WaitingContact) -> frozenset[int]:
    if expired(snap, c):
        return c.declined_by | {c.pending_offer.supporter_id}
    return c.declined_by


def may_take(snap: Snapshot, decision: Decision, c: WaitingContact, s: SupporterState) -> bool:
    """Rules 3 and 4 without capacity (checked over the whole round)."""
    if s.presence != "available" or s.id in blocked_supporters(snap):
        return False
    if s.id in declined(snap, c):
        return False
    if c.pinned_supporter is not None:
        return s.id == c.pinned_supporter
    if c.pinned_provider is not None:
        return bool(pinned_open(snap, c) & s.provider_ids)
    step = steps_of(snap, c)[effective_step(snap, decision, c)]
    if not open_providers(snap, c, step) & s.provider_ids:
        return False
    if step.require_language and c.language not in s.languages:
        return False
    if step.require_topic and c.topic is not None and c.topic not in s.skills:
        return False
    return True


def reference_closed(snap: Snapshot, c: WaitingContact) -> tuple[bool, datetime | None]:
    if c.pinned_supporter is not None:
        return False, None
    if c.pinned_provider is not None:
        provider = next((p for p in snap.providers if p.id == c.pinned_provider), None)
        if provider is None or c.channel not in provider.channels:
            return True, None
        return not provider.is_open, provider.next_open
    steps = steps_of(snap, c)
    first = clamp(snap, c)
    considered = steps[first : last_reachable(steps, first) + 1]
    if any(open_providers(snap, c, step) for step in considered):
        return False, None
    times = [
        p.next_open
        for step in considered
        for p in snap.providers
        if serves(p, c, step) and p.next_open is not None
    ]
    return True, min(times, default=None)


# -- properties --------------------------------------------------------------------


def check_offers_go_only_to_eligible_supporters_within_capacity(snap, decision):
    contacts = {c.id: c for c in snap.contacts}
    supporters = {s.id: s for s in snap.supporters}
    for offer in decision.offers:
        c, s = contacts[offer.contact_id], supporters[offer.supporter_id]
        assert not live_pending(snap, c)
        assert may_take(snap, decision, c, s), (c, s)

    new = Counter((o.supporter_id, contacts[o.contact_id].channel) for o in decision.offers)
    pending = Counter(
        (c.pending_offer.supporter_id, c.channel) for c in snap.contacts if live_pending(snap, c)
    )
    for (sid, channel), count in new.items():
        s = supporters[sid]
        used = s.load.get(channel, 0) + pending[(sid, channel)] + count
        assert used <= s.capacity.get(channel, 0)


def check_no_free_slot_left_while_an_eligible_contact_waits(snap, decision):
    """Capacity only shrinks during a round, so a greedy round leaves no eligible slot idle."""
    contacts = {c.id: c for c in snap.contacts}
    used = Counter((o.supporter_id, contacts[o.contact_id].channel) for o in decision.offers)
    used.update(
        (c.pending_offer.supporter_id, c.channel) for c in snap.contacts if live_pending(snap, c)
    )
    for p in decision.positions:
        c = contacts[p.contact_id]
        for s in snap.supporters:
            free = s.capacity.get(c.channel, 0) - s.load.get(c.channel, 0) - used[(s.id, c.channel)]
            assert free <= 0 or not may_take(snap, decision, c, s), (c, s)


def check_every_waiting_contact_is_answered_exactly_once(snap, decision):
    offered = [o.contact_id for o in decision.offers]
    positioned = [p.contact_id for p in decision.positions]
    assert len(offered) == len(set(offered))
    assert len(positioned) == len(set(positioned))
    assert not set(offered) & set(positioned)
    advanced = {a.contact_id for a in decision.advances}
    closed = {n.contact_id for n in decision.closed}
    for c in snap.contacts:
        if live_pending(snap, c):
            assert c.id not in set(offered) | set(positioned) | advanced | closed
        else:
            assert (c.id in offered) != (c.id in positioned)
    assert {e.contact_id for e in decision.expirations} == {
        c.id for c in snap.contacts if expired(snap, c)
    }


def check_steps_and_closed_notices(snap, decision):
    closed = {n.contact_id: n.opens_at for n in decision.closed}
    advanced = {a.contact_id: a.to_step for a in decision.advances}
    for c in snap.contacts:
        if live_pending(snap, c):
            continue
        is_closed, opens_at = reference_closed(snap, c)
        assert (c.id in closed) == is_closed, c
        if is_closed:
            assert closed[c.id] == opens_at
        if c.pinned_provider is not None or c.pinned_supporter is not None:
            assert c.id not in advanced
            continue
        steps = steps_of(snap, c)
        first = clamp(snap, c)
        if c.id in advanced:
            assert first < advanced[c.id] <= last_reachable(steps, first)
        final = effective_step(snap, decision, c)
        if not is_closed:
            # Never parked at a step nobody can serve.
            assert open_providers(snap, c, steps[final])
        else:
            assert c.id not in advanced


def later_steps(snap, decision, c) -> list[tuple[float, set[int]]]:
    """Later reachable steps with open providers, each with the longest wait to reach it."""
    if c.pinned_supporter is not None or c.pinned_provider is not None:
        return []
    steps = steps_of(snap, c)
    first = effective_step(snap, decision, c)
    if not open_providers(snap, c, steps[first]):
        return []  # closed
    found, delay = [], 0.0
    for j in range(first + 1, last_reachable(steps, first) + 1):
        delay += steps[j - 1].timeout_s or 0.0
        providers = open_providers(snap, c, steps[j])
        if providers:
            found.append((delay, providers))
    return found


def free_after_round(snap, decision) -> Counter:
    """Free slots per (supporter, channel) of available supporters once the round's offers count."""
    contacts = {c.id: c for c in snap.contacts}
    blocked = blocked_supporters(snap)
    used = Counter((o.supporter_id, contacts[o.contact_id].channel) for o in decision.offers)
    used.update(
        (c.pending_offer.supporter_id, c.channel) for c in snap.contacts if live_pending(snap, c)
    )
    free: Counter = Counter()
    for s in snap.supporters:
        if s.presence != "available" or s.id in blocked:
            continue
        for channel, capacity in s.capacity.items():
            free[(s.id, channel)] = capacity - s.load.get(channel, 0) - used[(s.id, channel)]
    return free


def check_positions_count_the_queue_and_estimate_the_wait(snap, decision):
    contacts = {c.id: c for c in snap.contacts}
    blocked = blocked_supporters(snap)
    seen: Counter = Counter()
    for p in decision.positions:  # listed in service order
        c = contacts[p.contact_id]
        if c.pinned_supporter is not None:
            queue = (c.channel, "supporter", c.pinned_supporter)
            pool = [s for s in snap.supporters if s.id == c.pinned_supporter]
        else:
            if c.pinned_provider is not None:
                providers = pinned_open(snap, c)
            else:
                step = steps_of(snap, c)[effective_step(snap, decision, c)]
                providers = open_providers(snap, c, step)
            queue = (c.channel, frozenset(providers))
            pool = [s for s in snap.supporters if s.provider_ids & providers]
        seen[queue] += 1
        assert p.position == seen[queue]
        servers = sum(
            s.capacity.get(c.channel, 0)
            for s in pool
            if s.presence in ("available", "busy") and s.id not in blocked
        )
        later = later_steps(snap, decision, c)
        if servers == 0 or c.channel not in HANDLE:
            base = None
        else:
            base = round(math.ceil(p.position / servers) * HANDLE[c.channel])
        if not later:
            assert p.estimated_wait_s == base
            continue
        # Later workflow steps can only bound the wait, never lengthen it.
        if base is not None:
            assert p.estimated_wait_s is not None and p.estimated_wait_s <= base
        if p.estimated_wait_s is not None:
            assert p.estimated_wait_s >= 0
        free = free_after_round(snap, decision)
        for most_delay, providers in later:
            if any(
                free[(s.id, c.channel)] > 0 for s in snap.supporters if s.provider_ids & providers
            ):
                # An available supporter at a later step: the wait ends by then at the latest.
                assert p.estimated_wait_s is not None
                assert p.estimated_wait_s <= round(most_delay), (p, most_delay)
                break
    order = [p.contact_id for p in decision.positions]
    assert order == sorted(order, key=lambda cid: service_order(contacts[cid]))


@settings(max_examples=150, deadline=None, database=None)
@given(snapshots_with_twins())
def test_fifo_between_identical_contacts(case):
    snap, first, second = case
    decision = decide(snap)
    offered = {o.contact_id for o in decision.offers}
    positions = {p.contact_id: p.position for p in decision.positions}
    contacts = {c.id: c for c in snap.contacts}
    earlier, later = sorted((first, second), key=lambda cid: service_order(contacts[cid]))
    if later in offered:
        assert earlier in offered
    if earlier in positions and later in positions:
        assert positions[earlier] < positions[later]


def check_deterministic_and_independent_of_input_order(snap, decision, rnd):
    assert decide(snap) == decision
    shuffled = {
        name: tuple(rnd.sample(getattr(snap, name), len(getattr(snap, name))))
        for name in ("contacts", "supporters", "providers")
    }
    assert decide(Snapshot(**{**_fields(snap), **shuffled})) == decision


# Generating a snapshot costs far more than checking it, so one test draws the
# snapshots and runs every check on each.
@settings(max_examples=300, deadline=None, database=None)
@given(SNAPSHOTS, st.randoms(use_true_random=False))
def test_decision_invariants(snap, rnd):
    decision = decide(snap)
    check_offers_go_only_to_eligible_supporters_within_capacity(snap, decision)
    check_no_free_slot_left_while_an_eligible_contact_waits(snap, decision)
    check_every_waiting_contact_is_answered_exactly_once(snap, decision)
    check_steps_and_closed_notices(snap, decision)
    check_positions_count_the_queue_and_estimate_the_wait(snap, decision)
    check_deterministic_and_independent_of_input_order(snap, decision, rnd)


# A contest: one open provider, one step that requires language and topic, and
# contacts competing for a few supporters. Every draw exercises rules 4 and 5.
CONTEST_PROVIDER = ProviderState(
    id=1,
    is_national=False,
    municipalities=frozenset({"Kuopio"}),
    regions=frozenset({"Pohjois-Savo"}),
    development_areas=frozenset({"Kuopio"}),
    channels=frozenset(CHANNELS),
    languages=frozenset(LANGUAGES),
    is_open=True,
)
CONTEST_WORKFLOWS = {1: Workflow(1, (Step("region", True, True, None),))}
contest_contact = st.builds(
    _contact,
    place=st.just(PLACES[0]),
    pin=st.just((None, None)),
    channel=st.sampled_from(CHANNELS),
    language=st.sampled_from(LANGUAGES),
    topic=st.none() | st.sampled_from(TOPICS),
    priority=st.integers(0, 1),
    waiting_since=st.integers(0, 20).map(ago),
    workflow_id=st.just(1),
    step_index=st.just(0),
    step_started_at=st.just(NOW),
    preferred_supporter=sometimes(st.sampled_from(SUPPORTER_IDS)),
    declined_by=sometimes(subset(SUPPORTER_IDS), frozenset()),
    pending_offer=sometimes(
        st.builds(
            PendingOffer,
            supporter_id=st.sampled_from(SUPPORTER_IDS),
            offered_at=st.integers(0, 60).map(ago),
        )
    ),
)
contest_supporter = st.builds(
    SupporterState,
    id=st.just(0),
    provider_ids=weighted((frozenset({1}), 5), (frozenset(), 1)),
    presence=weighted(("available", 5), ("busy", 1), ("away", 1), ("offline", 1)),
    languages=subset(LANGUAGES),
    skills=subset(TOPICS),
    capacity=per_channel(weighted((0, 1), (1, 3), (2, 2), (3, 1))),
    load=per_channel(weighted((0, 4), (1, 2), (2, 1))),
    idle_since=st.integers(0, 5).map(ago),
)
CONTESTS = st.builds(
    lambda contacts, supporters: Snapshot(
        now=NOW,
        contacts=tuple(replace(c, id=cid) for cid, c in enumerate(contacts, start=1)),
        supporters=tuple(
            replace(s, id=sid) for sid, s in zip(SUPPORTER_IDS, supporters, strict=False)
        ),
        providers=(CONTEST_PROVIDER,),
        workflows=CONTEST_WORKFLOWS,
        handle_time_s=HANDLE,
        offer_timeout_s=OFFER_TIMEOUT,
    ),
    st.lists(contest_contact, max_size=12),
    st.lists(contest_supporter, min_size=1, max_size=4),
)


@settings(max_examples=300, deadline=None, database=None)
@given(CONTESTS, st.randoms(use_true_random=False))
def test_contest_for_few_supporters(snap, rnd):
    test_decision_invariants.hypothesis.inner_test(snap, rnd)
