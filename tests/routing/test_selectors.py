"""routing.selectors: who sees which waiting contact, and how much of it."""

from __future__ import annotations

import pytest

from helpdesk.models import Offer
from routing import selectors, services
from tests.routing.test_services import (
    HELSINKI_CODE,
    JOENSUU_CODE,
    Network,
    build_network,
    enqueue,
    online,
)


@pytest.fixture
def network(reference_data, settings) -> Network:
    return build_network(settings)


def ids(rows):
    return [row["id"] for row in rows]


def test_queue_is_scoped_to_the_supporters_providers(network):
    helsinki = enqueue(description="secret details")
    joensuu = enqueue(municipality=JOENSUU_CODE)
    unknown = enqueue(municipality=None)
    assert ids(selectors.queue_for_supporter(network.ville)) == [str(helsinki.public_id)]
    assert ids(selectors.queue_for_supporter(network.pekka)) == [str(joensuu.public_id)]
    # Kansalaisneuvonta takes the national first line (municipality unknown),
    # and sees the regional contacts as overflow: its step comes last.
    national = {row["id"]: row for row in selectors.queue_for_supporter(network.kaisa)}
    assert national[str(unknown.public_id)]["overflow"] is False
    assert national[str(helsinki.public_id)]["overflow"] is True


def test_an_idle_supporter_of_a_later_step_sees_and_picks_the_contact(network):
    """Issue 11 item 3: a Joensuu customer writing in English waits first for
    a provider of the municipality that speaks English; the Finnish-only
    Pohjois-Karjala association, at the next step, saw "0 waiting". Now its
    supporter sees the contact (marked overflow) and may pick it."""
    from helpdesk.models import Provider
    from routing.models import StepTarget, Workflow, WorkflowStep
    from tests.factories import make_provider, make_supporter

    Provider.objects.filter(pk=network.karjala.pk).update(languages=["fi"])
    city = make_provider(name="Joensuu city library", municipalities=[JOENSUU_CODE])
    make_supporter(providers=[city], languages=["fi", "en"])
    workflow = Workflow.objects.create(name="Karjala: English speakers first")
    for order, target in enumerate([StepTarget.MUNICIPALITY, StepTarget.REGION]):
        WorkflowStep.objects.create(
            workflow=workflow,
            order=order,
            target=target,
            require_language=order == 0,
            require_topic=False,
            timeout_s=600 if order == 0 else None,
        )
    contact = enqueue(municipality=JOENSUU_CODE, language="en")
    contact.workflow = workflow
    contact.step_index = 0
    contact.save(update_fields=["workflow", "step_index"])
    rows = selectors.queue_for_supporter(network.pekka)
    assert ids(rows) == [str(contact.public_id)]
    assert rows[0]["overflow"] is True
    assert selectors.may_take(contact, network.pekka)
    # Uusimaa is no step of this workflow: still nothing for them.
    assert selectors.queue_for_supporter(network.ville) == []
    online(network.pekka)
    picked = services.pick_contact(public_id=contact.public_id, supporter=network.pekka)
    assert picked.state == "active" and picked.supporter_id == network.pekka.pk


def test_queue_rows_are_pseudonymous_and_ordered(network):
    first = enqueue(description="my bank codes", customer_key="abc")
    callback = enqueue(channel="phone", is_callback=True, callback_number="+358401234567")
    rows = selectors.queue_for_supporter(network.anna)
    assert ids(rows) == [str(callback.public_id), str(first.public_id)]
    for row in rows:
        assert "description" not in row and "callback_number" not in row
        assert "customer_key" not in row
    assert rows[1]["pseudonym"] == first.pseudonym
    assert rows[1]["municipality"] == "Helsinki"


def test_pinned_contacts_only_for_their_target(network):
    contact = enqueue()
    services.pick_contact(public_id=contact.public_id, supporter=network.anna)
    services.transfer_contact(
        public_id=contact.public_id, supporter=network.anna, to_supporter_id=network.sari.pk
    )
    assert ids(selectors.queue_for_supporter(network.sari)) == [str(contact.public_id)]
    assert selectors.queue_for_supporter(network.ville) == []


def test_pending_offers(network):
    online(network.anna)
    contact = enqueue()
    services.dispatch()
    offers = selectors.pending_offers(network.anna)
    assert len(offers) == 1
    assert offers[0]["offer"] == Offer.objects.get(contact=contact).pk
    assert offers[0]["contact"]["id"] == str(contact.public_id) and offers[0]["expires_at"]
    assert selectors.pending_offers(network.ville) == []


def test_summary_hides_callback_number_from_volunteers(network):
    staff_call = enqueue(channel="phone", is_callback=True, callback_number="+358401111111")
    volunteer_call = enqueue(channel="phone", is_callback=True, callback_number="+358402222222")
    services.pick_contact(public_id=staff_call.public_id, supporter=network.anna)
    services.pick_contact(public_id=volunteer_call.public_id, supporter=network.ville)
    staff_call.refresh_from_db()
    volunteer_call.refresh_from_db()
    assert selectors.contact_summary(staff_call, viewer=network.anna)["callback_number"] == (
        "+358401111111"
    )
    assert "callback_number" not in selectors.contact_summary(volunteer_call, viewer=network.ville)
    # Another staff member who does not serve it sees no details either.
    other = selectors.contact_summary(volunteer_call, viewer=network.anna)
    assert "callback_number" not in other and "description" not in other
    customer = selectors.contact_summary(staff_call, viewer=None)
    assert customer["supporter_name"] == network.anna.display_name
    assert "callback_number" not in customer and "pseudonym" not in customer
    assert set(customer) == {
        "id",
        "state",
        "channel",
        "language",
        "topic",
        "position",
        "estimated_wait_s",
        "supporter_name",
        "last_seq",
    }


def test_serving_contacts(network):
    a, b, c = enqueue(), enqueue(), enqueue(municipality=HELSINKI_CODE)
    for contact in (a, b):
        services.pick_contact(public_id=contact.public_id, supporter=network.anna)
    services.pick_contact(public_id=c.public_id, supporter=network.ville)
    assert [x.pk for x in selectors.serving_contacts(network.anna)] == [a.pk, b.pk]
    assert selectors.serving_contact_ids(network.anna) == {
        str(a.public_id): a.pk,
        str(b.public_id): b.pk,
    }
    assert [x.pk for x in selectors.serving_contacts(network.anna, among=[b.pk, c.pk])] == [b.pk]
    services.end_contact(public_id=a.public_id, supporter=network.anna, outcome="solved")
    assert [x.pk for x in selectors.serving_contacts(network.anna)] == [b.pk]
    assert selectors.serving_contact_ids(network.anna) == {str(b.public_id): b.pk}


def test_serving_contacts_come_whole_in_one_query(network, django_assert_num_queries):
    """Built from one compiled read: the same rows as the ORM's, related rows attached."""
    from helpdesk.models import Contact, Topic

    a = enqueue(municipality=HELSINKI_CODE)
    Contact.objects.filter(pk=a.pk).update(topic=Topic.objects.first())
    services.pick_contact(public_id=a.public_id, supporter=network.anna)
    expected = Contact.objects.select_related("municipality", "topic").get(pk=a.pk)
    with django_assert_num_queries(1):
        [contact] = selectors.serving_contacts(network.anna)
        assert contact.supporter is network.anna
        assert (contact.municipality.code, contact.topic.slug) == (
            expected.municipality.code,
            expected.topic.slug,
        )
        # Every field as the ORM reads it (UUIDs, JSON, times converted alike).
        for field in Contact._meta.concrete_fields:
            assert getattr(contact, field.attname) == getattr(expected, field.attname), field


def test_queue_reads_take_who_serves_where_from_the_hint_cache(
    network, django_assert_num_queries, monkeypatch
):
    """A reconnect storm reads the queue many times a second: the providers' areas once."""
    helsinki = enqueue()
    provider_ids = network.ville.providers.values_list("id", flat=True)
    first = selectors.read_queue(list(provider_ids))
    assert [c.pk for c in first.contacts] == [helsinki.pk]
    with django_assert_num_queries(1):  # the contacts, afresh
        again = selectors.read_queue(list(provider_ids))
    assert again.providers == first.providers
    # Waiting contacts are never taken from the cache.
    later = enqueue()
    assert {c.pk for c in selectors.read_queue(list(provider_ids)).contacts} == {
        helsinki.pk,
        later.pk,
    }
    # After HINT_CACHE_S the areas are read again, and an edit shows.
    provider = network.ville.providers.get()
    provider.service_regions.clear()
    monkeypatch.setattr(selectors, "HINT_CACHE_S", 0.0)
    assert selectors.read_queue([provider.pk]).contacts == ()
