"""The contact state machine and the database constraints behind 'exactly once'."""

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.models import Assignment, Contact, Message, Offer
from helpdesk.models.contacts import OPEN_STATES, TERMINAL_STATES, TRANSITIONS, can_transition
from helpdesk.tokens import make_contact_token, read_contact_token
from tests.factories import make_provider, make_supporter


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        ("waiting", "offered", True),
        ("offered", "active", True),
        ("offered", "waiting", True),
        ("active", "on_hold", True),
        ("on_hold", "active", True),
        ("active", "transferred", True),
        ("active", "escalated", True),
        ("escalated", "transferred", False),
        ("active", "waiting", False),
        ("ended", "active", False),
        ("abandoned", "waiting", False),
        ("waiting", "on_hold", False),
    ],
)
def test_transitions(old, new, allowed):
    assert can_transition(old, new) is allowed


def test_terminal_states_lead_nowhere_and_every_open_state_can_end():
    for state in TERMINAL_STATES:
        assert TRANSITIONS[state] == frozenset()
    for state in OPEN_STATES:
        assert {"ended", "abandoned"} <= TRANSITIONS[state]


def test_contact_token_round_trip_and_forgery():
    public_id = uuid.uuid4()
    token = make_contact_token(public_id)
    assert read_contact_token(token) == public_id
    assert read_contact_token(token[:-2] + "xx") is None
    assert read_contact_token("") is None
    assert read_contact_token(None) is None
    assert read_contact_token("a" * 1000) is None
    assert read_contact_token(token, max_age=-1) is None


@pytest.mark.django_db
def test_one_pending_offer_and_one_active_assignment_per_contact(reference_data):
    provider = make_provider(regions=["12"])
    a, b = make_supporter(providers=[provider]), make_supporter(providers=[provider])
    contact = Contact.objects.create(channel="chat", language="fi")
    Offer.objects.create(contact=contact, supporter=a)
    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.create(contact=contact, supporter=b)
    now = timezone.now()
    Assignment.objects.create(contact=contact, supporter=a, started_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(contact=contact, supporter=b, started_at=now)
    Assignment.objects.filter(contact=contact).update(ended_at=now)
    Assignment.objects.create(contact=contact, supporter=b, started_at=now)  # after a transfer


@pytest.mark.django_db
def test_message_sequence_and_client_id_are_unique_per_contact():
    contact = Contact.objects.create(channel="chat", language="fi")
    Message.objects.create(contact=contact, seq=1, author_kind="customer", client_msg_id="m1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(contact=contact, seq=1, author_kind="customer", client_msg_id="m2")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(contact=contact, seq=2, author_kind="customer", client_msg_id="m1")
    # System messages carry no client id; many may exist.
    Message.objects.create(contact=contact, seq=3, author_kind="system")
    Message.objects.create(contact=contact, seq=4, author_kind="system")
