"""Redis is only a notification path: restarting it loses no waiting contact.

A throwaway redis-server (own port, no persistence) stands in for the real
one, so the machine's Redis is never touched. It is the redis-server of the
installation the test command uses: the one on PATH, else the executable the
Redis at REDIS_URL reports (INFO server). Without either the test fails and
says so: it never skips. Contacts wait, Redis dies and
comes back; every contact and assignment is still in PostgreSQL, routing goes
on while Redis is down, and publishing works again once it is back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from helpdesk.models import Assignment, Contact, Offer
from realtime.events import contact_group, supporter_group
from routing import services
from tests.routing.test_services import HELSINKI_CODE, Network, build_network

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def network(reference_data, settings) -> Network:
    return build_network(settings)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """redis-server from PATH or from the installation serving REDIS_URL."""
    found = shutil.which("redis-server")
    if found:
        return found
    url = os.environ.get("REDIS_URL", "")
    reported = ""
    if url:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=3)
        try:
            reported = str(client.info("server").get("executable") or "")
        finally:
            client.close()
    if reported and os.access(reported, os.X_OK):
        return reported
    pytest.fail(
        "test_redis_restart needs a redis-server binary to start a private Redis on a free port"
        f" (never the shared one): none on PATH, and the Redis at REDIS_URL ({url or 'unset'})"
        f" reports {reported or 'no executable'} that is not runnable here."
        " Install redis-server (Debian: apt-get install redis-server)."
    )


class ThrowawayRedis:
    def __init__(self):
        self.binary = redis_server_binary()
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("throwaway redis did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@pytest.fixture
def redis_server(settings):
    server = ThrowawayRedis()
    server.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.PipelinedPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": server.url, "max_connections": 50}]},
        }
    }
    try:
        yield server
    finally:
        server.kill()


async def _receive(layer, channel: str, kind: str, within: float = 5.0) -> dict | None:
    """The next event of this kind on the channel, skipping others; None on timeout."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(
                layer.receive(channel), timeout=deadline - time.monotonic()
            )
        except TimeoutError:
            return None
        if message["event"]["type"] == kind:
            return message["event"]
    return None


def _enqueue(n: int) -> list[Contact]:
    return [
        services.enqueue_contact(
            channel="chat",
            language="fi",
            municipality_code=HELSINKI_CODE,
            topic_slug=None,
            consent=True,
        )
        for _ in range(n)
    ]


async def test_redis_restart_loses_nothing(network, redis_server):
    layer = get_channel_layer()
    waiting = await sync_to_async(_enqueue)(5)
    watcher = await layer.new_channel()
    await layer.group_add(contact_group(waiting[0].public_id), watcher)
    await sync_to_async(services.dispatch)()
    assert (await _receive(layer, watcher, "queue.position"))["position"] == 1

    redis_server.kill()
    # Redis is down: customers still arrive and routing still runs.
    waiting += await sync_to_async(_enqueue)(3)
    decision = await sync_to_async(services.dispatch)()
    assert decision is not None and len(decision.positions) == 8

    redis_server.start()
    await asyncio.sleep(0.5)
    # Nothing was lost: all eight are still waiting, in order, in the database.
    states = await sync_to_async(
        lambda: list(Contact.objects.order_by("waiting_since").values_list("pk", "state"))
    )()
    assert states == [(c.pk, "waiting") for c in waiting]

    # Publishing recovers: a console that (re)subscribes gets its offer.
    console = await layer.new_channel()
    await layer.group_add(supporter_group(network.anna.pk), console)
    await sync_to_async(services.set_presence)(supporter=network.anna, presence="available")
    await sync_to_async(services.dispatch)()
    offer_event = await _receive(layer, console, "offer.new")
    assert offer_event is not None and offer_event["contact"]["id"] == str(waiting[0].public_id)
    contact = await sync_to_async(services.accept_offer)(
        offer_id=offer_event["offer"], supporter=network.anna
    )
    assert contact.state == "active"

    # A second restart (a worker's channel layer reconnecting again) keeps the assignment.
    redis_server.kill()
    redis_server.start()
    assert (
        await sync_to_async(
            lambda: Assignment.objects.filter(contact=contact, ended_at__isnull=True).count()
        )()
        == 1
    )
    assert await sync_to_async(lambda: Offer.objects.filter(state="pending").count())() == 2
    # The old subscription of the waiting customer's page hears about it again too
    # (redis-py resubscribes after reconnecting); clients that missed events meanwhile
    # re-read their state from the database on reconnect.
    await sync_to_async(services.abandon_contact)(public_id=waiting[0].public_id, reason="test")
    assert await _receive(layer, watcher, "contact.state", within=8) is not None
    await layer.flush()
