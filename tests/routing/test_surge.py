"""Surges: creating a contact and running a round cost the same whatever the queue length."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from helpdesk.models import Offer
from realtime import events as realtime_events
from routing import services
from routing.workflows import ensure_default_workflows
from tests.factories import make_provider, make_supporter
from tests.routing.test_services import Captured

HELSINKI = "091"


@pytest.fixture
def network(reference_data, settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "100000/minute"
    ensure_default_workflows()
    provider = make_provider(regions=["01"])
    make_provider(is_national=True)
    # Two free chat slots: every round below makes the same two offers.
    for _ in range(2):
        supporter = make_supporter(providers=[provider], capacity_chat=1)
        services.set_presence(supporter=supporter, presence="available")
    return provider


@pytest.fixture
def published():
    captured = Captured()  # runs the on-commit callbacks when the test looks

    def record(batch):
        for group, event in batch:
            realtime_events.check_event(event)
            captured.append((group, event))

    with mock.patch.object(realtime_events, "_deliver", side_effect=record):
        yield captured


def queue(n: int) -> None:
    for _ in range(n):
        services.enqueue_contact(
            channel="chat", language="fi", municipality_code=HELSINKI, topic_slug=None, consent=True
        )


def post(client) -> tuple[int, dict]:
    ip = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    body = {"language": "fi", "municipality": HELSINKI, "consent": True}
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            "/api/contacts/", body, content_type="application/json", REMOTE_ADDR=ip
        )
    assert response.status_code == 201, response.content
    return len(queries), response.json()


# One lookup (municipality, region, workflow...), the contact, its events
# (routing/intake.py), inside one transaction (two savepoint statements in a
# test's transaction).
CREATE_QUERIES = 5


def test_creating_a_contact_does_no_routing_work(client, network, published):
    post(client)  # per-process caches filled
    alone, body = post(client)
    assert alone == CREATE_QUERIES
    # The position comes from the routing round, not from the request.
    assert body["contact"]["position"] is None and body["contact"]["estimated_wait_s"] is None
    queue(40)
    crowded, _ = post(client)
    assert crowded == alone, (alone, crowded)
    assert published.of("queue.changed") == []
    assert published.of("queue.position") == [] and published.of("offer.new") == []
    assert len(published.of("contact.state")) == 43


def round_queries(now) -> int:
    with CaptureQueriesContext(connection) as queries:
        decision = services.dispatch(now=now)
    assert decision is not None and len(decision.offers) == 2
    return len(queries)


def test_a_round_costs_the_same_whatever_the_queue_length(network, published):
    services.dispatch()  # per-process caches (the area index) filled
    queue(5)
    few = round_queries(timezone.now())
    assert few <= 30, few  # a handful of reads, then one write of each kind
    # Both supporters decline: their slots are free again for the next round.
    for offer in Offer.objects.filter(state=Offer.State.PENDING).select_related("supporter"):
        services.decline_offer(offer_id=offer.pk, supporter=offer.supporter)
    queue(60)
    many = round_queries(timezone.now())
    assert many == few, (few, many)
    first_frames = {e["contact"] for _, e in published.of("queue.position")}
    assert len(first_frames) == 65 - 2  # all but the two offered in the last round
