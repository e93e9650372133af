"""The customer's socket: every frame it sends or receives, every error and close code."""

import asyncio
from unittest import mock

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.utils import timezone

from helpdesk.models import Contact, Feedback, Message
from helpdesk.services import messages as message_service
from realtime import events
from realtime.masking import REPLACEMENT
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_pair

pytestmark = [pytest.mark.django_db(transaction=True)]

# The `message` object of message.new, welcome replays and acks (docs/protocol.md).
MESSAGE_KEYS = {"seq", "author", "author_name", "kind", "body", "payload", "created_at"}


@pytest.fixture
def pair(transactional_db):
    # No reference data needed here: the customer's socket does not route.
    return make_pair()


def _post(contact, cid, body, supporter=None, kind="text"):
    return message_service.post_message(
        contact_id=contact.pk, client_msg_id=cid, body=body, supporter=supporter, kind=kind
    )


async def test_refused_without_valid_token(ws_app, pair):
    _, _, contact = pair
    for token in ("", "forged-token", "x" * 600):
        client = await customer_client(ws_app, contact, token=token, hello=None)
        assert await client.close_code() == 4401
        await client.disconnect()


async def test_refused_for_a_deleted_contact(ws_app, pair):
    _, _, contact = pair
    public_id = contact.public_id
    await sync_to_async(Contact.objects.filter(pk=contact.pk).delete)()
    contact.public_id = public_id
    client = await customer_client(ws_app, contact, hello=None)
    assert await client.close_code() == 4404
    await client.disconnect()


async def test_a_customer_socket_opens_from_the_loop_on_postgresql(
    ws_app, pair, monkeypatch, settings
):
    """The opening read is one statement on the async pool: no database thread."""
    from realtime.consumers import customer

    _, _, contact = pair
    in_threads = []
    read_in_thread = customer._open_contact

    def recorded(public_id):
        in_threads.append(public_id)
        return read_in_thread(public_id)

    monkeypatch.setattr(customer, "_open_contact", recorded)
    client = await customer_client(ws_app, contact)
    assert client.welcome["contact"]["id"] == str(contact.public_id)
    await client.disconnect()
    # Refusals are read the same way: a purged contact is 4404.
    await sync_to_async(Contact.objects.filter(pk=contact.pk).update)(purged_at=timezone.now())
    client = await customer_client(ws_app, contact, hello=None)
    assert await client.close_code() == 4404
    await client.disconnect()
    assert in_threads == []
    # Without the async store (SQLite, or turned off) a database thread reads it.
    settings.CHAT_ASYNC_STORE = False
    client = await customer_client(ws_app, contact, hello=None)
    assert await client.close_code() == 4404
    await client.disconnect()
    assert in_threads == [contact.public_id]


async def test_ping_pong_and_welcome_replays_after_last_seq(ws_app, pair):
    _, supporter, contact = pair
    await sync_to_async(_post)(contact, "a", "eka")
    await sync_to_async(_post)(contact, "b", "toka", supporter)
    await sync_to_async(_post)(contact, "n", "sisäinen", supporter, "note")
    await sync_to_async(_post)(contact, "c", "kolmas")
    client = await customer_client(ws_app, contact, hello=1)
    welcome = client.welcome
    assert welcome["contact"]["id"] == str(contact.public_id)
    assert welcome["contact"]["state"] == "active"
    assert welcome["contact"]["supporter_name"] == supporter.display_name
    assert welcome["contact"]["last_seq"] == 4
    assert [m["seq"] for m in welcome["messages"]] == [2, 4]  # no note, nothing <= 1
    assert set(welcome["messages"][0]) == MESSAGE_KEYS
    await client.send({"type": "ping"})
    assert (await client.recv()) == {"type": "pong"}
    await client.disconnect()


STORY_KEYS = {"step", "at", "after_seq", "supporter_name", "target"}


def _story_events(contact, supporter, national):
    """joined, a message, transferred to Pohjois-Karjala, escalated, joined, on hold, ended."""
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.models import ContactEvent

    start = timezone.now() - timedelta(minutes=10)

    def event(minute, kind, **fields):
        ContactEvent.objects.create(
            contact=contact, kind=kind, at=start + timedelta(minutes=minute), **fields
        )

    event(0, "created")
    event(1, "picked", supporter=supporter)
    _post(contact, "a", "eka")  # now: after every event below in time, so move it back
    Message.objects.filter(contact=contact, seq=1).update(created_at=start + timedelta(minutes=2))
    event(3, "transferred", supporter=supporter, data={"to_region": "12"})
    event(4, "offer_declined", supporter=supporter)  # not a step of the story
    event(5, "escalated", supporter=supporter, data={"to_provider": national.pk})
    event(6, "accepted", supporter=supporter)
    event(7, "on_hold", supporter=supporter)
    event(8, "resumed", supporter=supporter)
    event(9, "ended", supporter=supporter)


async def test_a_fresh_welcome_tells_the_story_from_the_events(ws_app, reference_data):
    from tests.factories import make_provider

    _, supporter, contact = await sync_to_async(make_pair)(language="sv")
    national = await sync_to_async(make_provider)(name="Kansalaisneuvonta", is_national=True)
    await sync_to_async(_story_events)(contact, supporter, national)

    client = await customer_client(ws_app, contact, hello=0)
    story = client.welcome["story"]
    assert all(set(entry) == STORY_KEYS for entry in story)
    assert [(e["step"], e["after_seq"]) for e in story] == [
        ("joined", 0),
        ("transferred", 1),
        ("escalated", 1),
        ("joined", 1),
        ("on_hold", 1),
        ("resumed", 1),
        ("ended", 1),
    ]
    name = supporter.display_name
    assert [e["supporter_name"] for e in story] == [name, None, None, name, name, name, name]
    # Named as the live frames name them: the region in the contact's language.
    assert story[1]["target"] == {"kind": "region", "name": "Norra Karelen"}
    assert story[2]["target"] == {"kind": "national", "name": "Kansalaisneuvonta"}
    await client.disconnect()

    # A page that resumes told the story live: no story in its welcome.
    resumed = await customer_client(ws_app, contact, hello=1)
    assert "story" not in resumed.welcome
    await resumed.disconnect()


async def test_send_ack_notify_and_idempotent_resend(ws_app, pair):
    _, supporter, contact = pair
    customer = await customer_client(ws_app, contact)
    other_tab = await customer_client(ws_app, contact)
    console = await supporter_client(ws_app, supporter.user, hello={})
    await customer.send({"type": "message.send", "client_msg_id": "m1", "body": "Hei!"})
    ack = await customer.expect("message.ack")
    message = ack.pop("message")
    assert ack == {
        "type": "message.ack",
        "contact": str(contact.public_id),
        "client_msg_id": "m1",
        "seq": 1,
        "masked": False,
    }
    assert message["seq"] == 1 and message["body"] == "Hei!" and message["author"] == "customer"
    assert set(message) == MESSAGE_KEYS
    new = await console.expect("message.new")
    assert new["contact"] == str(contact.public_id)
    assert new["message"] == message
    # The sender's other tabs need it; the sending socket has it in its ack.
    assert (await other_tab.expect("message.new"))["message"] == message
    await customer.send({"type": "message.send", "client_msg_id": "m1", "body": "Hei!"})
    again = await customer.expect("message.ack")
    assert again["seq"] == 1 and "message" not in again  # this socket has it already
    assert await sync_to_async(Message.objects.filter(contact=contact).count)() == 1
    await console.nothing()
    await customer.nothing()
    await other_tab.nothing()
    for client in (customer, other_tab, console):
        await client.disconnect()


async def test_own_message_is_skipped_when_a_gap_is_filled(ws_app, pair):
    _, supporter, contact = pair
    customer = await customer_client(ws_app, contact)
    group = events.contact_group(contact.public_id)
    # The supporter's seq 1 is stored but its notification is late; the
    # customer's own seq 2 is acknowledged with the message meanwhile.
    with mock.patch.object(events, "_deliver"):
        first = await sync_to_async(_post)(contact, "s1", "Hei", supporter)
    await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "Moi"})
    ack = await customer.expect("message.ack")
    assert ack["seq"] == 2 and ack["message"]["body"] == "Moi"
    # seq 2's own notification arrived: the gap (seq 1) is filled from the
    # database, seq 2 itself is not sent again.
    assert (await customer.expect("message.new"))["message"]["seq"] == 1
    await events.apublish(
        group, {"type": "message.new", "contact": first.contact, "message": first.message}
    )
    await customer.nothing()
    assert [f["message"]["seq"] for f in customer.seen if f["type"] == "message.new"] == [1]
    await customer.disconnect()


async def test_masked_message_acked_with_notice_in_customer_language(ws_app, transactional_db):
    _, supporter, contact = await sync_to_async(make_pair)(language="en")
    customer = await customer_client(ws_app, contact)
    console = await supporter_client(ws_app, supporter.user, hello={})
    await customer.send(
        {"type": "message.send", "client_msg_id": "m1", "body": "card 4111 1111 1111 1111"}
    )
    ack = await customer.expect("message.ack")
    assert ack["masked"] is True
    assert "one-time code" in ack["notice"]
    new = await console.expect("message.new")
    assert "4111" not in new["message"]["body"] and REPLACEMENT in new["message"]["body"]
    assert new["message"]["payload"] == {"masked": ["card"]}
    await customer.disconnect()
    await console.disconnect()


async def test_notes_never_reach_the_customer(ws_app, pair):
    _, supporter, contact = pair
    customer = await customer_client(ws_app, contact)
    await sync_to_async(_post)(contact, "n1", "sisäinen muistiinpano", supporter, "note")
    await sync_to_async(_post)(contact, "s1", "Hei, autan", supporter)
    new = await customer.expect("message.new")
    assert new["message"]["seq"] == 2 and new["message"]["kind"] == "text"
    assert all(f["type"] != "message.new" or f["message"]["kind"] != "note" for f in customer.seen)
    await customer.disconnect()


async def test_gap_is_filled_from_database_and_duplicates_dropped(ws_app, pair):
    _, supporter, contact = pair
    customer = await customer_client(ws_app, contact)
    await customer.nothing()

    def store_silently():
        # Store seq 1-3 without notifications, as if the channel layer lost them.
        for seq in (1, 2, 3):
            Message.objects.create(
                contact=contact, seq=seq, author_kind="supporter", body=f"m{seq}", kind="text"
            )
        Contact.objects.filter(pk=contact.pk).update(next_seq=4)
        return message_service.replay(contact_id=contact.pk, after_seq=2, for_customer=True)

    replay = await sync_to_async(store_silently)()
    group = events.contact_group(contact.public_id)
    third = {
        "type": "message.new",
        "contact": str(contact.public_id),
        "message": replay.messages[0],
    }
    await events.apublish(group, third)
    got = [await customer.expect("message.new") for _ in range(3)]
    assert [f["message"]["seq"] for f in got] == [1, 2, 3]
    await events.apublish(group, third)  # a late duplicate notification
    await customer.nothing()
    await customer.disconnect()


async def test_typing_and_receipts_reach_the_other_side(ws_app, pair):
    _, supporter, contact = pair
    await sync_to_async(_post)(contact, "s1", "Hei", supporter)
    customer = await customer_client(ws_app, contact)
    console = await supporter_client(ws_app, supporter.user, hello={})
    await customer.send({"type": "typing", "active": True})
    typing = await console.expect("typing")
    assert typing == {
        "type": "typing",
        "contact": str(contact.public_id),
        "who": "customer",
        "active": True,
    }
    await customer.send({"type": "receipt", "read_seq": 1})
    receipt = await console.expect("message.receipt")
    assert receipt["who"] == "customer" and receipt["read_seq"] == 1
    assert receipt["delivered_seq"] == 1
    await console.send({"type": "typing", "contact": str(contact.public_id), "active": False})
    assert (await customer.expect("typing"))["who"] == "supporter"
    # nobody is told about their own typing
    assert all(f.get("who") != "supporter" for f in console.seen if f["type"] == "typing")
    await customer.disconnect()
    await console.disconnect()


async def test_queue_frames_are_forwarded(ws_app, transactional_db):
    _, _, contact = await sync_to_async(make_pair)(state="waiting")
    customer = await customer_client(ws_app, contact)
    cid = str(contact.public_id)
    group = events.contact_group(contact.public_id)
    await events.apublish(
        group, {"type": "queue.position", "contact": cid, "position": 2, "estimated_wait_s": 60}
    )
    assert await customer.expect("queue.position") == {
        "type": "queue.position",
        "contact": cid,
        "position": 2,
        "estimated_wait_s": 60,
    }
    await events.apublish(
        group,
        {
            "type": "queue.closed",
            "contact": cid,
            "opens_at": "2026-01-02T08:00:00+02:00",
            "help_points_url": "/apua/",
        },
    )
    closed = await customer.expect("queue.closed")
    assert closed["opens_at"].startswith("2026-01-02") and closed["help_points_url"] == "/apua/"
    # events meant for supporters are not forwarded
    await events.apublish(group, {"type": "suggestions", "contact": cid, "articles": []})
    await customer.nothing()
    await customer.disconnect()


async def test_customer_ends_then_gives_feedback_once(ws_app, pair):
    _, supporter, contact = pair
    customer = await customer_client(ws_app, contact)
    await customer.send({"type": "contact.end"})
    state = await customer.expect("contact.state")
    assert state["state"] == "ended" and state["contact"] == str(contact.public_id)
    await customer.send({"type": "message.send", "client_msg_id": "late", "body": "hei?"})
    assert (await customer.error("conflict"))["ref"] == "late"
    await customer.send(
        {"type": "feedback", "rating": 5, "comment": "Kiitos! 131052-308T", "can_do_myself": True}
    )
    assert await customer.expect("feedback.ack") == {
        "type": "feedback.ack",
        "contact": str(contact.public_id),
    }
    feedback = await sync_to_async(Feedback.objects.get)(contact=contact)
    assert feedback.rating == 5 and feedback.can_do_myself is True
    assert "131052" not in feedback.comment
    await customer.send({"type": "feedback", "rating": 4})
    assert (await customer.error("conflict"))["ref"] == "feedback"
    await customer.disconnect()


async def test_waiting_customer_leaving_is_abandoned(ws_app, reference_data):
    _, _, contact = await sync_to_async(make_pair)(state="waiting")
    customer = await customer_client(ws_app, contact)
    await customer.send({"type": "contact.end"})
    assert (await customer.expect("contact.state"))["state"] == "abandoned"
    await customer.disconnect()


BAD_FRAMES = [
    ("not json", "invalid_json", None),
    ("[1, 2]", "invalid_json", None),
    ('"text"', "invalid_json", None),
    ("{}", "unknown_type", None),
    ('{"type": "offer.accept", "offer": 1}', "unknown_type", "offer.accept"),
    ('{"type": 5}', "unknown_type", None),
    ('{"type": "message.send", "body": "x"}', "invalid", "message.send"),
    ('{"type": "message.send", "client_msg_id": "c", "body": ""}', "invalid", "c"),
    ('{"type": "message.send", "client_msg_id": "c", "body": 5}', "invalid", "c"),
    ('{"type": "message.send", "client_msg_id": 7, "body": "x"}', "invalid", "message.send"),
    ('{"type": "typing", "active": "yes"}', "invalid", "typing"),
    ('{"type": "receipt", "read_seq": -1}', "invalid", "receipt"),
    ('{"type": "receipt", "read_seq": true}', "invalid", "receipt"),
    ('{"type": "hello", "last_seq": "3"}', "invalid", "hello"),
    ('{"type": "feedback", "rating": 6}', "invalid", "feedback"),
    ('{"type": "feedback", "rating": 3, "can_do_myself": "no"}', "invalid", "feedback"),
    (
        '{"type": "message.send", "client_msg_id": "c", "body": "' + "x" * 4001 + '"}',
        "too_large",
        "c",
    ),
    (
        '{"type": "feedback", "rating": 3, "comment": "' + "x" * 2001 + '"}',
        "too_large",
        "feedback",
    ),
    ('{"type": "ping", "pad": "' + "x" * 17000 + '"}', "too_large", None),
]


async def test_bad_frames_get_error_and_socket_stays_open(ws_app, pair):
    _, _, contact = pair
    customer = await customer_client(ws_app, contact)
    for raw, code, ref in BAD_FRAMES:
        await customer.send(raw)
        error = await customer.recv()
        assert (error["type"], error["code"], error["ref"]) == ("error", code, ref), raw[:60]
        assert isinstance(error["detail"], str) and error["detail"]
        await customer.send({"type": "ping"})
        assert await customer.recv() == {"type": "pong"}
    assert await sync_to_async(Message.objects.count)() == 0
    await customer.disconnect()


async def test_binary_frame_is_handled(ws_app, pair):
    _, _, contact = pair
    customer = await customer_client(ws_app, contact)
    await customer.ws.send_to(bytes_data=b"\xff\xfe")
    await customer.error("invalid_json")
    await customer.ws.send_to(bytes_data=b'{"type": "ping"}')
    await customer.expect("pong")
    await customer.disconnect()


async def test_rate_limited_frames_are_not_stored(ws_app, pair, settings):
    settings.CHAT_RATE_LIMIT = "3/10second"
    _, _, contact = pair
    customer = await customer_client(ws_app, contact)
    for i in range(4):
        await customer.send({"type": "message.send", "client_msg_id": f"r{i}", "body": "x"})
    acks = [await customer.expect("message.ack") for _ in range(3)]
    assert [a["seq"] for a in acks] == [1, 2, 3]
    error = await customer.error("rate_limited")
    assert error["ref"] == "r3"
    assert await sync_to_async(Message.objects.count)() == 3
    await customer.disconnect()


async def test_unexpected_error_is_internal_and_socket_survives(ws_app, pair, monkeypatch):
    _, _, contact = pair

    def boom(**kwargs):
        raise RuntimeError("database on fire")

    async def aboom(**kwargs):
        raise RuntimeError("database on fire")

    # Both store paths: from the loop (db_async) and through a DB thread.
    monkeypatch.setattr(message_service, "post_message", boom)
    monkeypatch.setattr(message_service, "apost_message", aboom)
    customer = await customer_client(ws_app, contact)
    await customer.send({"type": "message.send", "client_msg_id": "x1", "body": "hei"})
    error = await customer.error("internal")
    assert error["ref"] == "x1" and "fire" not in error["detail"]
    await customer.send({"type": "ping"})
    await customer.expect("pong")
    await customer.disconnect()


async def test_idle_socket_is_closed_4408(ws_app, pair, settings):
    settings.CHAT_IDLE_TIMEOUT_S = 0.3
    _, _, contact = pair
    customer = await customer_client(ws_app, contact)
    assert await customer.close_code(wait=3) == 4408
    await customer.disconnect()


async def test_pings_keep_socket_open(ws_app, pair, settings):
    settings.CHAT_IDLE_TIMEOUT_S = 0.6
    _, _, contact = pair
    customer = await customer_client(ws_app, contact)
    for _ in range(6):
        await asyncio.sleep(0.2)
        await customer.send({"type": "ping"})
        await customer.expect("pong")
    await customer.disconnect()
