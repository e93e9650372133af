"""The engine shares work between contacts alike; the decision must not show it.

``decide`` works out routes, plans and "nobody left" searches once per kind of
contact rather than once per contact. Giving every contact a workflow of its
own (a copy of the one it had) keeps the rules' answer the same but leaves
nothing to share, so both snapshots must get the same decision.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings

from routing.engine import decide
from routing.types import (
    DEFAULT_STEPS,
    ProviderState,
    Snapshot,
    SupporterState,
    WaitingContact,
    Workflow,
)
from tests.routing.test_engine_properties import (
    CHANNELS,
    HANDLE,
    LANGUAGES,
    MUNICIPALITIES,
    NOW,
    OFFER_TIMEOUT,
    PLACES,
    PRESENCES,
    PROVIDER_IDS,
    TOPICS,
    ago,
    snapshots,
)

_NONE: frozenset[str] = frozenset()

OWN_WORKFLOW_BASE = 10_000


def each_on_its_own(snap: Snapshot) -> Snapshot:
    """Every contact with a private copy of its workflow (a missing one stays missing)."""
    workflows = dict(snap.workflows)
    contacts = []
    for c in snap.contacts:
        workflow = snap.workflows.get(c.workflow_id)
        own = OWN_WORKFLOW_BASE + c.id
        if workflow is not None:
            workflows[own] = Workflow(own, workflow.steps)
        else:
            own = -own  # still unknown: routed by the default steps
        contacts.append(replace(c, workflow_id=own))
    return replace(snap, contacts=tuple(contacts), workflows=workflows)


@settings(max_examples=300, deadline=None, database=None)
@given(snapshots(max_contacts=16))
def test_shared_work_gives_the_decision_of_contacts_routed_alone(snap):
    assert decide(snap) == decide(each_on_its_own(snap))


def crowd(rng: random.Random, contacts: int, supporters: int) -> Snapshot:
    """Many contacts of few kinds against few supporters, on the property tests' network."""
    base = Snapshot(
        now=NOW,
        contacts=(),
        supporters=(),
        providers=tuple(
            ProviderState(
                id=pid,
                is_national=pid == 4,
                municipalities=frozenset(m for m in MUNICIPALITIES if pid != 4 and m < "L")
                if pid % 2
                else frozenset(m for m in MUNICIPALITIES if pid != 4),
                regions=frozenset(r for r, _ in MUNICIPALITIES.values()) if pid != 4 else _NONE,
                development_areas=frozenset(a for _, a in MUNICIPALITIES.values())
                if pid != 4
                else _NONE,
                channels=frozenset(CHANNELS),
                languages=frozenset(rng.sample(LANGUAGES, rng.randint(1, 3))),
                is_open=rng.random() < 0.85,
            )
            for pid in PROVIDER_IDS
        ),
        workflows={1: Workflow(1, DEFAULT_STEPS)},
        handle_time_s=HANDLE,
        offer_timeout_s=OFFER_TIMEOUT,
    )
    staff = tuple(
        SupporterState(
            id=100 + i,
            provider_ids=frozenset(rng.sample(PROVIDER_IDS, rng.randint(1, 2))),
            presence=rng.choice(PRESENCES[:3]),
            languages=frozenset(rng.sample(LANGUAGES, rng.randint(1, 3))),
            skills=frozenset(rng.sample(TOPICS, rng.randint(0, 2))),
            capacity={"chat": rng.randint(1, 3), "phone": 1, "video": rng.randint(0, 1)},
            load={"chat": rng.randint(0, 2)},
            idle_since=ago(rng.randint(0, 600)),
        )
        for i in range(supporters)
    )
    waiting = []
    for cid in range(1, contacts + 1):
        place = rng.choice(PLACES)
        waiting.append(
            WaitingContact(
                id=cid,
                channel=rng.choice(CHANNELS),
                language=rng.choice(LANGUAGES),
                municipality=place[0],
                region=place[1],
                development_area=place[2],
                topic=rng.choice((None, *TOPICS)),
                priority=int(rng.random() < 0.1),
                waiting_since=ago(rng.randint(0, 600)),
                workflow_id=rng.choice((1, 1, 1, 7)),
                step_index=rng.randint(0, 3),
                step_started_at=ago(rng.choice((rng.randint(0, 80), rng.randint(0, 600)))),
                preferred_supporter=100 + rng.randrange(supporters) if rng.random() < 0.1 else None,
                declined_by=frozenset({100 + rng.randrange(supporters)})
                if rng.random() < 0.1
                else frozenset(),
            )
        )
    return replace(base, contacts=tuple(waiting), supporters=staff)


def test_a_crowd_of_alike_contacts_is_decided_as_if_alone():
    # Searches fail and are remembered, routes are shared, later steps bound
    # the estimates, idle supporters are found at later steps.
    rng = random.Random(3)
    offers = positions = 0
    for contacts, supporters in ((40, 10), (120, 30), (300, 10), (300, 60), (1500, 40)) * 4:
        snap = crowd(rng, contacts, supporters)
        decision = decide(snap)
        assert decision == decide(each_on_its_own(snap))
        offers += len(decision.offers)
        positions += len(decision.positions)
    assert offers > 100 and positions > 1000  # the crowds exercise both halves
