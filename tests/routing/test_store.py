"""routing.store: the compare-and-set writes and the dispatch lock."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from helpdesk.models import Assignment, Contact, Offer
from routing import store
from tests.routing.test_services import Network, build_network, enqueue


@pytest.fixture
def network(reference_data, settings) -> Network:
    return build_network(settings)


def test_transition_is_compare_and_set(network):
    contact = enqueue()
    assert store.transition(contact.pk, ["waiting"], "offered")
    assert not store.transition(contact.pk, ["waiting"], "offered")
    # A transition the state machine forbids is refused whatever the state.
    assert not store.transition(contact.pk, ["offered"], "on_hold")
    assert Contact.objects.get(pk=contact.pk).state == "offered"


def test_one_pending_offer_per_contact(network):
    contact = enqueue()
    now = timezone.now()
    first = store.create_offer(
        contact_id=contact.pk, supporter_id=network.anna.pk, from_state="waiting", now=now
    )
    assert first is not None
    assert (
        store.create_offer(
            contact_id=contact.pk, supporter_id=network.ville.pk, from_state="waiting", now=now
        )
        is None
    )
    # Even bypassing the state check, the database refuses a second pending offer.
    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.create(contact=contact, supporter=network.ville)
    settled = store.settle_offer(offer_id=first, to_state="declined", now=now)
    assert settled is not None and settled.return_state == "waiting"
    assert store.settle_offer(offer_id=first, to_state="expired", now=now) is None
    assert Contact.objects.get(pk=contact.pk).state == "waiting"


def test_one_active_assignment_per_contact(network):
    contact = enqueue()
    now = timezone.now()
    kw = dict(contact_id=contact.pk, provider_id=None, now=now)
    assert store.start_assignment(supporter_id=network.anna.pk, **kw) is not None
    assert store.start_assignment(supporter_id=network.ville.pk, **kw) is None
    # The refused second claim left nothing behind: Anna alone serves the contact.
    serving = Assignment.objects.filter(contact=contact, ended_at__isnull=True)
    assert list(serving.values_list("supporter_id", flat=True)) == [network.anna.pk]
    assert store.overlapping_assignments() == 0
    store.end_assignment(contact_id=contact.pk, now=now)
    assert store.start_assignment(supporter_id=network.ville.pk, **kw) is not None
    assert Assignment.objects.filter(contact=contact).count() == 2
    assert store.overlapping_assignments() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dispatch_lock_is_exclusive(reference_data):
    held, release, seen = threading.Event(), threading.Event(), []

    def holder():
        try:
            with store.dispatch_lock() as got:
                seen.append(("holder", got))
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    with store.dispatch_lock() as got:
        seen.append(("other", got))
    release.set()
    thread.join(10)
    with store.dispatch_lock() as got:
        seen.append(("after", got))
    assert seen == [("holder", True), ("other", False), ("after", True)]
