"""Sockets stay live across Redis restarts: publishes are retried, gaps re-read.

A private redis-server on a free port (tests/routing/test_redis_restart.py's
ThrowawayRedis) is killed and started again under real consumers; the
machine's Redis is never touched. Every check is made on sockets that never
reconnect.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async as adb
from channels.layers import channel_layers, get_channel_layer

from helpdesk.services import messages as message_service
from realtime import layer_watch, layers
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_contact, make_pair
from tests.routing.test_redis_restart import ThrowawayRedis

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def private_redis(settings):
    server = ThrowawayRedis()
    server.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.PipelinedPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": server.url, "max_connections": 50}],
                "prefix": "faults",
            },
        }
    }
    channel_layers.backends.clear()
    try:
        yield server
    finally:
        server.kill()
        channel_layers.backends.clear()


def _store(contact, supporter, body: str, client_msg_id: str):
    """A supporter's message stored (and published) from outside the sockets."""
    return message_service.post_message(
        contact_id=contact.pk, client_msg_id=client_msg_id, body=body, supporter=supporter
    )


async def _messages(client, wait: float) -> list[dict]:
    """Every message.new within `wait` seconds (a communicator's timeout would end the app)."""
    deadline = time.monotonic() + wait
    got = []
    while time.monotonic() < deadline:
        if await client.ws.receive_nothing(timeout=0.1):
            continue
        frame = await client.recv()
        if frame["type"] == "message.new":
            got.append(frame["message"])
    return got


async def _restart(server: ThrowawayRedis, down_s: float) -> None:
    server.kill()
    await asyncio.sleep(down_s)
    server.start()


async def test_a_message_stored_across_a_redis_restart_reaches_the_open_socket(
    ws_app, reference_data, private_redis
):
    provider, supporter, contact = await adb(make_pair)()
    customer = await customer_client(ws_app, contact)
    console = await supporter_client(ws_app, supporter.user, hello={})
    await adb(_store)(contact, supporter, "before", "m1")
    assert [m["body"] for m in await _messages(customer, 2)] == ["before"]

    # A quick restart, then a message: the first publish on the pooled
    # connection fails and is retried; the subscription is re-made.
    await _restart(private_redis, 0.2)
    started = time.monotonic()
    await adb(_store)(contact, supporter, "after restart", "m2")
    # A long outage: this message is stored while Redis is away, its publish
    # is given up; the socket re-reads it once Redis answers.
    private_redis.kill()
    await adb(_store)(contact, supporter, "while away", "m3")
    await asyncio.sleep(1.5)
    private_redis.start()
    got = await _messages(customer, 8)
    assert [m["body"] for m in got] == ["after restart", "while away"]
    assert [m["seq"] for m in got] == [2, 3]
    assert time.monotonic() - started < 15

    # Live delivery goes on, each message exactly once, both ways.
    await customer.send({"type": "message.send", "client_msg_id": "c1", "body": "hello again"})
    await customer.expect("message.ack", client_msg_id="c1")
    seen = await _messages(console, 3)
    assert [m["body"] for m in seen if m["author"] == "customer"] == ["hello again"]
    assert await _messages(customer, 1) == []
    await customer.disconnect()
    await console.disconnect()


async def test_an_offer_made_while_redis_is_away_reaches_the_console(
    ws_app, reference_data, private_redis
):
    from routing import services

    provider, supporter, _ = await adb(make_pair)(state="ended")
    console = await supporter_client(ws_app, supporter.user, hello={})
    private_redis.kill()
    contact = await adb(make_contact)(state="waiting")
    await adb(services.dispatch)()
    await asyncio.sleep(layers.RETRY_DELAYS_S[-1])
    private_redis.start()
    offer = await console.expect("offer.new", wait=10)
    assert offer["contact"]["id"] == str(contact.public_id)
    await console.send({"type": "offer.accept", "offer": offer["offer"]})
    assigned = await console.expect("contact.assigned")
    assert assigned["contact"]["id"] == str(contact.public_id)
    await console.disconnect()


async def test_the_watcher_resubscribes_a_dead_subscription(ws_app, reference_data, private_redis):
    provider, supporter, contact = await adb(make_pair)()
    customer = await customer_client(ws_app, contact)
    layer = get_channel_layer()
    shard = layer._get_layer()._shards[0]
    # Redis forgets the subscriptions (as after a restart whose resubscribe
    # was lost) while the client thinks it is still subscribed.
    client = await shard._redis.client_list(_type="pubsub")
    for entry in client:
        await shard._redis.client_kill_filter(_id=entry["id"])
    await adb(_store)(contact, supporter, "after the kill", "k1")
    got = await _messages(customer, 6)
    assert [m["body"] for m in got] == ["after the kill"]
    watcher = layer_watch._watchers[asyncio.get_running_loop()]
    assert watcher.resync_count >= 1
    await customer.disconnect()


async def test_healthz_is_200_as_soon_as_redis_answers_again(private_redis, transactional_db):
    from django.test import AsyncClient

    http = AsyncClient()
    assert (await http.get("/healthz")).status_code == 200
    private_redis.kill()
    assert (await http.get("/healthz")).status_code == 503
    private_redis.start()
    response = await http.get("/healthz")
    assert response.status_code == 200, response.json()
