"""While PostgreSQL is away, sockets get `unavailable` and stay open; nothing is stored.

The database's absence is simulated at the boundary the consumers use (the
chat store and the database threads raising psycopg's OperationalError, as
they do when PostgreSQL stops); bench/faults.py and tests/bench stop a real
private PostgreSQL.
"""

from unittest import mock

import psycopg
import pytest
from channels.db import database_sync_to_async as adb
from django.conf import settings

from helpdesk.models import Message
from helpdesk.services import messages as message_service
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_pair

pytestmark = [pytest.mark.django_db(transaction=True)]


def _gone(*args, **kwargs):
    raise psycopg.OperationalError("connection failed: server closed the connection")


async def test_frames_are_answered_unavailable_and_the_socket_recovers(ws_app, transactional_db):
    provider, supporter, contact = await adb(make_pair)()
    customer = await customer_client(ws_app, contact)
    with (
        mock.patch.object(message_service, "apost_message", side_effect=_gone),
        mock.patch.object(message_service, "post_message", side_effect=_gone),
    ):
        await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "hei"})
        error = await customer.expect("error")
    assert error["code"] == "unavailable" and error["ref"] == "c1"
    assert await adb(Message.objects.count)() == 0
    # The database is back: the same frame is stored once, on the same socket.
    await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "hei"})
    ack = await customer.expect("message.ack", client_msg_id="c1")
    assert ack["seq"] == 1
    await customer.disconnect()


async def test_opening_a_socket_while_the_database_is_away_says_try_again(ws_app, transactional_db):
    provider, supporter, contact = await adb(make_pair)()
    # A customer's page opens from the loop (helpdesk/db_async.py), or in a
    # database thread where there is no async store: both say try again.
    for async_store in (True, False):
        with (
            mock.patch("helpdesk.db_async.fetchall", side_effect=_gone),
            mock.patch("realtime.consumers.customer._open_contact", side_effect=_gone),
            mock.patch.object(settings, "CHAT_ASYNC_STORE", async_store),
        ):
            customer = await customer_client(ws_app, contact, hello=None)
            frame = await customer.recv()
            assert frame["type"] == "error" and frame["code"] == "unavailable"
            assert await customer.close_code() == 1013
    with mock.patch("realtime.consumers.supporter._open_console", side_effect=_gone):
        console = await supporter_client(ws_app, supporter.user)
        assert (await console.recv())["code"] == "unavailable"
        assert await console.close_code() == 1013
