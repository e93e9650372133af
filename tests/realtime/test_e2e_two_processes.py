"""End to end over real sockets: customer on one uvicorn process, supporter on another.

Both processes share the test database and Redis (pub/sub channel layer). The
customer's connection is cut mid-conversation while the supporter keeps
writing; the customer resumes with its last seq. Neither side may lose, repeat
or reorder a message.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async as adb
from django.test import Client as HttpClient
from websockets.asyncio.client import connect

from helpdesk.tokens import make_contact_token
from tests.realtime.helpers import make_pair

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Peer:
    """One real WebSocket with a reader task collecting every frame."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, origin: str, headers: dict | None = None) -> Peer:
        ws = await connect(url, origin=origin, additional_headers=headers or {}, open_timeout=10)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except Exception:  # the connection was cut on purpose in the test
            pass

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def wait_for(self, predicate, wait: float = 10.0) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        seen = 0
        while loop.time() < deadline:
            for frame in self.frames[seen:]:
                if predicate(frame):
                    return frame
            seen = len(self.frames)
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out; last frames {self.frames[-5:]}")

    async def ack(self, client_msg_id: str) -> dict:
        return await self.wait_for(
            lambda f: f["type"] == "message.ack" and f["client_msg_id"] == client_msg_id
        )

    def cut(self) -> None:
        """Drop the TCP connection without a closing handshake, as a lost network does."""
        self.ws.transport.abort()

    async def go_deaf(self) -> None:
        """From now on nothing this socket receives reaches the client (a dying network)."""
        self.reader.cancel()
        try:
            await self.reader
        except asyncio.CancelledError:
            pass

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


def delivered(frames: list[dict]) -> list[int]:
    """Seqs in the order this socket got them: welcome replays, message.new, own acks."""
    seqs = []
    for frame in frames:
        if frame["type"] == "welcome":
            messages = frame.get("messages") or [
                m for c in frame.get("contacts", []) for m in c["messages"]
            ]
            seqs.extend(m["seq"] for m in messages)
        elif frame["type"] == "message.new" or (
            frame["type"] == "message.ack" and "message" in frame
        ):
            seqs.append(frame["message"]["seq"])
    return seqs


def notified(frames: list[dict]) -> list[int]:
    return [f["message"]["seq"] for f in frames if f["type"] == "message.new"]


def resume_point(frames: list[dict]) -> int:
    """What a client sends in `hello`: the last seq of a welcome or message.new.

    Not an ack's seq: a message of the other side with a lower seq may still
    be on its way when the ack of one's own arrives (docs/protocol.md).
    """
    welcomed = [m["seq"] for f in frames if f["type"] == "welcome" for m in f["messages"]]
    return max(welcomed + notified(frames), default=0)


def has_seq(seq: int):
    return lambda f: (
        f["type"] in ("message.new", "message.ack") and (f.get("message", {}).get("seq") == seq)
    )


@pytest.mark.redis
async def test_chat_across_two_processes_survives_a_cut(asgi_servers):
    def setup():
        _, supporter, contact = make_pair()
        http = HttpClient()
        http.force_login(supporter.user)
        return supporter, contact, http.cookies["sessionid"].value

    supporter, contact, session = await adb(setup)()
    # The test writes faster than a person; the per-socket limit is tested elsewhere.
    server_a, server_b = await asyncio.to_thread(asgi_servers, 2, CHAT_RATE_LIMIT="1000/10second")
    token = make_contact_token(contact.public_id)
    cid = str(contact.public_id)
    customer_url = f"{server_a.ws_url}/ws/contact/?token={token}"

    customer = await Peer.open(customer_url, server_a.url)
    await customer.send({"type": "hello", "last_seq": 0})
    await customer.wait_for(lambda f: f["type"] == "welcome")
    console = await Peer.open(
        f"{server_b.ws_url}/ws/console/", server_b.url, {"Cookie": f"sessionid={session}"}
    )
    await console.send({"type": "hello", "contacts": {cid: 0}})
    await console.wait_for(lambda f: f["type"] == "welcome")

    async def supporter_says(n: int) -> None:
        await console.send(
            {"type": "message.send", "contact": cid, "client_msg_id": f"s{n}", "body": f"S{n}"}
        )

    # A conversation, both sides writing at once.
    for n in range(10):
        await customer.send({"type": "message.send", "client_msg_id": f"c{n}", "body": f"C{n}"})
        await supporter_says(n)
    await customer.ack("c9")
    await console.ack("s9")
    await customer.wait_for(has_seq(20))

    # The customer's network drops mid-conversation: one message is sent and
    # stored, its ack never reaches the client, and the supporter keeps
    # writing meanwhile. The client stops hearing before it sends; the cut
    # comes only once the other side has the message, so the message is
    # certainly stored and its ack certainly lost: the resend path runs.
    await customer.go_deaf()
    await customer.send({"type": "message.send", "client_msg_id": "lost-ack", "body": "Kuuluuko?"})
    stored = await console.wait_for(
        lambda f: f["type"] == "message.new" and f["message"]["body"] == "Kuuluuko?"
    )
    lost_seq = stored["message"]["seq"]
    customer.cut()
    assert not [f for f in customer.frames if f.get("client_msg_id") == "lost-ack"]
    seen_before = delivered(customer.frames)
    assert lost_seq not in seen_before
    for n in range(10, 25):
        await supporter_says(n)
    await console.ack("s24")

    resumed = await Peer.open(customer_url, server_a.url)
    await resumed.send({"type": "hello", "last_seq": resume_point(customer.frames)})
    welcome = await resumed.wait_for(lambda f: f["type"] == "welcome")
    # The welcome replays the missed messages, the unacknowledged one among them.
    assert lost_seq in [m["seq"] for m in welcome["messages"]]
    # Resending the message whose ack was lost stores nothing new: the ack
    # has the original seq, and no `message`, since the welcome carried it.
    await resumed.send({"type": "message.send", "client_msg_id": "lost-ack", "body": "Kuuluuko?"})
    resend_ack = await resumed.ack("lost-ack")
    assert resend_ack["seq"] == lost_seq
    assert "message" not in resend_ack, resend_ack
    first_seq = resend_ack["seq"]
    for n in range(25, 30):
        await resumed.send({"type": "message.send", "client_msg_id": f"r{n}", "body": f"R{n}"})
        await supporter_says(n)
    await resumed.ack("r29")
    await console.ack("s29")
    total = 20 + 1 + 15 + 10
    await resumed.wait_for(has_seq(total))
    await console.wait_for(has_seq(total))
    await asyncio.sleep(0.3)  # let any stray duplicate arrive before judging

    # Every message reached each side exactly once (own ones in their acks),
    # and the notifications of each socket came in seq order.
    # (The resumed socket may repeat own messages the first one had in acks
    # after its last message.new; the client knows them by seq.)
    customer_seqs = set(seen_before) | set(delivered(resumed.frames))
    assert sorted(customer_seqs) == list(range(1, total + 1)), customer_seqs
    for frames in (customer.frames, resumed.frames, console.frames):
        assert len(delivered(frames)) == len(set(delivered(frames)))
    assert sorted(delivered(console.frames)) == list(range(1, total + 1))
    for frames in (customer.frames, resumed.frames, console.frames):
        assert notified(frames) == sorted(set(notified(frames)))
    assert 21 <= first_seq <= total
    assert delivered(resumed.frames).count(lost_seq) == 1  # once, in the welcome
    bodies = {
        f["message"]["seq"]: f["message"]["body"]
        for f in console.frames
        if f["type"] == "message.new" or "message" in f
    }
    assert bodies[first_seq] == "Kuuluuko?"
    assert list(bodies.values()).count("Kuuluuko?") == 1
    assert not [
        f for f in customer.frames + resumed.frames + console.frames if f["type"] == "error"
    ]
    await resumed.close()
    await console.close()
