"""The chat store on the event loop (helpdesk/db_async.py, messages.apost_message)."""

import asyncio
from unittest import mock

import pytest
from channels.db import database_sync_to_async as sync_to_async

from helpdesk import db_async
from helpdesk.models import Contact, Message
from helpdesk.services import messages as message_service
from realtime import events
from realtime.consumers import base
from realtime.masking import REPLACEMENT
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_pair

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
]


@pytest.fixture
def ws_app():
    from channels.routing import URLRouter

    from realtime.routing import websocket_urlpatterns

    return URLRouter(websocket_urlpatterns)


@pytest.fixture(autouse=True)
async def close_pool():
    yield
    await db_async.close()


def no_thread_store(**kwargs):
    raise AssertionError("a new message must not need the thread path")


async def test_apost_message_stores_masks_and_returns_the_event():
    _, _, contact = await sync_to_async(make_pair)()
    stored = await message_service.apost_message(
        contact_id=contact.pk, client_msg_id="a1", body="hetu 131052-308T tässä"
    )
    assert stored is not None
    result, collected = stored
    assert (result.seq, result.masked, result.masked_kinds) == (1, True, ("hetu",))
    [(group, event)] = collected
    assert group == events.contact_group(contact.public_id)
    assert event["type"] == "message.new" and event["message"]["seq"] == 1
    assert REPLACEMENT in event["message"]["body"] and "131052" not in event["message"]["body"]
    row = await Message.objects.aget(contact=contact, seq=1)
    assert "131052" not in row.body and row.client_msg_id == "a1"


async def test_apost_message_leaves_resends_and_refusals_to_the_thread_path():
    _, _, contact = await sync_to_async(make_pair)()
    assert await message_service.apost_message(contact_id=contact.pk, client_msg_id="a1", body="x")
    # A resend stores nothing and uses up no number.
    assert (
        await message_service.apost_message(contact_id=contact.pk, client_msg_id="a1", body="x")
        is None
    )
    await Contact.objects.filter(pk=contact.pk).aupdate(state="ended")
    assert (
        await message_service.apost_message(contact_id=contact.pk, client_msg_id="a2", body="y")
        is None
    )
    assert await Message.objects.filter(contact=contact).acount() == 1
    assert (await Contact.objects.aget(pk=contact.pk)).next_seq == 2


async def test_chat_goes_through_the_loop_and_resends_through_a_thread(ws_app, monkeypatch):
    _, supporter, contact = await sync_to_async(make_pair)()
    customer = await customer_client(ws_app, contact)
    console = await supporter_client(ws_app, supporter.user, hello={})
    with monkeypatch.context() as patch:
        patch.setattr(message_service, "post_message", no_thread_store)
        await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "Hei"})
        ack = await customer.expect("message.ack", client_msg_id="c1")
        assert ack["seq"] == 1 and ack["message"]["body"] == "Hei"
        new = await console.expect("message.new")
        assert new["message"]["seq"] == 1
        await console.send(
            {
                "type": "message.send",
                "contact": str(contact.public_id),
                "client_msg_id": "s1",
                "body": "Moi",
            }
        )
        assert (await console.expect("message.ack", client_msg_id="s1"))["seq"] == 2
        assert (await customer.expect("message.new"))["message"]["body"] == "Moi"
    # The resend is acknowledged with its first number by the thread path.
    await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "Hei"})
    again = await customer.expect("message.ack", client_msg_id="c1")
    assert again["seq"] == 1 and "message" not in again
    await console.nothing()
    assert await Message.objects.filter(contact=contact).acount() == 2
    await customer.ws.disconnect()
    await console.ws.disconnect()


async def test_a_refusal_is_explained_by_the_thread_path(ws_app):
    _, _, contact = await sync_to_async(make_pair)()
    customer = await customer_client(ws_app, contact)
    await Contact.objects.filter(pk=contact.pk).aupdate(state="ended")
    await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "Hei"})
    error = await customer.error("conflict")
    assert error["ref"] == "c1"
    await customer.ws.disconnect()


async def test_switched_off_every_store_takes_a_thread(ws_app, settings, monkeypatch):
    settings.CHAT_ASYNC_STORE = False
    assert not db_async.enabled()

    async def no_loop_store(**kwargs):
        raise AssertionError("switched off")

    monkeypatch.setattr(message_service, "apost_message", no_loop_store)
    _, _, contact = await sync_to_async(make_pair)()
    customer = await customer_client(ws_app, contact)
    await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "Hei"})
    assert (await customer.expect("message.ack", client_msg_id="c1"))["seq"] == 1
    await customer.ws.disconnect()


async def test_a_stored_message_is_announced_even_if_the_sender_is_cancelled(monkeypatch):
    stored = asyncio.Event()
    event = ("contact.x", {"type": "message.new"})

    async def slow_store(**kwargs):
        await asyncio.sleep(0.05)
        stored.set()
        return mock.sentinel.result, [event]

    monkeypatch.setattr(message_service, "apost_message", slow_store)
    sent = []
    monkeypatch.setattr(events, "send_in_background", sent.append)
    caller = asyncio.ensure_future(base.post_message(contact_id=1, client_msg_id="c", body="b"))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.wait_for(stored.wait(), 1)
    await asyncio.sleep(0)
    assert sent == [[event]]


async def test_close_closes_this_loops_pool():
    _, _, contact = await sync_to_async(make_pair)()
    await message_service.apost_message(contact_id=contact.pk, client_msg_id="a1", body="x")
    pool = db_async._pools[asyncio.get_running_loop()]
    await db_async.close()
    assert pool.closed and asyncio.get_running_loop() not in db_async._pools
    await db_async.close()  # twice is fine
