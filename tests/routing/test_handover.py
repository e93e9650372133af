"""Warm handover (routing/handover.py): straight from one supporter to another, with
the events of a transfer and a pick, or not at all."""

from __future__ import annotations

import pytest

from helpdesk.models import Assignment, Supporter
from helpdesk.services.errors import Conflict, NotAllowed
from routing import handover
from tests.routing.test_services import events, kinds, network, serve  # noqa: F401

pytestmark = pytest.mark.django_db


def test_handover_moves_the_contact_without_queueing_it(network, events):  # noqa: F811
    contact = serve(network)
    moved = handover.hand_over_contact(
        public_id=contact.public_id, supporter=network.anna, to_supporter=network.sari, note="Kela"
    )
    assert moved.state == "active" and moved.supporter == network.sari
    assert moved.handover_note == "Kela"
    rows = list(Assignment.objects.filter(contact=contact).order_by("pk"))
    assert [(a.supporter_id, a.ended_at is None) for a in rows] == [
        (network.anna.pk, False),
        (network.sari.pk, True),
    ]
    trail = kinds(contact)
    assert trail[-2:] == ["transferred", "picked"]
    assert trail.count("transferred") == 1


def test_handover_through_a_provider(network):  # noqa: F811
    contact = serve(network)
    moved = handover.hand_over_contact(
        public_id=contact.public_id,
        supporter=network.anna,
        to_supporter=network.sari,
        to_provider_id=network.savo.pk,
    )
    assert moved.supporter == network.sari and moved.provider_id == network.savo.pk


def test_a_failed_handover_changes_nothing(network):  # noqa: F811
    contact = serve(network)
    Supporter.objects.filter(pk=network.sari.pk).update(capacity_chat=0)
    network.sari.refresh_from_db()
    with pytest.raises(Conflict):
        handover.hand_over_contact(
            public_id=contact.public_id, supporter=network.anna, to_supporter=network.sari
        )
    with pytest.raises(NotAllowed):  # only the serving supporter hands over
        handover.hand_over_contact(
            public_id=contact.public_id, supporter=network.ville, to_supporter=network.sari
        )
    contact.refresh_from_db()
    assert contact.state == "active" and contact.supporter == network.anna
    assert "transferred" not in kinds(contact)
    assert Assignment.objects.get(contact=contact, ended_at__isnull=True).supporter == network.anna
