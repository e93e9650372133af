"""routing/lean_abandon.py against routing.services.abandon_contact: the same rows,
events and frames for a waiting or offered contact, in one statement; anything else
is left to the ORM path untouched."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from helpdesk.models import Contact, ContactEvent, Offer
from routing import lean_abandon, services, store
from routing.models import ClosedNotice
from tests.routing.test_services import (  # noqa: F401
    HELSINKI_CODE,
    JOENSUU_CODE,
    enqueue,
    events,
    network,
    online,
)

pytestmark = pytest.mark.django_db


def _pair(municipality, *, offer_to=(), notice=False):
    """Two contacts alike; each offered to its own supporter when asked."""
    pair = [enqueue(municipality, channel="phone"), enqueue(municipality, channel="phone")]
    for contact, supporter in zip(pair, offer_to, strict=False):
        online(supporter)
        assert store.create_offer(
            contact_id=contact.pk,
            supporter_id=supporter.pk,
            from_state=contact.state,
            now=timezone.now(),
        )
    if notice:
        for contact in pair:
            ClosedNotice.objects.create(contact=contact, opens_at=None, notified_at=timezone.now())
    return [Contact.objects.get(pk=c.pk) for c in pair]


def _trail(contact, captured, after_event) -> dict:
    """What abandoning left, with ids that differ between the twins made alike."""
    contact = Contact.objects.get(pk=contact.pk)
    offers = {o.pk: f"offer-{n}" for n, o in enumerate(Offer.objects.filter(contact=contact))}
    names = {str(contact.public_id): "contact", contact.public_id.hex: "contact"}
    for offer in Offer.objects.filter(contact=contact):  # each twin's own supporter
        names[f"supporter.{offer.supporter_id}"] = "supporter.offered"

    def alike(value):
        if isinstance(value, dict):
            return {k: alike(v) for k, v in value.items()}
        if isinstance(value, str):
            for raw, name in names.items():
                value = value.replace(str(raw), name)
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value in offers:
            return offers[value]
        return value

    rows = ContactEvent.objects.filter(contact=contact, pk__gt=after_event).order_by("pk")
    return {
        "contact": (
            contact.state,
            contact.ended_at is not None,
            contact.last_position,
            contact.last_estimated_wait_s,
        ),  # fmt: skip
        "offers": sorted(Offer.objects.filter(contact=contact).values_list("state", flat=True)),
        "notice": ClosedNotice.objects.filter(contact=contact).exists(),
        "events": [
            (e.kind, e.supporter_id is not None, e.provider_id, e.step_index, alike(e.data))
            for e in rows
        ],
        "frames": sorted((alike(group), sorted(alike(event).items())) for group, event in captured),
    }


@pytest.mark.parametrize(
    "municipality, offered, notice",
    [
        (HELSINKI_CODE, False, False),  # waiting in its region's queue
        (JOENSUU_CODE, True, False),  # offered: the offer is withdrawn and its supporter told
        (None, False, True),  # national queue, with a "queue closed" notice
    ],
)
def test_the_lean_path_leaves_what_abandon_contact_leaves(
    network,  # noqa: F811
    events,  # noqa: F811
    municipality,
    offered,
    notice,
):
    supporters = (network.anna, network.ville) if municipality == HELSINKI_CODE else ()
    if offered:
        supporters = (network.pekka, network.kaisa)
    orm, lean = _pair(municipality, offer_to=supporters if offered else (), notice=notice)
    assert orm.state == lean.state == ("offered" if offered else orm.state)
    last = ContactEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    events.flush()
    events.clear()
    events._done = len(connection.run_on_commit)

    services.abandon_contact(public_id=orm.public_id, reason="caller_hung_up")
    events.flush()
    orm_frames = list(events)
    events.clear()
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        assert lean_abandon.abandon_waiting(
            contact=lean, reason="caller_hung_up", now=timezone.now()
        )
    assert len(captured.captured_queries) == 1 + 2  # the statement, within SAVEPOINT/RELEASE
    events.flush()
    lean_frames = list(events)
    assert lean.state == "abandoned"

    orm_trail = _trail(orm, orm_frames, last)
    lean_trail = _trail(lean, lean_frames, last)
    assert orm_trail == lean_trail
    # Not empty on either side: the frames and events were really compared.
    assert orm_trail["contact"][:2] == ("abandoned", True)
    assert any(kind == "abandoned" for kind, *_ in orm_trail["events"])
    assert any(group.startswith("contact") for group, _e in orm_trail["frames"])
    if offered:
        assert orm_trail["offers"] == ["withdrawn"]
        assert [k for k, *_ in orm_trail["events"]] == ["abandoned", "offer_withdrawn"]
        assert any(dict(e)["type"] == "offer.withdrawn" for _g, e in orm_trail["frames"])
    else:
        assert any(dict(e)["type"] == "queue.changed" for _g, e in orm_trail["frames"])


def test_what_the_lean_path_does_not_take_is_left_untouched(network, events):  # noqa: F811
    served, stale = _pair(HELSINKI_CODE)
    online(network.anna)
    services.pick_contact(public_id=served.public_id, supporter=network.anna)
    served.refresh_from_db()
    before = ContactEvent.objects.count()
    now = timezone.now()
    # Someone serves it: the serving supporter's row must be locked first (the ORM path).
    assert not lean_abandon.abandon_waiting(contact=served, reason="x", now=now)
    # The state read is no longer the contact's: nothing changes.
    stale.state = "transferred"
    assert not lean_abandon.abandon_waiting(contact=stale, reason="x", now=now)
    # A contact that is over already.
    served.state = "abandoned"
    assert not lean_abandon.abandon_waiting(contact=served, reason="x", now=now)
    assert ContactEvent.objects.count() == before
    assert Contact.objects.get(pk=served.pk).state == "active"
    assert Contact.objects.get(pk=stale.pk).state == "waiting"


def test_off_postgresql_the_orm_path_does_the_work(network, monkeypatch):  # noqa: F811
    # The statement is PostgreSQL's; the embedded SQLite of `make serve` must not see it.
    waiting, _ = _pair(HELSINKI_CODE)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with CaptureQueriesContext(connection) as queries:
        assert not lean_abandon.abandon_waiting(contact=waiting, reason="x", now=timezone.now())
    assert not queries.captured_queries
    assert Contact.objects.get(pk=waiting.pk).state == "waiting"
