"""Fixtures for the consumer tests: the WebSocket app and communicator helpers."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from helpdesk.tokens import make_contact_token

TIMEOUT = 5


@pytest.fixture
def ws_app():
    from realtime.routing import websocket_urlpatterns

    return URLRouter(websocket_urlpatterns)


@pytest.fixture(autouse=True)
def fast_chat_settings(settings):
    settings.CHAT_SNAPSHOT_DELAY_S = 0.05
    settings.CHAT_SUGGEST_INTERVAL_S = 0.1


class Client:
    """A communicator with frame helpers; `seen` keeps every frame received."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.ws = communicator
        self.seen: list[dict] = []

    async def send(self, frame: dict | str) -> None:
        if isinstance(frame, str):
            await self.ws.send_to(text_data=frame)
        else:
            await self.ws.send_json_to(frame)

    async def recv(self, wait: float = TIMEOUT) -> dict:
        frame = await self.ws.receive_json_from(timeout=wait)
        self.seen.append(frame)
        return frame

    async def expect(self, kind: str, wait: float = TIMEOUT, **match) -> dict:
        """The next frame of `kind` (matching `match`), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {kind} {match} frame; saw {self.seen[-5:]}")
            try:
                frame = await self.recv(wait=left)
            except TimeoutError:
                raise AssertionError(f"no {kind} {match} frame; saw {self.seen[-5:]}") from None
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def error(self, code: str) -> dict:
        return await self.expect("error", code=code)

    async def nothing(self, wait: float = 0.3) -> None:
        assert await self.ws.receive_nothing(timeout=wait), "unexpected frame"

    async def drain(self, wait: float = 0.3) -> list[dict]:
        """Every frame that arrives until the socket is quiet for `wait` seconds."""
        frames = []
        while not await self.ws.receive_nothing(timeout=wait):
            frames.append(await self.recv())
        return frames

    async def no_error(self, wait: float = 0.3) -> list[dict]:
        frames = await self.drain(wait)
        assert all(f["type"] != "error" for f in frames), frames
        return frames

    async def close_code(self, wait: float = TIMEOUT) -> int:
        while True:
            output = await self.ws.receive_output(timeout=wait)
            if output["type"] == "websocket.close":
                return output.get("code")

    async def disconnect(self) -> None:
        await self.ws.disconnect()


async def customer_client(app, contact, *, token: str | None = None, hello: int | None = 0):
    token = token if token is not None else make_contact_token(contact.public_id)
    communicator = WebsocketCommunicator(app, f"/ws/contact/?token={token}")
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    client = Client(communicator)
    if hello is not None:
        await client.send({"type": "hello", "last_seq": hello})
        client.welcome = await client.expect("welcome")
    return client


async def supporter_client(app, user, *, hello: dict | None = None):
    communicator = WebsocketCommunicator(app, "/ws/console/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    client = Client(communicator)
    if hello is not None:
        await client.send({"type": "hello", "contacts": hello})
        client.welcome = await client.expect("welcome")
    return client


def dumps(frame: dict) -> str:
    return json.dumps(frame)


@pytest.fixture(autouse=True)
async def close_chat_store_pool():
    """The chat store's async pool belongs to the test's event loop: close it with it."""
    yield
    from helpdesk import db_async

    await db_async.close()
