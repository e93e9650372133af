"""Who helps next: the target a transfer or escalation names, and the waiting helper."""

from __future__ import annotations

import pytest

from realtime import events as realtime_events
from realtime.serializers import customer_contact
from routing import services
from tests.routing.test_services import Network, build_network, enqueue, events, serve  # noqa: F401


@pytest.fixture
def network(reference_data, settings) -> Network:
    return build_network(settings)


def last_state(events, contact):  # noqa: F811
    group = realtime_events.contact_group(contact.public_id)
    return [e for e in events.to(group) if e["type"] == "contact.state"][-1]


def test_transfer_to_provider_names_the_provider(network, events):  # noqa: F811
    contact = serve(network)
    services.transfer_contact(
        public_id=contact.public_id, supporter=network.anna, to_provider_id=network.savo.pk
    )
    event = last_state(events, contact)
    assert event["state"] == "transferred"
    assert event["target"] == {"kind": "provider", "name": "Savo association"}


def test_transfer_to_region_names_the_region_in_the_customers_language(network, events):  # noqa: F811
    contact = serve(network, language="sv")
    services.transfer_contact(
        public_id=contact.public_id, supporter=network.anna, to_region_code="12"
    )
    event = last_state(events, contact)
    assert event["target"]["kind"] == "region"
    from helpdesk.models import Region

    region = Region.objects.get(code="12")
    assert event["target"]["name"] == (region.name_sv or region.name_fi)


def test_transfer_to_a_person_names_only_their_provider(network, events):  # noqa: F811
    contact = serve(network)
    services.transfer_contact(
        public_id=contact.public_id, supporter=network.anna, to_supporter_id=network.pekka.pk
    )
    event = last_state(events, contact)
    assert event["target"] == {"kind": "provider", "name": "Karjala library"}
    assert network.pekka.display_name not in str(event)


def test_escalation_says_national(network, events):  # noqa: F811
    contact = serve(network)
    services.escalate_contact(public_id=contact.public_id, supporter=network.anna, note="Kela")
    event = last_state(events, contact)
    assert event["state"] == "escalated"
    assert event["target"] == {"kind": "national", "name": "Kansalaisneuvonta"}


def test_waiting_customer_is_told_the_region_and_served_one_is_not(network):
    contact = enqueue()
    data = customer_contact(contact)
    assert data["helper"] == {"kind": "region", "name": contact.region.localized_name("fi")}
    served = serve(network)
    assert customer_contact(served)["helper"] is None
