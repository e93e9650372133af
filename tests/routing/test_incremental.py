"""routing.incremental: the state a ticker keeps between rounds equals a full read, always.

The equivalence property runs random sequences of what happens to a queue
(contacts arriving and leaving, offers made by this or another process,
declined, accepted, withdrawn, supporters coming and going, memberships
edited) and after each step compares the kept state with ``snapshot.load``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from helpdesk.models import Contact, ContactState, Offer, Supporter, Topic
from routing import services, snapshot, store
from routing.incremental import IncrementalSnapshot
from tests.routing.test_services import (
    HELSINKI_CODE,
    JOENSUU_CODE,
    KUOPIO_CODE,
    enqueue,
    events,  # noqa: F401 - fixture
    network,  # noqa: F401 - fixture
    online,
)


def plain(loaded: snapshot.Loaded) -> dict:
    """Everything a round uses, in an order-free form.

    Handle times are left out: they are a three-hour average measured again at
    each full reload, not state a change has to reach at once.
    """
    snap = loaded.snapshot
    return {
        "contacts": sorted(snap.contacts, key=lambda c: c.id),
        "supporters": sorted(snap.supporters, key=lambda s: s.id),
        "providers": sorted(snap.providers, key=lambda p: p.id),
        "workflows": dict(snap.workflows),
        "offer_timeout_s": snap.offer_timeout_s,
        "infos": {cid: asdict(info) for cid, info in loaded.contacts.items()},
        "pending": loaded.pending_offer_ids,
        "closed": loaded.closed_notices,
        "expired": sorted(loaded.heartbeat_expired),
        "by_area": loaded.providers_by_area,
        "national": loaded.national_providers,
    }


def assert_same(kept: IncrementalSnapshot, steps: list[str] | None = None) -> None:
    now = timezone.now()
    assert plain(kept.load(now=now)) == plain(snapshot.load(now=now)), steps


class Day:
    """Random steps against the real services; ``rng`` decides which and on what."""

    def __init__(self, rng: random.Random, net, kept: IncrementalSnapshot):
        self.rng = rng
        self.network = net
        self.kept = kept
        self.staff = [net.anna, net.ville, net.pekka, net.sari, net.kaisa]

    def pending(self) -> list[Offer]:
        return list(Offer.objects.filter(state=Offer.State.PENDING).select_related("supporter"))

    def in_state(self, *states) -> list[Contact]:
        return list(Contact.objects.filter(state__in=states))

    def step(self) -> str:
        name = self.rng.choice(
            [
                "arrive",
                "arrive",
                "round_here",
                "round_elsewhere",
                "decline",
                "accept",
                "withdraw",
                "abandon",
                "presence",
                "transfer",
                "end",
                "membership",
                "skill",
            ]
        )
        getattr(self, name)()
        return name

    def arrive(self):
        municipality = self.rng.choice([HELSINKI_CODE, JOENSUU_CODE, KUOPIO_CODE, None])
        enqueue(municipality, language=self.rng.choice(["fi", "fi", "sv"]))

    def round_here(self):
        services.dispatch(state=self.kept)

    def round_elsewhere(self):
        services.dispatch()  # another process's round: its writes reach us as changes

    def decline(self):
        offers = self.pending()
        if offers:
            offer = self.rng.choice(offers)
            services.decline_offer(offer_id=offer.pk, supporter=offer.supporter)

    def accept(self):
        offers = self.pending()
        if offers:
            offer = self.rng.choice(offers)
            services.accept_offer(offer_id=offer.pk, supporter=offer.supporter)

    def withdraw(self):
        # An offer withdrawn without touching its contact (the contact is
        # left offered until routing next looks).
        offers = self.pending()
        if offers:
            store.withdraw_pending_offer(
                contact_id=self.rng.choice(offers).contact_id, now=timezone.now()
            )

    def abandon(self):
        queued = self.in_state(ContactState.WAITING, ContactState.OFFERED)
        if queued:
            services.abandon_contact(public_id=self.rng.choice(queued).public_id, reason="left")

    def presence(self):
        supporter = self.rng.choice(self.staff)
        presence = self.rng.choice(["available", "available", "busy", "away", "offline"])
        services.set_presence(supporter=supporter, presence=presence)

    def transfer(self):
        active = list(Contact.objects.filter(state=ContactState.ACTIVE).select_related("supporter"))
        if active:
            contact = self.rng.choice(active)
            target = self.rng.choice([self.network.karjala, self.network.national])
            services.transfer_contact(
                public_id=contact.public_id, supporter=contact.supporter, to_provider_id=target.pk
            )

    def end(self):
        active = list(Contact.objects.filter(state=ContactState.ACTIVE).select_related("supporter"))
        if active:
            contact = self.rng.choice(active)
            services.end_contact(public_id=contact.public_id, supporter=contact.supporter)

    def membership(self):
        supporter = self.rng.choice(self.staff)
        provider = self.rng.choice([self.network.uusimaa, self.network.savo, self.network.national])
        if provider in supporter.providers.all():
            if supporter.providers.count() > 1:
                supporter.providers.remove(provider)
        else:
            supporter.providers.add(provider)

    def skill(self):
        supporter = self.rng.choice(self.staff)
        topic = self.rng.choice(list(Topic.objects.all()[:4]))
        supporter.skills.add(topic)


@pytest.mark.parametrize("seed", range(6))
def test_kept_state_equals_a_full_read_after_any_changes(seed, network, events):  # noqa: F811
    rng = random.Random(seed)
    online(network.anna, network.ville, network.pekka, network.kaisa)
    kept = IncrementalSnapshot(full_every_s=3600)
    assert_same(kept)
    done = []
    for _ in range(40):
        done.append(Day(rng, network, kept).step())
        assert_same(kept, done)
    assert kept.full_loads == 1 and kept.partial_loads >= 40


def test_a_round_reads_only_the_changed_contacts(network, events):  # noqa: F811
    online(network.anna)
    for _ in range(30):
        enqueue(JOENSUU_CODE)  # nobody of Karjala online: they all wait
    kept = IncrementalSnapshot(full_every_s=3600)
    services.dispatch(state=kept)  # reads all 30 and stores their first positions
    read = kept.rows_read
    assert read == 30
    services.dispatch(state=kept)
    # The positions the round stored are kept, not read back.
    assert kept.rows_read == read
    enqueue(JOENSUU_CODE)
    enqueue(KUOPIO_CODE)
    services.dispatch(state=kept)
    assert kept.rows_read == read + 2


def test_positions_stored_by_another_process_are_taken_without_reading_the_rows(
    network,  # noqa: F811
    events,  # noqa: F811
    settings,
):
    settings.ROUTING_POSITION_FRAME_S = 0  # every move is stored at once
    online(network.anna)
    first, *rest = [enqueue(JOENSUU_CODE) for _ in range(20)]  # nobody of Karjala online
    ours = IncrementalSnapshot(full_every_s=3600)
    theirs = IncrementalSnapshot(full_every_s=3600)
    services.dispatch(state=ours)
    read = ours.rows_read
    # The first customer leaves; another process's round, taking its turn,
    # moves everyone behind them up and stores their new positions.
    services.abandon_contact(public_id=first.public_id, reason="left")
    services.dispatch(state=theirs)
    stored = dict(
        Contact.objects.filter(pk__in=[c.pk for c in rest]).values_list("id", "last_position")
    )
    assert sorted(stored.values()) == list(range(1, 20))
    loaded = ours.load(now=timezone.now())
    assert ours.rows_read == read  # nothing a decision uses changed
    assert {cid: loaded.contacts[cid].last_position for cid in stored} == stored
    assert plain(loaded) == plain(snapshot.load(now=timezone.now()))
    # A change that matters to routing is still read.
    Contact.objects.filter(pk=rest[0].pk).update(priority=5)
    ours.load(now=timezone.now())
    assert ours.rows_read == read + 1


def incremental_round_queries(kept) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert services.dispatch(state=kept) is not None
    return len(queries)


# A round in which nothing changed: the savepoint and the dispatch lock, the
# contact versions, pending offers, the configuration fingerprint, supporters
# and closed notices, the release. New or changed contacts add their rows and
# their declines (two queries whatever their number), then the round's writes.
NOTHING_CHANGED_QUERIES = 8
CHANGED_QUERIES = 11


def test_an_incremental_round_costs_the_same_whatever_the_queue_length(network, events):  # noqa: F811
    kept = IncrementalSnapshot(full_every_s=3600)
    services.dispatch(state=kept)  # the full read, and the caches
    enqueue(JOENSUU_CODE)
    few = incremental_round_queries(kept)
    for _ in range(60):
        enqueue(JOENSUU_CODE)
    many = incremental_round_queries(kept)
    assert few == many == CHANGED_QUERIES, (few, many)
    # The positions it stored are kept as written, not read back.
    assert incremental_round_queries(kept) == NOTHING_CHANGED_QUERIES


@pytest.mark.django_db(transaction=True)
def test_a_contact_that_left_through_another_process_is_never_offered(reference_data, settings):
    from tests.routing.test_services import build_network

    net = build_network(settings)
    services.set_presence(supporter=net.pekka, presence="busy")
    contact = enqueue(JOENSUU_CODE)
    kept = IncrementalSnapshot(full_every_s=3600)
    services.dispatch(state=kept)
    assert contact.pk in kept.load(now=timezone.now()).contacts

    def elsewhere():
        try:
            services.abandon_contact(public_id=contact.public_id, reason="left")
        finally:
            connection.close()

    other = threading.Thread(target=elsewhere)
    other.start()
    other.join()
    services.set_presence(supporter=net.pekka, presence="available")
    decision = services.dispatch(state=kept)
    assert decision is not None and decision.offers == ()
    assert contact.pk not in kept.load(now=timezone.now()).contacts
    assert not Offer.objects.filter(contact=contact).exists()
    assert kept.full_loads == 1


def test_an_offer_withdrawn_without_its_contact_is_seen(network, events):  # noqa: F811
    online(network.pekka)
    contact = enqueue(JOENSUU_CODE)
    kept = IncrementalSnapshot(full_every_s=3600)
    services.dispatch(state=kept)
    assert kept.load(now=timezone.now()).pending_offer_ids.keys() == {contact.pk}
    store.withdraw_pending_offer(contact_id=contact.pk, now=timezone.now())
    loaded = kept.load(now=timezone.now())
    assert loaded.pending_offer_ids == {}
    (waiting,) = loaded.snapshot.contacts
    assert waiting.pending_offer is None and waiting.declined_by == {network.pekka.pk}


def test_a_new_membership_is_seen_without_a_full_reload(network, events):  # noqa: F811
    online(network.pekka)
    kept = IncrementalSnapshot(full_every_s=3600)
    kept.load(now=timezone.now())
    network.pekka.providers.add(network.national)
    loaded = kept.load(now=timezone.now())
    pekka = next(s for s in loaded.snapshot.supporters if s.id == network.pekka.pk)
    assert network.national.pk in pekka.provider_ids
    assert kept.full_loads == 1


def test_a_failed_round_forgets_the_kept_state(network, events, monkeypatch):  # noqa: F811
    kept = IncrementalSnapshot(full_every_s=3600)
    services.dispatch(state=kept)
    assert kept.full_loads == 1

    def broken(*args, **kwargs):
        raise RuntimeError("write failed")

    monkeypatch.setattr(services._Apply, "run", broken)
    with pytest.raises(RuntimeError):
        services.dispatch(state=kept)
    monkeypatch.undo()
    services.dispatch(state=kept)
    assert kept.full_loads == 2


def test_supporters_are_read_every_round(network, events):  # noqa: F811
    kept = IncrementalSnapshot(full_every_s=3600)
    kept.load(now=timezone.now())
    Supporter.objects.filter(pk=network.sari.pk).update(presence="available")
    loaded = kept.load(now=timezone.now())
    assert network.sari.pk in {s.id for s in loaded.snapshot.supporters}
