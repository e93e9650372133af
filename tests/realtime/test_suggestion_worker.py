"""Suggestions searched by the suggestion worker, outside the ASGI workers.

realtime/suggest_queue.py (the queue and its requests), realtime/suggest_worker.py
(the worker), realtime/consumers/suggestions.py (which path a search takes),
and the whole path over real sockets with `manage.py suggestion_worker`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from channels.db import database_sync_to_async as adb
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import OperationalError
from django.test import Client as HttpClient

from helpdesk.tokens import make_contact_token
from realtime import suggest_queue
from realtime.events import contact_group
from realtime.suggest_worker import SuggestionWorker
from tests import conftest as shared
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_pair

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

CARD = {"id": 1, "title": "Verokortti", "summary": "", "url": "/kb/v", "language": "fi"}


@pytest.fixture
def queue():
    """The test run's queue keys, empty, and no worker marked alive, before and after."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = (suggest_queue.requests_key(), suggest_queue.worker_key())
    client.delete(*keys)
    suggest_queue.forget_worker()
    yield client
    client.delete(*keys)
    suggest_queue.forget_worker()
    client.close()


def request(contact: str | None = None, **changes) -> bytes:
    data = {
        "contact": contact or str(uuid.uuid4()),
        "language": "fi",
        "text": "verokortti",
        "topic": None,
        "at": time.time(),
        **changes,
    }
    return json.dumps(data).encode()


async def listen(contact: str):
    """A channel in the contact's group, as a console socket has."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(contact_group(contact), channel)
    return layer, channel


async def next_event(layer, channel, wait: float = 5.0) -> dict:
    message = await asyncio.wait_for(layer.receive(channel), wait)
    return message["event"]


async def until(predicate, wait: float = 5.0) -> None:
    for _ in range(int(wait / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


# -- the requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b"[" * 100_000,  # too large, and would recurse
        request(contact="not-a-uuid"),
        request(contact=None).replace(b'"contact"', b'"kontakt"'),
        request(language=7),
        request(language="x" * 50),
        request(text=""),
        request(text=["verokortti"]),
        request(text="kuka\udc80"),  # a lone surrogate
        request(topic="../../etc"),
        request(topic=5),
        request(at="now"),
        request(at=True),
        request(at=float("inf")),
    ],
    # Named, not shown: the requests carry a random contact id and the time,
    # and test ids must be the same in every test process.
    ids=[
        "not-json",
        "a-list",
        "a-string",
        "too-large",
        "contact-not-a-uuid",
        "no-contact",
        "language-not-text",
        "language-too-long",
        "text-empty",
        "text-not-text",
        "text-lone-surrogate",
        "topic-a-path",
        "topic-not-text",
        "at-not-a-number",
        "at-a-boolean",
        "at-infinite",
    ],
)
def test_decode_refuses_what_no_consumer_writes(raw):
    with pytest.raises(suggest_queue.BadRequest):
        suggest_queue.decode(raw)


def test_decode_keeps_the_latest_text_of_a_long_conversation():
    contact = str(uuid.uuid4())
    decoded = suggest_queue.decode(
        request(contact=contact.upper(), text="a" * 30_000 + " verokortti", topic="banking")
    )
    assert decoded.contact == contact  # canonical: the form the consoles know
    assert len(decoded.text) == suggest_queue.MAX_TEXT and decoded.text.endswith("verokortti")
    assert decoded.topic == "banking"
    again = suggest_queue.Request(contact, "sv", "hej", None, 12.5)
    assert suggest_queue.decode(again.encode()) == again


# -- the worker, one request at a time ---------------------------------------------


async def test_worker_answers_the_contact_group_and_survives_bad_requests(queue, caplog):
    searched: list[tuple[str, str, str | None]] = []
    broken = {"now": False}

    def search(text, language, topic):
        if broken["now"]:
            raise OperationalError("the database went away")
        searched.append((text, language, topic))
        return [CARD] if "verokortti" in text else []

    worker = SuggestionWorker(search=search, max_age_s=30)
    contact = str(uuid.uuid4())
    layer, channel = await listen(contact)

    with caplog.at_level(logging.WARNING, logger="realtime.suggest_worker"):
        for raw in (
            b"{",
            b"\xff\xfe",
            request(contact="nobody"),
            request(contact, text="salaisuus", topic="../x"),
            b"x" * 200_000,
        ):
            assert await worker.handle(raw) == "invalid"
    # Each is logged with its reason, never with the customer's words.
    assert len(caplog.records) == 5 and "salaisuus" not in caplog.text

    # A contact no socket listens to: published to nobody, nothing breaks.
    assert await worker.handle(request()) == "published"
    assert await worker.handle(request(contact, text="jotain muuta")) == "empty"
    huge = "sana " * 5000 + "verokortti"
    assert await worker.handle(request(contact, text=huge, topic="taxes")) == "published"
    event = await next_event(layer, channel)
    assert event == {"type": "suggestions", "contact": contact, "articles": [CARD]}
    assert len(searched[-1][0]) == suggest_queue.MAX_TEXT and searched[-1][2] == "taxes"

    # The database away: logged, and the next request is served again.
    broken["now"] = True
    assert await worker.handle(request(contact, at=time.time() + 1)) == "failed"
    broken["now"] = False
    assert await worker.handle(request(contact, at=time.time() + 2)) == "published"
    await next_event(layer, channel)

    # Too old, or older than one already answered for the contact: not searched.
    count = len(searched)
    assert await worker.handle(request(contact, at=time.time() - 60)) == "stale"
    assert await worker.handle(request(contact, at=time.time() - 1)) == "superseded"
    assert len(searched) == count
    await layer.group_discard(contact_group(contact), channel)


async def test_worker_loop_takes_queued_requests_newest_first_and_marks_itself(queue):
    seen: list[str] = []

    def search(text, language, topic):
        seen.append(text)
        return [CARD]

    contact = str(uuid.uuid4())
    layer, channel = await listen(contact)
    queue.lpush(suggest_queue.requests_key(), b"garbage")
    queue.lpush(suggest_queue.requests_key(), request(contact, text="vanha", at=time.time() - 5))
    queue.lpush(suggest_queue.requests_key(), request(contact, text="uusi"))
    worker = SuggestionWorker(search=search)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    event = await next_event(layer, channel)
    assert event["contact"] == contact
    await until(lambda: sum(worker.counts.values()) >= 3)
    # The newest first; the older one for the same contact is not searched after it.
    assert seen == ["uusi"]
    assert worker.counts == {"published": 1, "superseded": 1, "invalid": 1}
    assert queue.get(suggest_queue.worker_key()) == worker.name.encode()
    assert await suggest_queue.worker_alive()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert queue.get(suggest_queue.worker_key()) is None  # a clean stop unmarks at once
    await layer.group_discard(contact_group(contact), channel)


async def test_worker_waits_out_redis_being_away(queue, settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{shared.free_port()}/0"  # nothing listens there
    worker = SuggestionWorker(search=lambda *_: [CARD])
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="realtime.suggest_worker"):
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(1.2)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 10)
    assert "suggestion queue unreachable" in caplog.text


# -- which path a consumer's search takes ----------------------------------------


@pytest.fixture
def counted_search(monkeypatch):
    import knowledge.services

    calls = []

    def suggest(*, text, language, limit=3, topic=None):
        calls.append(text)
        return [CARD]

    monkeypatch.setattr(knowledge.services, "suggest_articles", suggest)
    return calls


async def test_with_a_worker_alive_the_consumer_only_queues(ws_app, queue, counted_search):
    _, supporter, contact = await adb(make_pair)()
    queue.set(suggest_queue.worker_key(), "elsewhere:1", ex=30)
    console = await supporter_client(ws_app, supporter.user, hello={})
    customer = await customer_client(ws_app, contact)
    await customer.send({"type": "message.send", "client_msg_id": "a", "body": "verokortti"})
    await customer.expect("message.ack")
    await until(lambda: queue.llen(suggest_queue.requests_key()))
    queued = suggest_queue.decode(queue.lindex(suggest_queue.requests_key(), 0))
    assert (queued.contact, queued.text, queued.language) == (
        str(contact.public_id),
        "verokortti",
        contact.language,
    )
    assert counted_search == []  # nothing searched in this process
    assert all(f["type"] != "suggestions" for f in await console.drain())
    await console.disconnect()
    await customer.disconnect()


async def test_without_a_worker_and_without_the_fallback_nothing_is_searched(
    ws_app, queue, counted_search, settings
):
    settings.CHAT_SUGGEST_FALLBACK = False
    _, supporter, contact = await adb(make_pair)()
    console = await supporter_client(ws_app, supporter.user, hello={})
    customer = await customer_client(ws_app, contact)
    await customer.send({"type": "message.send", "client_msg_id": "a", "body": "verokortti"})
    await customer.expect("message.ack")
    assert all(f["type"] != "suggestions" for f in await console.drain(wait=0.6))
    assert counted_search == [] and not queue.llen(suggest_queue.requests_key())
    await console.disconnect()
    await customer.disconnect()


async def test_without_redis_there_is_no_worker_to_ask(settings, queue):
    """The embedded default (`make serve`): one process, which searches itself."""
    queue.set(suggest_queue.worker_key(), "elsewhere:1", ex=30)
    settings.REDIS_URL = ""
    assert not await suggest_queue.worker_alive()


# -- the whole path: sockets on a live server, the worker in its own process ----------


class Peer:
    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except Exception:
            pass

    async def wait_for(self, kind: str, wait: float = 15.0) -> dict:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for frame in self.frames:
                if frame["type"] == kind:
                    return frame
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind}; last frames {self.frames[-5:]}")


def start_worker() -> tuple[subprocess.Popen, object]:
    shared.ARTIFACTS.mkdir(exist_ok=True)
    log = open(shared.ARTIFACTS / f"suggestion-worker-{os.getpid()}.log", "wb")  # noqa: SIM115
    env = {**os.environ, "DATABASE_URL": shared.test_database_url(), "DEBUG": "1"}
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "suggestion_worker"],
        cwd=shared.ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, log


@pytest.mark.slow
@pytest.mark.postgres
async def test_the_worker_process_suggests_to_the_console_over_real_sockets(asgi_servers, queue):
    from django.core.management import call_command
    from websockets.asyncio.client import connect

    import knowledge

    def setup():
        call_command("import_articles", str(knowledge.content_dir()), verbosity=0)
        _, supporter, contact = make_pair()
        http = HttpClient()
        http.force_login(supporter.user)
        return contact, http.cookies["sessionid"].value

    contact, session = await adb(setup)()
    # No search in the server process at all: a suggestion can only come from the worker.
    (server,) = await asyncio.to_thread(
        asgi_servers, 1, CHAT_SUGGEST_FALLBACK="0", CHAT_SUGGEST_INTERVAL_S="0.1"
    )
    worker, worker_log = start_worker()
    try:
        deadline = time.monotonic() + 30
        while not queue.exists(suggest_queue.worker_key()):
            assert worker.poll() is None, "the worker exited; see its log in test-artifacts"
            assert time.monotonic() < deadline, "the worker never marked itself alive"
            await asyncio.sleep(0.1)
        # It searches at a lower CPU priority than the servers it shares a machine with.
        stat = await asyncio.to_thread(Path(f"/proc/{worker.pid}/stat").read_text)
        niceness = int(stat.rsplit(")", 1)[1].split()[16])
        assert niceness == min(19, os.nice(0) + settings.CHAT_SUGGEST_WORKER_NICE) > 0
        cid = str(contact.public_id)
        token = make_contact_token(contact.public_id)
        customer = Peer(
            await connect(f"{server.ws_url}/ws/contact/?token={token}", origin=server.url)
        )
        await customer.ws.send(json.dumps({"type": "hello", "last_seq": 0}))
        await customer.wait_for("welcome")
        console = Peer(
            await connect(
                f"{server.ws_url}/ws/console/",
                origin=server.url,
                additional_headers={"Cookie": f"sessionid={session}"},
            )
        )
        await console.ws.send(json.dumps({"type": "hello", "contacts": {cid: 0}}))
        await console.wait_for("welcome")
        await customer.ws.send(
            json.dumps(
                {
                    "type": "message.send",
                    "client_msg_id": "q",
                    "body": "Unohdin sähköpostin salasanan enkä pääse sisään",
                }
            )
        )
        frame = await console.wait_for("suggestions")
        assert frame["contact"] == cid
        assert 1 <= len(frame["articles"]) <= 3
        assert {"id", "slug", "title", "summary", "url", "language"} <= frame["articles"][0].keys()
        await asyncio.sleep(0.5)
        assert all(f["type"] != "suggestions" for f in customer.frames)
        await customer.ws.close()
        await console.ws.close()
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 15) == 0
        assert not queue.exists(suggest_queue.worker_key())
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker_log.close()
