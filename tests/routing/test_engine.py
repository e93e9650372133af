"""Table-driven tests of the routing rules in ``routing.engine`` (see its docstring)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from routing.engine import decide, order_key
from routing.types import (
    DEFAULT_STEPS,
    NATIONAL_FIRST_LINE_STEPS,
    Advance,
    ClosedNotice,
    Decision,
    ExpireOffer,
    PendingOffer,
    Position,
    ProviderState,
    Snapshot,
    Step,
    SupporterState,
    WaitingContact,
    Workflow,
)

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
DEFAULT = 1
NATIONAL_FIRST = 2
WORKFLOWS = {
    DEFAULT: Workflow(DEFAULT, DEFAULT_STEPS),
    NATIONAL_FIRST: Workflow(NATIONAL_FIRST, NATIONAL_FIRST_LINE_STEPS),
}
HANDLE = {"chat": 300.0, "phone": 240.0, "video": 600.0}

# The network: Kuopio library (Pohjois-Savo), Mikkeli library (Etelä-Savo,
# same development area), a Vaasa service point (another area) and the
# national line.
KUOPIO, MIKKELI, VAASA, NATIONAL = 1, 2, 3, 9


def at(seconds_ago: float) -> datetime:
    return NOW - timedelta(seconds=seconds_ago)


def provider(
    id: int,
    *,
    open: bool = True,
    next_open: datetime | None = None,
    channels: Iterable[str] = ("chat", "phone", "video"),
    languages: Iterable[str] = ("fi",),
) -> ProviderState:
    areas = {
        KUOPIO: ({"Kuopio", "Iisalmi"}, {"Pohjois-Savo"}, {"Kuopio"}),
        MIKKELI: ({"Mikkeli"}, {"Etelä-Savo"}, {"Kuopio"}),
        VAASA: ({"Vaasa"}, {"Pohjanmaa"}, {"Vaasa"}),
        NATIONAL: (set(), set(), set()),
    }[id]
    return ProviderState(
        id=id,
        is_national=id == NATIONAL,
        municipalities=frozenset(areas[0]),
        regions=frozenset(areas[1]),
        development_areas=frozenset(areas[2]),
        channels=frozenset(channels),
        languages=frozenset(languages),
        is_open=open,
        next_open=next_open,
    )


def network(**overrides: ProviderState) -> tuple[ProviderState, ...]:
    base = {
        "kuopio": provider(KUOPIO, languages=("fi", "sv")),
        "mikkeli": provider(MIKKELI, languages=("fi", "sv")),
        "vaasa": provider(VAASA, languages=("fi", "sv")),
        "national": provider(NATIONAL, languages=("fi", "sv", "en")),
    }
    base.update(overrides)
    return tuple(base.values())


def supporter(
    id: int,
    *,
    providers: Iterable[int] = (KUOPIO,),
    presence: str = "available",
    languages: Iterable[str] = ("fi",),
    skills: Iterable[str] = ("banking", "health"),
    capacity: Mapping[str, int] | None = None,
    load: Mapping[str, int] | None = None,
    idle_s: float = 600,
) -> SupporterState:
    return SupporterState(
        id=id,
        provider_ids=frozenset(providers),
        presence=presence,
        languages=frozenset(languages),
        skills=frozenset(skills),
        capacity={"chat": 1, "phone": 1, "video": 1} if capacity is None else capacity,
        load={} if load is None else load,
        idle_since=at(idle_s),
    )


def contact(
    id: int,
    *,
    channel: str = "chat",
    language: str = "fi",
    municipality: str | None = "Kuopio",
    topic: str | None = None,
    priority: int = 0,
    waited_s: float = 10,
    workflow: int = DEFAULT,
    step: int = 0,
    step_s: float | None = None,
    preferred: int | None = None,
    declined: Iterable[int] = (),
    pending: tuple[int, float] | None = None,
    pinned_provider: int | None = None,
    pinned_supporter: int | None = None,
) -> WaitingContact:
    region, area = {
        "Kuopio": ("Pohjois-Savo", "Kuopio"),
        "Iisalmi": ("Pohjois-Savo", "Kuopio"),
        "Mikkeli": ("Etelä-Savo", "Kuopio"),
        "Vaasa": ("Pohjanmaa", "Vaasa"),
        None: (None, None),
    }[municipality]
    return WaitingContact(
        id=id,
        channel=channel,
        language=language,
        municipality=municipality,
        region=region,
        development_area=area,
        topic=topic,
        priority=priority,
        waiting_since=at(waited_s),
        workflow_id=workflow,
        step_index=step,
        step_started_at=at(waited_s if step_s is None else step_s),
        preferred_supporter=preferred,
        declined_by=frozenset(declined),
        pending_offer=None if pending is None else PendingOffer(pending[0], at(pending[1])),
        pinned_provider=pinned_provider,
        pinned_supporter=pinned_supporter,
    )


def snapshot(
    contacts: Iterable[WaitingContact],
    supporters: Iterable[SupporterState] = (),
    providers: Iterable[ProviderState] | None = None,
    *,
    handle_time: Mapping[str, float] = HANDLE,
    workflows: Mapping[int, Workflow] = WORKFLOWS,
) -> Snapshot:
    return Snapshot(
        now=NOW,
        contacts=tuple(contacts),
        supporters=tuple(supporters),
        providers=network() if providers is None else tuple(providers),
        workflows=workflows,
        handle_time_s=handle_time,
        offer_timeout_s=30,
    )


def offers_of(decision: Decision) -> set[tuple[int, int]]:
    return {(o.contact_id, o.supporter_id) for o in decision.offers}


# -- rule 4: who may be offered a contact ---------------------------------------

ELIGIBILITY = [
    pytest.param([contact(1)], [supporter(7)], None, {(1, 7)}, id="available-offered"),
    pytest.param([contact(1)], [supporter(7, presence="busy")], None, set(), id="busy"),
    pytest.param([contact(1)], [supporter(7, presence="away")], None, set(), id="away"),
    pytest.param([contact(1)], [supporter(7, presence="offline")], None, set(), id="offline"),
    pytest.param([contact(1)], [supporter(7, load={"chat": 1})], None, set(), id="at-capacity"),
    pytest.param([contact(1)], [supporter(7, load={"chat": 3})], None, set(), id="over-capacity"),
    pytest.param(
        [contact(1)],
        [supporter(7, capacity={"phone": 1})],
        None,
        set(),
        id="no-chat-capacity",
    ),
    pytest.param(
        [contact(1, channel="phone")],
        [supporter(7, load={"chat": 1})],
        None,
        {(1, 7)},
        id="load-is-per-channel",
    ),
    pytest.param(
        [contact(1, pending=(7, 5)), contact(2)],
        [supporter(7)],
        None,
        set(),
        id="live-pending-offer-fills-capacity",
    ),
    pytest.param(
        [contact(1)],
        [supporter(7)],
        network(kuopio=provider(KUOPIO, open=False)),
        set(),
        id="provider-closed",
    ),
    pytest.param(
        [contact(1, channel="video")],
        [supporter(7)],
        network(kuopio=provider(KUOPIO, channels=("chat", "phone"))),
        set(),
        id="provider-lacks-channel",
    ),
    pytest.param(
        [contact(1, language="sv")],
        [supporter(7, languages=("fi",))],
        None,
        set(),
        id="supporter-lacks-language",
    ),
    pytest.param(
        [contact(1, language="sv")],
        [supporter(7, languages=("fi", "sv"))],
        None,
        {(1, 7)},
        id="supporter-speaks-language",
    ),
    pytest.param(
        [contact(1, language="sv")],
        [supporter(7, languages=("sv",))],
        network(kuopio=provider(KUOPIO, languages=("fi",))),
        set(),
        id="provider-lacks-language",
    ),
    pytest.param(
        [contact(1, topic="taxes")],
        [supporter(7, skills=("banking",))],
        None,
        set(),
        id="topic-skill-missing",
    ),
    pytest.param(
        [contact(1, topic="taxes")],
        [supporter(7, skills=("taxes",))],
        None,
        {(1, 7)},
        id="topic-skill-present",
    ),
    pytest.param(
        [contact(1, topic=None)],
        [supporter(7, skills=())],
        None,
        {(1, 7)},
        id="no-topic-no-skill-needed",
    ),
    pytest.param(
        [contact(1, topic="taxes", step=1)],
        [supporter(7, skills=())],
        None,
        {(1, 7)},
        id="second-region-step-drops-topic",
    ),
    pytest.param([contact(1, declined=(7,))], [supporter(7)], None, set(), id="declined-before"),
    pytest.param(
        [contact(1)],
        [supporter(7, providers=(MIKKELI,))],
        None,
        set(),
        id="other-region-not-at-region-step",
    ),
    pytest.param(
        [contact(1, step=2)],
        [supporter(7, providers=(MIKKELI,))],
        None,
        {(1, 7)},
        id="same-development-area-at-area-step",
    ),
    pytest.param(
        [contact(1, step=2)],
        [supporter(7, providers=(VAASA,))],
        None,
        set(),
        id="other-development-area",
    ),
    pytest.param(
        [contact(1, step=3, language="en")],
        [supporter(7, providers=(NATIONAL,), languages=("fi",))],
        None,
        {(1, 7)},
        id="national-language-not-required",
    ),
    pytest.param(
        [contact(1, step=3, topic="taxes")],
        [supporter(7, providers=(NATIONAL,), skills=())],
        None,
        {(1, 7)},
        id="national-topic-not-required",
    ),
    pytest.param(
        [contact(1)],
        [supporter(7, providers=(MIKKELI, KUOPIO))],
        None,
        {(1, 7)},
        id="member-of-several-providers",
    ),
]


@pytest.mark.parametrize(("contacts", "supporters", "providers", "expected"), ELIGIBILITY)
def test_who_may_be_offered(contacts, supporters, providers, expected):
    decision = decide(snapshot(contacts, supporters, providers))
    assert offers_of(decision) == expected


# -- rule 5: which supporter, and in which order ----------------------------------

SELECTION = [
    pytest.param(
        [contact(1)],
        [supporter(7, idle_s=60), supporter(8, idle_s=900), supporter(9, idle_s=300)],
        {(1, 8)},
        id="longest-idle",
    ),
    pytest.param(
        [contact(1)],
        [supporter(9, idle_s=300), supporter(8, idle_s=300)],
        {(1, 8)},
        id="idle-tie-lowest-id",
    ),
    pytest.param(
        [contact(1, preferred=7)],
        [supporter(7, idle_s=60), supporter(8, idle_s=900)],
        {(1, 7)},
        id="returning-customer-preferred",
    ),
    pytest.param(
        [contact(1, preferred=7)],
        [supporter(7, presence="away"), supporter(8, idle_s=900)],
        {(1, 8)},
        id="preferred-away",
    ),
    pytest.param(
        [contact(1, preferred=7, language="sv")],
        [supporter(7, idle_s=60), supporter(8, languages=("sv",))],
        {(1, 8)},
        id="preferred-lacks-required-language",
    ),
    pytest.param(
        [contact(1, preferred=7)],
        [supporter(7, providers=(VAASA,)), supporter(8)],
        {(1, 8)},
        id="preferred-of-other-provider",
    ),
    pytest.param(
        [contact(1, preferred=7, declined=(7,))],
        [supporter(7), supporter(8, idle_s=1)],
        {(1, 8)},
        id="preferred-declined",
    ),
    pytest.param(
        [contact(1, step=3, language="sv")],
        [
            supporter(7, providers=(NATIONAL,), languages=("fi",), idle_s=900),
            supporter(8, providers=(NATIONAL,), languages=("fi", "sv"), idle_s=60),
        ],
        {(1, 8)},
        id="national-prefers-speaker",
    ),
    pytest.param(
        [contact(1, step=3, language="sv")],
        [
            supporter(7, providers=(NATIONAL,), languages=("fi",), idle_s=60),
            supporter(8, providers=(NATIONAL,), languages=("en",), idle_s=900),
        ],
        {(1, 8)},
        id="national-no-speaker-longest-idle",
    ),
    pytest.param(
        [contact(1, priority=0, waited_s=300), contact(2, priority=1, waited_s=5)],
        [supporter(7)],
        {(2, 7)},
        id="callback-first",
    ),
    pytest.param(
        [contact(1, waited_s=30), contact(2, waited_s=300), contact(3, waited_s=60)],
        [supporter(7)],
        {(2, 7)},
        id="fifo",
    ),
    pytest.param(
        [contact(2, waited_s=60), contact(1, waited_s=60)],
        [supporter(7)],
        {(1, 7)},
        id="fifo-tie-lowest-id",
    ),
    pytest.param(
        [contact(1, waited_s=30), contact(2, waited_s=20), contact(3, waited_s=10)],
        [supporter(7, capacity={"chat": 2})],
        {(1, 7), (2, 7)},
        id="capacity-counts-same-round-offers",
    ),
    pytest.param(
        [contact(1, waited_s=30), contact(2, waited_s=20)],
        [supporter(7), supporter(8, languages=("sv",))],
        {(1, 7)},
        id="free-slot-elsewhere-does-not-stretch-capacity",
    ),
    pytest.param(
        [contact(1, waited_s=30), contact(2, waited_s=20), contact(3, waited_s=10)],
        [supporter(7, capacity={"chat": 3}, load={"chat": 1}, idle_s=900), supporter(8)],
        {(1, 7), (2, 8), (3, 7)},
        id="idle-order-then-capacity",
    ),
    pytest.param(
        [contact(1, waited_s=30, language="sv"), contact(2, waited_s=20)],
        [supporter(7, languages=("fi",))],
        {(2, 7)},
        id="skip-unservable-head",
    ),
]


@pytest.mark.parametrize(("contacts", "supporters", "expected"), SELECTION)
def test_which_supporter_and_order(contacts, supporters, expected):
    assert offers_of(decide(snapshot(contacts, supporters))) == expected


# -- rules 2 and 3: steps, overflow and fall-through ------------------------------

ADVANCES = [
    pytest.param([contact(1, step_s=89)], None, (), id="step-not-timed-out"),
    pytest.param([contact(1, step_s=90)], None, (Advance(1, 1),), id="region-step-timeout"),
    pytest.param(
        [contact(1, step=1, step_s=120)], None, (Advance(1, 2),), id="second-step-timeout"
    ),
    pytest.param([contact(1, step=2, step_s=180)], None, (Advance(1, 3),), id="area-step-timeout"),
    pytest.param([contact(1, step_s=90 + 120)], None, (Advance(1, 2),), id="catch-up-two-steps"),
    pytest.param([contact(1, step=3, step_s=86400)], None, (), id="terminal-never-advances"),
    pytest.param(
        [contact(1)],
        network(kuopio=provider(KUOPIO, open=False)),
        (Advance(1, 2),),
        id="region-closed-falls-to-area",
    ),
    pytest.param(
        [contact(1)],
        network(
            kuopio=provider(KUOPIO, open=False),
            mikkeli=provider(MIKKELI, open=False),
        ),
        (Advance(1, 3),),
        id="region-and-area-closed-falls-to-national",
    ),
    pytest.param(
        [contact(1, language="en")],
        None,
        (Advance(1, 3),),
        id="language-nowhere-local-falls-to-national",
    ),
    pytest.param(
        [contact(1, channel="video")],
        network(
            kuopio=provider(KUOPIO, channels=("chat",)),
            mikkeli=provider(MIKKELI, channels=("video",)),
        ),
        (Advance(1, 2),),
        id="channel-not-offered-regionally",
    ),
    pytest.param(
        [contact(1, municipality=None)],
        None,
        (Advance(1, 3),),
        id="unknown-municipality-default-workflow-to-national",
    ),
    pytest.param(
        [contact(1, municipality=None, workflow=NATIONAL_FIRST)],
        None,
        (),
        id="unknown-municipality-national-first-line",
    ),
    pytest.param(
        [contact(1, step_s=600, pinned_provider=KUOPIO)], None, (), id="pinned-provider-stays"
    ),
    pytest.param(
        [contact(1, step_s=600, pinned_supporter=7)], None, (), id="pinned-supporter-stays"
    ),
    pytest.param([contact(1, step_s=600, pending=(7, 5))], None, (), id="pending-offer-stays"),
    pytest.param(
        [contact(1, municipality="Vaasa", step_s=600)],
        network(national=provider(NATIONAL, open=False)),
        (Advance(1, 2),),
        id="timeout-stops-at-last-open-step",
    ),
    pytest.param(
        [contact(1, municipality="Vaasa", step=2, step_s=600)],
        network(national=provider(NATIONAL, open=False)),
        (),
        id="timeout-but-nothing-later-open",
    ),
    pytest.param(
        [contact(1)],
        network(
            kuopio=provider(KUOPIO, open=False),
            mikkeli=provider(MIKKELI, open=False),
            national=provider(NATIONAL, open=False),
        ),
        (),
        id="everything-closed-stays",
    ),
]


@pytest.mark.parametrize(("contacts", "providers", "expected"), ADVANCES)
def test_advances(contacts, providers, expected):
    decision = decide(snapshot(contacts, [], providers))
    assert decision.advances == expected


def test_fall_through_offers_at_the_new_step_in_the_same_round():
    decision = decide(
        snapshot(
            [contact(1, municipality=None)],
            [supporter(7), supporter(8, providers=(NATIONAL,))],
        )
    )
    assert decision.advances == (Advance(1, 3),)
    assert offers_of(decision) == {(1, 8)}


def test_timeout_overflows_to_the_development_area():
    kuopio_full = supporter(7, load={"chat": 1})
    mikkeli_free = supporter(8, providers=(MIKKELI,))
    early = decide(snapshot([contact(1, step=1, step_s=100)], [kuopio_full, mikkeli_free]))
    assert offers_of(early) == set()
    late = decide(snapshot([contact(1, step=1, step_s=120)], [kuopio_full, mikkeli_free]))
    assert late.advances == (Advance(1, 2),)
    assert offers_of(late) == {(1, 8)}


PINNED = [
    pytest.param(
        contact(1, pinned_provider=NATIONAL),
        [supporter(7, idle_s=900), supporter(8, providers=(NATIONAL,), idle_s=1)],
        None,
        {(1, 8)},
        id="pinned-provider-only",
    ),
    pytest.param(
        contact(1, pinned_provider=NATIONAL, language="en", topic="taxes"),
        [supporter(8, providers=(NATIONAL,), languages=("fi",), skills=())],
        None,
        {(1, 8)},
        id="pinned-provider-drops-step-requirements",
    ),
    pytest.param(
        contact(1, pinned_provider=NATIONAL),
        [supporter(8, providers=(NATIONAL,))],
        network(national=provider(NATIONAL, open=False)),
        set(),
        id="pinned-provider-closed",
    ),
    pytest.param(
        contact(1, pinned_supporter=8),
        [supporter(7, idle_s=900), supporter(8, idle_s=1)],
        None,
        {(1, 8)},
        id="pinned-supporter-only",
    ),
    pytest.param(
        contact(1, pinned_supporter=8),
        [supporter(7, idle_s=900), supporter(8, presence="away")],
        None,
        set(),
        id="pinned-supporter-away",
    ),
    pytest.param(
        contact(1, pinned_supporter=8),
        [supporter(8, load={"chat": 1})],
        None,
        set(),
        id="pinned-supporter-full",
    ),
    pytest.param(
        contact(1, pinned_supporter=8, pinned_provider=KUOPIO),
        [supporter(7), supporter(8, providers=(VAASA,))],
        None,
        {(1, 8)},
        id="pinned-supporter-wins-over-provider",
    ),
]


@pytest.mark.parametrize(("pinned", "supporters", "providers", "expected"), PINNED)
def test_pinned(pinned, supporters, providers, expected):
    assert offers_of(decide(snapshot([pinned], supporters, providers))) == expected


# -- rule 1: offer expiry ----------------------------------------------------------


def test_expired_offer_is_withdrawn_and_reoffered_elsewhere():
    decision = decide(
        snapshot(
            [contact(1, waited_s=100, pending=(7, 30)), contact(2, waited_s=50)],
            [supporter(7, idle_s=900), supporter(8, idle_s=60)],
        )
    )
    assert decision.expirations == (ExpireOffer(1, 7),)
    # 7 is being set away: nobody is offered to them this round.
    assert offers_of(decision) == {(1, 8)}
    assert [p.contact_id for p in decision.positions] == [2]


def test_live_offer_is_left_alone():
    decision = decide(
        snapshot(
            [contact(1, waited_s=100, pending=(7, 29))],
            [supporter(7), supporter(8)],
        )
    )
    assert decision == Decision()


def test_expired_supporter_is_not_counted_as_a_server():
    decision = decide(snapshot([contact(1, pending=(7, 60))], [supporter(7)]))
    assert decision.expirations == (ExpireOffer(1, 7),)
    assert decision.positions == (Position(1, 1, None),)


# -- rule 6: positions and estimated wait ------------------------------------------


def test_positions_and_estimated_wait():
    busy = [supporter(7, presence="busy"), supporter(8, load={"chat": 1})]
    contacts = [contact(i, waited_s=100 - i) for i in range(1, 6)]
    decision = decide(snapshot(contacts, busy))
    # Two servers of 300 s each: two by two through the queue.
    assert decision.positions == (
        Position(1, 1, 300),
        Position(2, 2, 300),
        Position(3, 3, 600),
        Position(4, 4, 600),
        Position(5, 5, 900),
    )


POSITIONS = [
    pytest.param(
        [contact(1), contact(2, waited_s=5)],
        [supporter(7, presence="away"), supporter(8, presence="offline")],
        HANDLE,
        (Position(1, 1, None), Position(2, 2, None)),
        id="no-servers-no-estimate",
    ),
    pytest.param(
        [contact(1)],
        [supporter(7, presence="busy")],
        {},
        (Position(1, 1, None),),
        id="no-handle-time-no-estimate",
    ),
    pytest.param(
        [contact(1, waited_s=50), contact(2, waited_s=40), contact(3, waited_s=30)],
        [supporter(7)],
        HANDLE,
        (Position(2, 1, 300), Position(3, 2, 600)),
        id="offered-contact-not-ahead",
    ),
    pytest.param(
        [
            contact(1, waited_s=50),
            contact(2, waited_s=40, channel="phone"),
            contact(3, waited_s=30),
            contact(4, waited_s=20, channel="phone"),
        ],
        [supporter(7, presence="busy", capacity={"chat": 2, "phone": 1})],
        HANDLE,
        (Position(1, 1, 300), Position(2, 1, 240), Position(3, 2, 300), Position(4, 2, 480)),
        id="queues-per-channel",
    ),
    pytest.param(
        [contact(1, waited_s=50), contact(2, waited_s=40, municipality="Vaasa")],
        [supporter(7, presence="busy")],
        HANDLE,
        (Position(1, 1, 300), Position(2, 1, None)),
        id="queues-per-provider-set",
    ),
    pytest.param(
        [contact(1, waited_s=50), contact(2, waited_s=10, priority=1)],
        [supporter(7, presence="busy", capacity={"chat": 1}, load={"chat": 1})],
        HANDLE,
        (Position(2, 1, 300), Position(1, 2, 600)),
        id="callbacks-ahead-in-queue",
    ),
]


@pytest.mark.parametrize(("contacts", "supporters", "handle", "expected"), POSITIONS)
def test_positions(contacts, supporters, handle, expected):
    decision = decide(snapshot(contacts, supporters, handle_time=handle))
    assert decision.positions == expected


# -- rule 7: closed notices --------------------------------------------------------

TOMORROW_8 = datetime(2025, 3, 5, 6, 0, tzinfo=UTC)
TODAY_16 = datetime(2025, 3, 4, 14, 0, tzinfo=UTC)
TODAY_12 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)

CLOSED = [
    pytest.param(
        contact(1),
        network(
            kuopio=provider(KUOPIO, open=False, next_open=TOMORROW_8),
            mikkeli=provider(MIKKELI, open=False, next_open=TODAY_16),
            vaasa=provider(VAASA, open=False, next_open=TODAY_12),
            national=provider(NATIONAL, open=False, next_open=None),
        ),
        (ClosedNotice(1, TODAY_16),),
        id="earliest-of-servable-providers",
    ),
    pytest.param(
        contact(1, step=3),
        network(
            kuopio=provider(KUOPIO, open=False, next_open=TODAY_12),
            national=provider(NATIONAL, open=False, next_open=TOMORROW_8),
        ),
        (ClosedNotice(1, TOMORROW_8),),
        id="only-steps-from-current-on",
    ),
    pytest.param(
        contact(1, channel="video"),
        network(
            kuopio=provider(KUOPIO, open=False, next_open=TODAY_16),
            mikkeli=provider(MIKKELI, open=False, next_open=TODAY_12, channels=("chat",)),
            national=provider(NATIONAL, open=False, next_open=TOMORROW_8),
        ),
        (ClosedNotice(1, TODAY_16),),
        id="ignores-providers-without-the-channel",
    ),
    pytest.param(
        contact(1, language="sv"),
        network(
            kuopio=provider(KUOPIO, open=False, next_open=TODAY_12, languages=("fi",)),
            mikkeli=provider(MIKKELI, open=False, next_open=None),
            national=provider(NATIONAL, open=False, next_open=TOMORROW_8),
        ),
        (ClosedNotice(1, TOMORROW_8),),
        id="ignores-providers-without-a-required-language",
    ),
    pytest.param(
        contact(1),
        network(
            kuopio=provider(KUOPIO, open=False),
            mikkeli=provider(MIKKELI, open=False),
            national=provider(NATIONAL, open=False),
        ),
        (ClosedNotice(1, None),),
        id="never-opens",
    ),
    pytest.param(
        contact(1, pinned_provider=VAASA),
        network(vaasa=provider(VAASA, open=False, next_open=TODAY_16)),
        (ClosedNotice(1, TODAY_16),),
        id="pinned-provider-closed",
    ),
    pytest.param(
        contact(1),
        network(
            kuopio=provider(KUOPIO, open=False, next_open=TODAY_16),
            mikkeli=provider(MIKKELI, open=False, next_open=TODAY_16),
        ),
        (),
        id="national-open-not-closed",
    ),
    pytest.param(contact(1, pinned_supporter=7), network(), (), id="pinned-supporter-never"),
]


@pytest.mark.parametrize(("waiting", "providers", "expected"), CLOSED)
def test_closed_notice(waiting, providers, expected):
    decision = decide(snapshot([waiting], [supporter(7, presence="busy")], providers))
    assert decision.closed == expected
    assert decision.offers == ()


# -- robustness -------------------------------------------------------------------


def test_unknown_workflow_uses_default_steps():
    decision = decide(snapshot([contact(1, workflow=99, step_s=90)], [supporter(7)]))
    assert decision.advances == (Advance(1, 1),)
    assert offers_of(decision) == {(1, 7)}


def test_step_index_past_the_end_means_last_step():
    decision = decide(snapshot([contact(1, step=17)], [supporter(8, providers=(NATIONAL,))]))
    assert decision.advances == ()
    assert offers_of(decision) == {(1, 8)}


def test_terminal_step_in_the_middle_ends_the_workflow():
    steps = (
        Step("region", True, False, None),
        Step("national", False, False, None),
    )
    workflows = {DEFAULT: Workflow(DEFAULT, steps)}
    decision = decide(
        snapshot(
            [contact(1, step_s=9999)],
            [supporter(7, presence="busy")],
            workflows=workflows,
        )
    )
    assert decision.advances == ()
    assert decision.positions == (Position(1, 1, 300),)


@pytest.mark.parametrize(
    ("municipality", "expected"),
    [("Iisalmi", {(1, 7)}), ("Kuopio", {(1, 7)}), ("Mikkeli", {(1, 8)}), ("Vaasa", set())],
)
def test_municipality_target(municipality, expected):
    steps = (Step("municipality", True, False, 60), Step("national", False, False, None))
    workflows = {DEFAULT: Workflow(DEFAULT, steps)}
    decision = decide(
        snapshot(
            [contact(1, municipality=municipality)],
            [supporter(7), supporter(8, providers=(MIKKELI,))],
            workflows=workflows,
        )
    )
    assert offers_of(decision) == expected


def test_input_order_does_not_matter():
    contacts = [contact(i, waited_s=i * 7 % 50, priority=i % 2, topic="banking") for i in range(20)]
    supporters = [supporter(100 + i, idle_s=(i * 13) % 40, capacity={"chat": 2}) for i in range(4)]
    forward = decide(snapshot(contacts, supporters))
    backward = decide(snapshot(reversed(contacts), reversed(supporters)))
    assert forward == backward
    assert len(forward.offers) == 8
    assert len(forward.positions) == 12


def test_empty_snapshot():
    assert decide(snapshot([], [])) == Decision()


def test_decision_core_imports_no_framework():
    code = (
        "import sys, routing.engine, routing.availability, routing.simulation\n"
        "loaded = {'django', 'redis', 'asyncio', 'channels'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_order_key_is_the_service_order():
    contacts = [
        contact(1, waited_s=10),
        contact(2, waited_s=50),
        contact(3, waited_s=10, priority=1),
        contact(4, waited_s=50),
        contact(5, waited_s=90, priority=1),
    ]
    decision = decide(snapshot(contacts, [supporter(7, presence="busy")]))
    assert [p.contact_id for p in decision.positions] == [
        c.id for c in sorted(contacts, key=order_key)
    ]
    assert [p.contact_id for p in decision.positions] == [5, 3, 2, 4, 1]


# -- rule 6: later workflow steps bound the wait -------------------------------------


def test_available_supporter_at_a_later_step_bounds_the_wait():
    """A Kuopio contact waits behind a busy local supporter while Mikkeli, the next
    step, has someone free: the estimate is the time left before the overflow."""
    kuopio_busy = supporter(7, presence="busy", load={"chat": 1})
    mikkeli_free = supporter(8, providers=(MIKKELI,))
    steps = DEFAULT_STEPS
    decision = decide(snapshot([contact(1, step=1, step_s=100)], [kuopio_busy, mikkeli_free]))
    assert offers_of(decision) == set()
    left = steps[1].timeout_s - 100
    assert decision.positions == (Position(1, 1, left),)
    assert left < 300  # shorter than one local handle time


def test_later_step_gives_an_estimate_when_the_current_step_has_none():
    kuopio_away = supporter(7, presence="away")
    mikkeli_busy = supporter(8, providers=(MIKKELI,), presence="busy")
    decision = decide(snapshot([contact(1, step=1, step_s=10)], [kuopio_away, mikkeli_busy]))
    left = DEFAULT_STEPS[1].timeout_s - 10
    assert decision.positions == (Position(1, 1, left + 300),)
