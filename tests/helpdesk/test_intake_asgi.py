"""POST /api/contacts/ on the short ASGI path answers exactly as Django's full handler does.

Each request below goes once through `ContactIntakeRouter` (whose fallback
here only records what reaches it) and once through Django's own ASGI
handler, and the answers are compared: status, every header, the body (the
new contact's id and token aside). Together they cover what the full stack
gives this endpoint: validation and its fi/sv/en messages, the input guard,
the body limit, content negotiation, allowed hosts, cookies and sessions
left alone, the per-address limit, request ids, security and CSP headers,
and logged 500s.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from unittest import mock

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async as adb
from django.contrib.auth import get_user_model
from django.test import Client

from helpdesk.asgi import django_asgi_app
from helpdesk.intake_asgi import ContactIntakeRouter
from helpdesk.models import Contact
from routing.workflows import ensure_default_workflows

PATH = "/api/contacts/"
VALID = {"language": "fi", "municipality": "091", "consent": True}


class Fallback:
    """Stands for Django's full handler behind the router: records what reached it."""

    def __init__(self):
        self.paths = []

    async def __call__(self, scope, receive, send):
        self.paths.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"full stack"})


@pytest.fixture
def intake(settings, reference_data, transactional_db):
    # The creation runs on the intake threads: the data must be committed.
    settings.CONTACT_INTAKE_THREADS = 2
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"
    settings.ALLOWED_HOSTS = ["tuki.example.fi"]
    ensure_default_workflows()


def _address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{1 + (n >> 16) % 250}"


async def _call(app, body, *, method="POST", path=PATH, headers=None, address=None, rid=None):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    given = {
        "host": "tuki.example.fi",
        "content-type": "application/json",
        "x-request-id": rid or f"req-{uuid.uuid4().hex[:12]}",
        **(headers or {}),
    }
    if body:
        given["content-length"] = str(len(body))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in given.items()],
        "client": (address or _address(), 40000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(10)
    chunks = []
    while True:
        message = await communicator.receive_output(10)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(10)
    headers = sorted((k.decode().lower(), v.decode()) for k, v in start["headers"])
    return start["status"], headers, b"".join(chunks)


def _comparable(status, headers, body):
    """The answer with what differs between any two creations taken out.

    That is the new contact's id and token, and a new CSRF cookie's random
    value and the second its expiry was computed in (Django replaces a
    malformed csrftoken cookie on any request, this one too).
    """
    headers = [
        (name, re.sub(r"^csrftoken=\w+; expires=[^;]+;", "csrftoken=-; expires=-;", value))
        if name == "set-cookie"
        else (name, value)
        for name, value in headers
    ]
    if status == 201:
        data = json.loads(body)
        assert data["token"] and data["contact"]["id"]
        data["token"] = data["contact"]["id"] = "-"
        body = data
    elif body.startswith(b"{"):
        body = json.loads(body)
    return status, headers, body


async def _both(body, **kwargs):
    """The same request through the short path and the full handler; their answers."""
    kwargs.setdefault("rid", f"both-{uuid.uuid4().hex[:12]}")
    fallback = Fallback()
    short = await _call(ContactIntakeRouter(fallback), body, **kwargs)
    assert fallback.paths == [], "the short path handed the request on"
    full = await _call(django_asgi_app, body, **kwargs)
    return _comparable(*short), _comparable(*full)


def _differences(short, full) -> dict:
    return {
        "status": (short[0], full[0]),
        "headers only short": sorted(set(short[1]) - set(full[1])),
        "headers only full": sorted(set(full[1]) - set(short[1])),
        "bodies": None if short[2] == full[2] else (short[2], full[2]),
    }


def _deep(levels: int) -> bytes:
    return b'{"language": "fi", "consent": true, "description": ' + b"[" * levels + b"]" * levels


REQUESTS = {
    "created (fi)": (VALID, {"accept-language": "fi"}),
    "created with a topic (sv)": (
        {**VALID, "topic": "banking", "language": "sv"},
        {"accept-language": "sv"},
    ),
    "no consent (sv)": ({**VALID, "consent": False}, {"accept-language": "sv"}),
    "no consent (en)": ({**VALID, "consent": False}, {"accept-language": "en"}),
    "no consent (fi)": ({"language": "fi"}, {"accept-language": "fi"}),
    "bad language (en)": ({**VALID, "language": "de"}, {"accept-language": "en"}),
    "unknown municipality": ({**VALID, "municipality": "999"}, {}),
    "malformed municipality": ({**VALID, "municipality": "abc"}, {}),
    "unknown topic": ({**VALID, "topic": "no-such"}, {}),
    "not JSON": (b'{"language": ', {}),
    "a JSON list": (b"[1, 2]", {}),
    "empty body": (b"", {}),
    "NUL in a field": ({**VALID, "description": "a\u0000b"}, {}),
    "lone surrogate": (b'{"language": "fi", "consent": true, "description": "\\ud800"}', {}),
    "too deep": (_deep(5000), {}),
    "too large": ({**VALID, "description": "x" * 300_000}, {}),
    "a form, not JSON": (
        b"language=fi&consent=true",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    "asks for JSON by name": (VALID, {"accept": "application/json"}),
    "foreign host": (VALID, {"host": "evil.example.com"}),
    "stray cookies": (VALID, {"cookie": "sessionid=nonsense; csrftoken=abc"}),
    "foreign origin": (VALID, {"origin": "https://evil.example.com"}),
}


async def test_the_short_path_answers_as_the_full_stack(intake):
    # One test for all the requests: each transactional test reloads the reference data.
    for case, (body, headers) in REQUESTS.items():
        short, full = await _both(body, headers=headers, rid=f"case-{uuid.uuid4().hex[:10]}")
        assert short == full, (case, _differences(short, full))
        _status, answer_headers, _ = short
        names = {name for name, _ in answer_headers}
        assert "x-request-id" in names, case
        if case != "foreign host":  # Django's plain 400 for a host it does not serve
            assert {"x-content-type-options", "referrer-policy", "content-security-policy"} <= names


async def test_a_signed_in_supporters_cookies_change_nothing(intake):
    """Sessions and CSRF as today: the endpoint is cookie-free; no session is read or set."""

    def session_cookie():
        user = get_user_model().objects.create_user("cookie-tester")
        client = Client()
        client.force_login(user)
        return "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())

    cookie = await adb(session_cookie)()
    short, full = await _both(VALID, headers={"cookie": f"{cookie}; csrftoken={'k' * 32}"})
    assert short == full, _differences(short, full)
    assert short[0] == 201
    # The valid token is kept, and the session is neither read nor renewed.
    assert not any(name == "set-cookie" for name, _ in short[1])


async def test_the_per_address_limit_holds_on_both(intake, settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "2/minute"
    answers = {}
    for name, app in (("short", ContactIntakeRouter(Fallback())), ("full", django_asgi_app)):
        address = _address()
        answers[name] = [
            _comparable(*await _call(app, VALID, address=address, rid="limit-test-1"))
            for _ in range(3)
        ]
    assert [a[0] for a in answers["short"]] == [201, 201, 429]
    # Retry-After counts down the window: equal but for the second it was read in.
    for answers_ in answers.values():
        status, headers, _body = answers_[2]
        retry = dict(headers)["retry-after"]
        assert 1 <= int(retry) <= 60
    strip = [(s, [h for h in hs if h[0] != "retry-after"], b) for s, hs, b in answers["short"]]
    strip_full = [(s, [h for h in hs if h[0] != "retry-after"], b) for s, hs, b in answers["full"]]
    assert strip == strip_full


async def test_a_failing_creation_is_a_logged_json_500_on_both(intake, caplog):
    with (
        mock.patch("helpdesk.views.api.enqueue_contact", side_effect=RuntimeError("boom")),
        caplog.at_level(logging.ERROR),
    ):
        short, full = await _both(VALID)
    assert short == full, _differences(short, full)
    assert short[0] == 500 and short[2]["error"] == "internal_error"
    assert sum("unhandled API error" in r.getMessage() for r in caplog.records) == 2


async def test_request_ids_are_kept_or_made_as_on_the_full_stack(intake):
    fallback = Fallback()
    app = ContactIntakeRouter(fallback)
    _status, headers, _ = await _call(app, VALID, rid="proxy-given-id-123")
    assert dict(headers)["x-request-id"] == "proxy-given-id-123"
    _status, headers, _ = await _call(app, VALID, rid="bad id!")
    made = dict(headers)["x-request-id"]
    assert made != "bad id!" and len(made) == 16


async def test_other_methods_and_paths_go_to_the_full_stack(intake):
    fallback = Fallback()
    app = ContactIntakeRouter(fallback)
    for method, path in (
        ("GET", PATH),
        ("OPTIONS", PATH),
        ("POST", "/api/contacts/x/callback"),
        ("POST", "/api/contacts"),
    ):
        status, _headers, body = await _call(app, b"", method=method, path=path)
        assert (status, body) == (299, b"full stack")
    assert fallback.paths == [
        ("GET", PATH),
        ("OPTIONS", PATH),
        ("POST", "/api/contacts/x/callback"),
        ("POST", "/api/contacts"),
    ]


async def test_one_hop_and_events_sent_after_commit_from_the_loop(intake):
    """The view runs on an intake thread; contact.state leaves once the row is committed."""
    from helpdesk import intake_asgi

    threads, sent = set(), []
    real_create = intake_asgi._IntakeHandler.respond

    def recording(self, request):
        threads.add(threading.current_thread().name)
        return real_create(self, request)

    async def send_collected(events):
        for group, event in events:
            committed = await adb(Contact.objects.filter(public_id=event["contact"]).exists)()
            sent.append((group, event["type"], event["state"], committed))

    with (
        mock.patch.object(intake_asgi._IntakeHandler, "respond", recording),
        mock.patch.object(intake_asgi.events, "send_collected", send_collected),
    ):
        status, _headers, body = await _call(ContactIntakeRouter(Fallback()), VALID)
    assert status == 201
    public_id = json.loads(body)["contact"]["id"]
    assert threads and all(name.startswith("contact-intake") for name in threads)
    assert sent == [(f"contact.{uuid.UUID(public_id).hex}", "contact.state", "waiting", True)]


def test_the_server_application_takes_contact_creation_the_short_way():
    from helpdesk.asgi import application

    http = application.app.application_mapping["http"]
    assert isinstance(http, ContactIntakeRouter)
