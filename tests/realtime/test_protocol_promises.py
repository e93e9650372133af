"""Promises of docs/protocol.md that no other test holds, each checked deterministically.

- no `message.new` on a socket before its `welcome`;
- a resend after a `welcome` that replayed the message (or before `hello`)
  gets an ack without `message`, with the original seq;
- the cap of 120 frames of any kind in 10 s, and the storing limit shared by
  `message.send`, `note.add`, `article.share` and `feedback`;
- the masking notice in the contact's language (fi, sv, en);
- `hello` naming more than 100 contacts is `invalid`;
- `not_allowed` for every contact frame on a contact the supporter does not serve.
"""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async as adb

from helpdesk.models import Feedback, Message
from helpdesk.services import messages as message_service
from realtime.masking import REPLACEMENT
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_contact, make_pair

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pair(reference_data):
    return make_pair()


def _post(contact, cid, body, supporter=None, kind="text"):
    return message_service.post_message(
        contact_id=contact.pk, client_msg_id=cid, body=body, supporter=supporter, kind=kind
    )


def _count(**filters) -> int:
    return Message.objects.filter(**filters).count()


# --- welcome first ---------------------------------------------------------------


async def test_customer_socket_gets_no_message_new_before_its_welcome(ws_app, pair):
    _, supporter, contact = pair
    early = await customer_client(ws_app, contact, hello=None)
    witness = await customer_client(ws_app, contact)  # has said hello: it is notified
    await adb(_post)(contact, "s1", "Hei, autan", supporter)
    # The notification reached the contact's group: the witness shows it.
    assert (await witness.expect("message.new"))["message"]["seq"] == 1
    await early.nothing(0.5)
    await early.send({"type": "hello", "last_seq": 0})
    welcome = await early.expect("welcome")
    assert [m["seq"] for m in welcome["messages"]] == [1]
    await early.nothing()  # and the replayed message is not sent a second time
    assert not [f for f in early.seen if f["type"] == "message.new"]
    for client in (early, witness):
        await client.disconnect()


async def test_console_socket_gets_no_message_new_before_its_welcome(ws_app, pair):
    _, supporter, contact = pair
    early = await supporter_client(ws_app, supporter.user, hello=None)
    witness = await supporter_client(ws_app, supporter.user, hello={})
    await adb(_post)(contact, "c1", "Tarvitsen apua")
    assert (await witness.expect("message.new"))["message"]["seq"] == 1
    await early.nothing(0.5)
    await early.send({"type": "hello", "contacts": {}})
    welcome = await early.expect("welcome")
    assert [m["seq"] for m in welcome["contacts"][0]["messages"]] == [1]
    await early.nothing()
    assert not [f for f in early.seen if f["type"] == "message.new"]
    for client in (early, witness):
        await client.disconnect()


# --- resends -------------------------------------------------------------------------


async def test_resend_after_a_welcome_replay_is_acked_without_the_message(ws_app, pair):
    _, _, contact = pair
    first = await customer_client(ws_app, contact)
    await first.send({"type": "message.send", "client_msg_id": "m1", "body": "Kuuluuko?"})
    assert "message" in await first.expect("message.ack")
    await first.disconnect()

    # The client never saw that ack: it resumes from 0 and the welcome replays seq 1.
    again = await customer_client(ws_app, contact, hello=0)
    assert [m["seq"] for m in again.welcome["messages"]] == [1]
    await again.send({"type": "message.send", "client_msg_id": "m1", "body": "Kuuluuko?"})
    ack = await again.expect("message.ack")
    assert ack["seq"] == 1 and ack["client_msg_id"] == "m1"
    assert "message" not in ack  # the welcome carried it
    await again.nothing()
    assert await adb(_count)(contact=contact) == 1
    await again.disconnect()


async def test_send_before_hello_is_acked_without_the_message(ws_app, pair):
    _, _, contact = pair
    early = await customer_client(ws_app, contact, hello=None)
    await early.send({"type": "message.send", "client_msg_id": "m1", "body": "Hei"})
    ack = await early.expect("message.ack")
    assert ack["seq"] == 1 and "message" not in ack  # the welcome will replay it
    await early.send({"type": "hello", "last_seq": 0})
    assert [m["body"] for m in (await early.expect("welcome"))["messages"]] == ["Hei"]
    await early.disconnect()


# --- rate limits ---------------------------------------------------------------------


async def test_the_121st_frame_in_ten_seconds_is_refused_and_not_acted_on(ws_app, pair):
    _, _, contact = pair
    client = await customer_client(ws_app, contact, hello=None)
    for _ in range(120):
        await client.send({"type": "ping"})
    pongs = [await client.recv() for _ in range(120)]
    assert pongs == [{"type": "pong"}] * 120
    await client.send({"type": "ping"})
    refused = await client.recv()
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    await client.send({"type": "message.send", "client_msg_id": "late", "body": "Hei"})
    assert (await client.recv())["code"] == "rate_limited"
    assert await adb(_count)(contact=contact) == 0
    await client.disconnect()


@pytest.fixture
def article_card(monkeypatch):
    import knowledge.selectors

    card = {"id": 7, "title": "Verokortti", "summary": "s", "url": "/kb/x", "language": "fi"}
    monkeypatch.setattr(knowledge.selectors, "article_card", lambda a, lang: card)
    return card


async def test_notes_and_shared_articles_count_against_the_storing_limit(
    ws_app, pair, settings, article_card
):
    settings.CHAT_RATE_LIMIT = "20/10second"
    _, supporter, contact = pair
    cid = str(contact.public_id)
    console = await supporter_client(ws_app, supporter.user, hello={})
    for n in range(10):
        await console.send(
            {"type": "note.add", "contact": cid, "client_msg_id": f"n{n}", "body": f"muistio {n}"}
        )
        await console.send(
            {"type": "article.share", "contact": cid, "article": 7, "client_msg_id": f"a{n}"}
        )
    acks = [await console.expect("message.ack") for _ in range(20)]
    assert sorted(a["seq"] for a in acks) == list(range(1, 21))
    refused = [
        {"type": "note.add", "contact": cid, "client_msg_id": "n-over", "body": "yli"},
        {"type": "article.share", "contact": cid, "article": 7, "client_msg_id": "a-over"},
        {"type": "message.send", "contact": cid, "client_msg_id": "m-over", "body": "yli"},
    ]
    for frame in refused:
        await console.send(frame)
        error = await console.error("rate_limited")
        assert error["ref"] == frame["client_msg_id"]
        assert "nothing was stored" in error["detail"]
    assert await adb(_count)(contact=contact) == 20
    # Another socket has its own window: the same frames are stored there.
    other = await supporter_client(ws_app, supporter.user, hello={})
    for frame in refused:
        await other.send(frame)
        assert (await other.expect("message.ack"))["client_msg_id"] == frame["client_msg_id"]
    assert await adb(_count)(contact=contact) == 23
    await console.disconnect()
    await other.disconnect()


async def test_feedback_counts_against_the_storing_limit(ws_app, pair, settings):
    settings.CHAT_RATE_LIMIT = "20/10second"
    _, _, contact = pair
    customer = await customer_client(ws_app, contact)
    for n in range(20):
        await customer.send({"type": "message.send", "client_msg_id": f"c{n}", "body": f"{n}"})
    for _ in range(20):
        await customer.expect("message.ack")
    feedback = {"type": "feedback", "rating": 5, "comment": "Kiitos", "can_do_myself": True}
    await customer.send(feedback)
    assert (await customer.error("rate_limited"))["ref"] == "feedback"
    assert not await adb(Feedback.objects.filter(contact_id=contact.pk).exists)()
    fresh = await customer_client(ws_app, contact)
    await fresh.send(feedback)
    await fresh.expect("feedback.ack")
    assert await adb(Feedback.objects.filter(contact_id=contact.pk).count)() == 1
    await customer.disconnect()
    await fresh.disconnect()


# --- masking notice ------------------------------------------------------------------

NOTICE_WORDS = {
    "fi": "kertakäyttöiseltä koodilta",
    "sv": "engångskod",
    "en": "one-time code",
}


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_masking_notice_is_in_the_contacts_language(ws_app, reference_data, language):
    _, _, contact = await adb(make_pair)(language=language)
    customer = await customer_client(ws_app, contact)
    await customer.send(
        {"type": "message.send", "client_msg_id": "m1", "body": "hetu 131052-308T kiitos"}
    )
    ack = await customer.expect("message.ack")
    assert ack["masked"] is True
    assert NOTICE_WORDS[language] in ack["notice"]
    for other, words in NOTICE_WORDS.items():
        if other != language:
            assert words not in ack["notice"]
    assert "131052" not in ack["message"]["body"] and REPLACEMENT in ack["message"]["body"]
    await customer.send({"type": "message.send", "client_msg_id": "m2", "body": "ei numeroita"})
    plain = await customer.expect("message.ack")
    assert plain["masked"] is False and "notice" not in plain
    await customer.disconnect()


# --- hello size and contacts not served ----------------------------------------------


async def test_hello_naming_more_than_100_contacts_is_invalid(ws_app, pair):
    _, supporter, contact = pair
    console = await supporter_client(ws_app, supporter.user)
    exactly = {str(contact.public_id): 0} | {str(uuid.uuid4()): 0 for _ in range(99)}
    await console.send({"type": "hello", "contacts": exactly})
    welcome = await console.expect("welcome")
    assert [c["id"] for c in welcome["contacts"]] == [str(contact.public_id)]
    too_many = exactly | {str(uuid.uuid4()): 0}
    assert len(too_many) == 101
    await console.send({"type": "hello", "contacts": too_many})
    error = await console.recv()
    assert (error["type"], error["code"]) == ("error", "invalid")
    assert "100" in error["detail"]
    await console.nothing()
    await console.disconnect()


def _someone_elses_contact(supporter_provider):
    from tests.factories import make_supporter

    colleague = make_supporter(providers=[supporter_provider], presence="available")
    return make_contact(state="active", supporter=colleague, provider=supporter_provider)


async def test_every_contact_frame_on_a_contact_not_served_is_not_allowed(
    ws_app, pair, article_card
):
    provider, supporter, mine = pair
    theirs = await adb(_someone_elses_contact)(provider)
    cid = str(theirs.public_id)
    console = await supporter_client(ws_app, supporter.user, hello={})
    frames = [
        {"type": "hold", "contact": cid},
        {"type": "resume", "contact": cid},
        {"type": "receipt", "contact": cid, "read_seq": 1},
        {"type": "note.add", "contact": cid, "client_msg_id": "n1", "body": "muistio"},
        {"type": "article.share", "contact": cid, "article": 7, "client_msg_id": "a1"},
        {"type": "message.send", "contact": cid, "client_msg_id": "m1", "body": "hei"},
        {"type": "typing", "contact": cid, "active": True},
        {"type": "contact.end", "contact": cid, "outcome": "solved"},
        {"type": "contact.escalate", "contact": cid, "note": "siirto"},
    ]
    for frame in frames:
        await console.send(frame)
        error = await console.recv()
        assert (error["type"], error["code"]) == ("error", "not_allowed"), frame
        assert error["detail"] == "you do not serve this contact"
    await console.nothing()
    state = await adb(
        lambda: type(theirs).objects.values_list("state", flat=True).get(pk=theirs.pk)
    )()
    assert state == "active"
    assert await adb(_count)(contact=theirs) == 0
    # The same frames on the contact the supporter does serve are carried out.
    await console.send({"type": "hold", "contact": str(mine.public_id)})
    assert (await console.expect("contact.state"))["state"] == "on_hold"
    await console.disconnect()


# --- the closed notice -----------------------------------------------------------------


def _closed_for(contact) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from routing.models import ClosedNotice

    ClosedNotice.objects.create(
        contact=contact,
        opens_at=timezone.now() + timedelta(hours=12),
        notified_at=timezone.now(),
    )


async def test_a_standing_closed_notice_follows_every_welcome(ws_app, reference_data, settings):
    settings.HELP_POINTS_URL = "/near/"
    contact = await adb(make_contact)(state="waiting")
    plain = await customer_client(ws_app, contact)
    await plain.nothing()  # no notice, no frame
    await plain.disconnect()

    await adb(_closed_for)(contact)
    for _ in range(2):  # the first page, then a reload
        customer = await customer_client(ws_app, contact)
        closed = await customer.recv()
        assert closed["type"] == "queue.closed" and closed["contact"] == str(contact.public_id)
        assert closed["help_points_url"] == "/near/?municipality=091"
        assert closed["opens_at"]
        await customer.disconnect()


# --- who sees a callback number ------------------------------------------------------


def _callback_contacts():
    from tests.factories import make_provider, make_supporter

    provider = make_provider(regions=["01"])
    staff = make_supporter(providers=[provider], kind="staff", presence="available")
    volunteer = make_supporter(providers=[provider], kind="volunteer", presence="available")
    extra = {"is_callback": True, "provider": provider}
    make_contact(state="active", supporter=staff, callback_number="+358401111111", **extra)
    make_contact(state="active", supporter=volunteer, callback_number="+358402222222", **extra)
    make_contact(state="waiting", callback_number="+358403333333", **extra)
    return staff, volunteer


async def test_callback_number_reaches_the_serving_staff_member_and_never_a_volunteer(
    ws_app, reference_data
):
    import json

    staff, volunteer = await adb(_callback_contacts)()
    console = await supporter_client(ws_app, staff.user, hello={})
    served = console.welcome["contacts"]
    assert [c["callback_number"] for c in served] == ["+358401111111"]
    await console.disconnect()

    console = await supporter_client(ws_app, volunteer.user, hello={})
    welcome = console.welcome
    assert len(welcome["contacts"]) == 1 and welcome["queue"], welcome
    raw = json.dumps(welcome)
    assert "callback_number" not in raw
    for digits in ("402222222", "403333333", "401111111"):
        assert digits not in raw
    await console.disconnect()
