"""The sockets through the real ASGI application (helpdesk.asgi.application).

The other consumer tests route straight to the consumers; these go through
everything a browser's connection meets in production: the lifespan wrapper,
AllowedHostsOriginValidator (Origin checked against ALLOWED_HOSTS) and
AuthMiddlewareStack (the Django session cookie), then the token and the
contact's state. docs/protocol.md promises each outcome tested here.
"""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock

import pytest
from channels.db import database_sync_to_async as adb
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client as HttpClient
from django.utils import timezone

from helpdesk.models import Contact, Message
from helpdesk.services import messages as message_service
from helpdesk.services.retention import purge_expired
from helpdesk.tokens import make_contact_token
from tests.factories import make_user
from tests.realtime.conftest import TIMEOUT, Client
from tests.realtime.helpers import make_pair

pytestmark = [pytest.mark.django_db(transaction=True)]

FOREIGN_ORIGIN = "https://phishing.example.com"


@pytest.fixture
def application():
    from helpdesk.asgi import application

    return application


def allowed_origin() -> str:
    """An origin the deployment serves: the first of ALLOWED_HOSTS, as the app read it."""
    host = next(h for h in settings.ALLOWED_HOSTS if h not in ("*", "testserver"))
    return f"http://{host.lstrip('.')}:8000"


def _headers(origin: str | None, cookie: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return headers


async def _open(app, path: str, *, origin: str | None, cookie: str | None = None):
    communicator = WebsocketCommunicator(app, path, headers=_headers(origin, cookie))
    connected, code = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected, code


def _session_cookie(user) -> str:
    http = HttpClient()
    http.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.fixture
def pair(transactional_db):
    return make_pair()


# --- Origin -----------------------------------------------------------------


async def test_customer_socket_from_an_allowed_origin_gets_its_welcome(application, pair):
    _, _, contact = pair
    token = make_contact_token(contact.public_id)
    ws, connected, _ = await _open(
        application, f"/ws/contact/?token={token}", origin=allowed_origin()
    )
    assert connected
    client = Client(ws)
    await client.send({"type": "hello", "last_seq": 0})
    welcome = await client.expect("welcome")
    assert welcome["contact"]["id"] == str(contact.public_id)
    await client.disconnect()


@pytest.mark.parametrize("origin", [FOREIGN_ORIGIN, None], ids=["foreign", "missing"])
async def test_customer_socket_from_a_foreign_or_no_origin_is_refused(application, pair, origin):
    _, _, contact = pair
    token = make_contact_token(contact.public_id)
    ws, connected, _ = await _open(application, f"/ws/contact/?token={token}", origin=origin)
    # Refused at the handshake: the consumer never runs, no frame is ever sent.
    assert not connected
    await ws.disconnect()


@pytest.mark.parametrize("origin", [FOREIGN_ORIGIN, None], ids=["foreign", "missing"])
async def test_console_socket_with_a_valid_session_from_a_foreign_origin_is_refused(
    application, pair, origin
):
    _, supporter, _ = pair
    cookie = await adb(_session_cookie)(supporter.user)
    ws, connected, _ = await _open(application, "/ws/console/", origin=origin, cookie=cookie)
    assert not connected  # a page elsewhere cannot ride on the supporter's cookie
    await ws.disconnect()


# --- the session through AuthMiddlewareStack ------------------------------


async def test_console_socket_with_the_session_cookie_gets_its_welcome(application, pair):
    _, supporter, contact = pair
    cookie = await adb(_session_cookie)(supporter.user)
    ws, connected, _ = await _open(
        application, "/ws/console/", origin=allowed_origin(), cookie=cookie
    )
    assert connected
    client = Client(ws)
    await client.send({"type": "hello", "contacts": {}})
    welcome = await client.expect("welcome")
    assert welcome["supporter"]["id"] == supporter.pk
    assert [c["id"] for c in welcome["contacts"]] == [str(contact.public_id)]
    await client.disconnect()


async def test_console_socket_without_a_session_closes_4401(application, pair):
    ws, connected, _ = await _open(application, "/ws/console/", origin=allowed_origin())
    assert connected
    assert await Client(ws).close_code() == 4401
    await ws.disconnect()


async def test_console_socket_of_a_user_who_is_not_a_supporter_closes_4403(application, pair):
    cookie = await adb(lambda: _session_cookie(make_user()))()
    ws, connected, _ = await _open(
        application, "/ws/console/", origin=allowed_origin(), cookie=cookie
    )
    assert connected
    assert await Client(ws).close_code() == 4403
    await ws.disconnect()


async def test_console_socket_of_a_session_from_before_a_password_change_closes_4401(
    application, pair
):
    """The sessions are read outside channels' own thread (realtime/socket_auth.py),
    with its checks: a password change signs the old sessions out."""
    _, supporter, _ = pair
    cookie = await adb(_session_cookie)(supporter.user)
    await adb(_change_password)(supporter.user, "uusi-salasana-2026")
    assert await _console_close_code(application, cookie) == 4401


def _change_password(user, password: str) -> None:
    user.set_password(password)
    user.save()


async def _console_close_code(application, cookie: str) -> int | None:
    ws, connected, _ = await _open(
        application, "/ws/console/", origin=allowed_origin(), cookie=cookie
    )
    assert connected
    code = await Client(ws).close_code()
    await ws.disconnect()
    return code


async def test_console_sockets_of_expired_logged_out_or_inactive_sessions_close_4401(
    application, pair
):
    """The session and user rows are read with SQL compiled once per process
    (realtime/socket_auth.py), afresh for every socket: what changed since the
    last socket opened is seen by the next."""
    from django.contrib.sessions.models import Session

    _, supporter, _ = pair
    cookie = await adb(_session_cookie)(supporter.user)
    key = cookie.split("=", 1)[1]
    # The same session opens a console before each change: nothing read then sticks.
    ws, connected, _ = await _open(
        application, "/ws/console/", origin=allowed_origin(), cookie=cookie
    )
    client = Client(ws)
    await client.send({"type": "hello", "contacts": {}})
    assert (await client.expect("welcome"))["supporter"]["id"] == supporter.pk
    await client.disconnect()

    await adb(Session.objects.filter(session_key=key).update)(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    assert await _console_close_code(application, cookie) == 4401

    # Signed out: Django deletes the session row.
    cookie = await adb(_session_cookie)(supporter.user)
    await adb(Session.objects.filter(session_key=cookie.split("=", 1)[1]).delete)()
    assert await _console_close_code(application, cookie) == 4401

    # Deactivated: ModelBackend no longer lets the user in.
    cookie = await adb(_session_cookie)(supporter.user)
    await adb(type(supporter.user).objects.filter(pk=supporter.user.pk).update)(is_active=False)
    assert await _console_close_code(application, cookie) == 4401


async def test_a_session_whose_password_changed_is_flushed_like_channels_does(application, pair):
    from django.contrib.sessions.models import Session

    _, supporter, _ = pair
    cookie = await adb(_session_cookie)(supporter.user)
    await adb(_change_password)(supporter.user, "toinen-salasana-2026")
    assert await _console_close_code(application, cookie) == 4401
    key = cookie.split("=", 1)[1]
    assert not await adb(Session.objects.filter(session_key=key).exists)()


async def test_a_console_reads_its_session_user_and_supporter_in_one_pool_turn(
    application, pair, monkeypatch
):
    """Each hand-over to a database thread costs CPU in a reconnect storm: the
    session and its user are read in the turn that reads the supporter."""
    from realtime.consumers import base

    _, supporter, _ = pair
    cookie = await adb(_session_cookie)(supporter.user)
    turns: list[str] = []
    real = base._in_thread

    def counted(fn, args, kwargs):
        turns.append(fn.__name__)
        return real(fn, args, kwargs)

    monkeypatch.setattr(base, "_in_thread", counted)
    ws, connected, _ = await _open(
        application, "/ws/console/", origin=allowed_origin(), cookie=cookie
    )
    assert connected
    client = Client(ws)
    await client.send({"type": "ping"})
    await client.expect("pong")
    # The first heartbeat's UPDATE (when one is due) is shared with the
    # consoles opening meanwhile.
    assert [turn for turn in turns if turn != "heartbeat_many"] == ["_open_console"], turns
    await client.disconnect()


async def test_a_socket_without_a_session_is_anonymous_without_a_database_read(
    application, pair, monkeypatch
):
    """A storm of customers' sockets does not queue for session reads they do not need."""
    from realtime import socket_auth

    def no_read(scope):
        raise AssertionError("a socket without a session key read the session store")

    monkeypatch.setattr(socket_auth, "_read_user", no_read)
    _, _, contact = pair
    token = make_contact_token(contact.public_id)
    ws, connected, _ = await _open(
        application, f"/ws/contact/?token={token}", origin=allowed_origin()
    )
    assert connected
    client = Client(ws)
    await client.send({"type": "hello", "last_seq": 0})
    assert (await client.expect("welcome"))["contact"]["id"] == str(contact.public_id)
    await client.disconnect()
    ws, connected, _ = await _open(application, "/ws/console/", origin=allowed_origin())
    assert await Client(ws).close_code() == 4401
    await ws.disconnect()


# --- the customer's token -----------------------------------------------------


def _token_signed_at(public_id, when: float) -> str:
    with mock.patch("django.core.signing.time.time", return_value=when):
        return make_contact_token(public_id)


async def test_an_expired_token_closes_4401_and_a_fresh_one_does_not(application, pair):
    _, _, contact = pair
    max_age = settings.CONTACT_TOKEN_MAX_AGE_S
    expired = _token_signed_at(contact.public_id, time.time() - max_age - 60)
    still_valid = _token_signed_at(contact.public_id, time.time() - max_age + 60)

    ws, connected, _ = await _open(
        application, f"/ws/contact/?token={expired}", origin=allowed_origin()
    )
    assert connected  # accepted, then closed with the code a browser can read
    assert await Client(ws).close_code() == 4401
    await ws.disconnect()

    ws, connected, _ = await _open(
        application, f"/ws/contact/?token={still_valid}", origin=allowed_origin()
    )
    client = Client(ws)
    await client.send({"type": "hello", "last_seq": 0})
    assert (await client.expect("welcome"))["contact"]["id"] == str(contact.public_id)
    await client.disconnect()


def _ended_long_ago_with_messages(contact: Contact) -> None:
    message_service.post_message(contact_id=contact.pk, client_msg_id="c1", body="Hei")
    long_ago = timezone.now() - timedelta(days=settings.TRANSCRIPT_RETENTION_DAYS + 1)
    Contact.objects.filter(pk=contact.pk).update(
        state="ended", ended_at=long_ago, created_at=long_ago
    )


async def test_a_contact_purged_by_the_retention_run_closes_4404(application, pair):
    _, _, contact = pair
    token = make_contact_token(contact.public_id)
    await adb(_ended_long_ago_with_messages)(contact)

    # Ended but not yet purged: the customer still reaches the transcript.
    ws, connected, _ = await _open(
        application, f"/ws/contact/?token={token}", origin=allowed_origin()
    )
    client = Client(ws)
    await client.send({"type": "hello", "last_seq": 0})
    welcome = await client.expect("welcome")
    assert welcome["contact"]["state"] == "ended" and len(welcome["messages"]) == 1
    await client.disconnect()

    report = await adb(purge_expired)()
    assert report.contacts == 1
    purged = await adb(Contact.objects.get)(pk=contact.pk)  # the row stays, for statistics
    assert purged.purged_at is not None
    assert not await adb(Message.objects.filter(contact_id=contact.pk).exists)()

    ws, connected, _ = await _open(
        application, f"/ws/contact/?token={token}", origin=allowed_origin()
    )
    assert connected
    assert await Client(ws).close_code() == 4404
    await ws.disconnect()
