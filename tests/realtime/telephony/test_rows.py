"""rows.py reads and writes the same rows the ORM does, and only the fields it is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import signals
from django.utils import timezone

from helpdesk.models import Contact, ContactEvent
from realtime.telephony import rows
from realtime.telephony.driver import new_call_sid
from realtime.telephony.models import PhoneCall, Stage
from routing import services as routing

pytestmark = pytest.mark.django_db


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


@pytest.fixture
def call(reference_data):
    contact = routing.enqueue_contact(
        channel="phone", language="sv", municipality_code="167", topic_slug=None, consent=True
    )
    return PhoneCall.objects.create(
        call_sid=new_call_sid(),
        stage=Stage.QUEUED,
        language="sv",
        region_code="12",
        municipality_code="167",
        contact=contact,
        queue_time_s=12,
        last_announced_at=timezone.now() - timedelta(minutes=2),
    )


def test_load_gives_the_row_the_orm_gives(call):
    for lock in (False, True):
        loaded = rows.load(PhoneCall, "call_sid", call.call_sid, lock=lock)
        assert _values(loaded) == _values(PhoneCall.objects.get(pk=call.pk))
        assert not loaded._state.adding and loaded._state.db == "default"
    contact = rows.load(Contact, "id", call.contact_id)
    assert _values(contact) == _values(Contact.objects.get(pk=call.contact_id))
    assert rows.load(PhoneCall, "call_sid", new_call_sid()) is None


def test_update_writes_the_named_fields_and_the_time_only(call):
    before = PhoneCall.objects.get(pk=call.pk)
    PhoneCall.objects.filter(pk=call.pk).update(topic_slug="written-elsewhere")
    call.stage, call.attempt, call.bridge_to = Stage.DONE, 2, "client:not-written"
    rows.update(call, ("stage", "attempt"))
    after = PhoneCall.objects.get(pk=call.pk)
    assert (after.stage, after.attempt) == (Stage.DONE, 2)
    assert after.bridge_to == "" and after.topic_slug == "written-elsewhere"
    assert after.updated_at > before.updated_at and after.updated_at == call.updated_at


def test_insert_writes_the_row_the_orm_writes(call):
    at = timezone.now()
    data = {"call": call.call_sid[-6:], "waited_s": 3, "region": None, "name": "Åsa"}
    rows.insert([ContactEvent(contact_id=call.contact_id, kind="phone_test", at=at, data=data)])
    ContactEvent.objects.create(contact_id=call.contact_id, kind="orm_test", at=at, data=data)
    mine = ContactEvent.objects.get(kind="phone_test")
    orm = ContactEvent.objects.get(kind="orm_test")
    skip = {"id", "kind"}
    assert {k: v for k, v in _values(mine).items() if k not in skip} == {
        k: v for k, v in _values(orm).items() if k not in skip
    }


def test_models_written_here_have_no_save_receivers():
    # rows.py does not send pre_save/post_save: a receiver added later would be skipped.
    for model in (PhoneCall, ContactEvent):
        for signal in (signals.pre_save, signals.post_save):
            assert not signal.has_listeners(model), (model, signal)
