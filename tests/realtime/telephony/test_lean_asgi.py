"""The voice webhooks' short ASGI path keeps what the full stack gives a machine request.

Signature check, request id, allowed hosts, input guard, body limit and
errors as answers; every other path still goes through Django's full handler.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
from asgiref.testing import ApplicationCommunicator
from twilio.request_validator import RequestValidator

from helpdesk.asgi import application
from realtime.telephony import services
from realtime.telephony.driver import new_call_sid
from realtime.telephony.lean_asgi import VoiceWebhookRouter
from realtime.telephony.models import PhoneCall
from tests.realtime.telephony.conftest import AUTH_TOKEN, MOBILE, PUBLIC

# The view body runs on a thread of its own: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


class Fallback:
    """Stands for Django's full handler: records what reached it."""

    def __init__(self):
        self.paths = []

    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"full stack"})


def _signed(path: str, params: dict, *, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(PUBLIC + path, params)


async def _post(app, path: str, body: bytes, headers: dict[str, str] | None = None):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"tuki.example.fi"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(10)
    content = await communicator.receive_output(10)
    await communicator.wait(10)
    return start["status"], dict(start["headers"]), content["body"]


def _params(sid: str, **extra) -> dict[str, str]:
    return {"CallSid": sid, "From": MOBILE, "To": "+358291234567", **extra}


async def test_signed_webhook_is_answered_without_the_full_stack(phone_settings):
    fallback = Fallback()
    app = VoiceWebhookRouter(fallback)
    params = _params(new_call_sid(), CallStatus="ringing")
    status, headers, body = await _post(
        app,
        "/telephony/voice/status",
        urlencode(params).encode(),
        {"X-Twilio-Signature": _signed("/telephony/voice/status", params)},
    )
    assert status == 204, body
    assert fallback.paths == []
    assert len(headers[b"X-Request-ID"]) >= 8
    assert await PhoneCall.objects.filter(call_sid=params["CallSid"], status="ringing").aexists()


async def test_forged_signature_is_refused_and_keeps_the_given_request_id(phone_settings):
    app = VoiceWebhookRouter(Fallback())
    params = _params(new_call_sid(), CallStatus="ringing")
    status, headers, _ = await _post(
        app,
        "/telephony/voice/status",
        urlencode(params).encode(),
        {
            "X-Twilio-Signature": _signed("/telephony/voice/status", params, token="wrong"),
            "X-Request-ID": "proxy-id-12345",
        },
    )
    assert status == 403
    assert headers[b"X-Request-ID"] == b"proxy-id-12345"
    assert not await PhoneCall.objects.filter(call_sid=params["CallSid"]).aexists()


async def test_input_guard_runs_before_the_signature_check(phone_settings):
    app = VoiceWebhookRouter(Fallback())
    body = urlencode({"CallSid": new_call_sid(), "Digits": "1\x00"}).encode()
    status, _, text = await _post(app, "/telephony/voice/wait", body)
    assert status == 400
    assert b"form field" in text


async def test_oversized_body_gets_413(phone_settings, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    app = VoiceWebhookRouter(Fallback())
    status, _, _ = await _post(app, "/telephony/voice/wait", b"Digits=" + b"1" * 2000)
    assert status == 413


async def test_unknown_host_is_refused(phone_settings, settings):
    settings.ALLOWED_HOSTS = ["elsewhere.example"]
    app = VoiceWebhookRouter(Fallback())
    params = _params(new_call_sid(), CallStatus="ringing")
    status, _, _ = await _post(
        app,
        "/telephony/voice/status",
        urlencode(params).encode(),
        {"X-Twilio-Signature": _signed("/telephony/voice/status", params)},
    )
    assert status == 400


async def test_a_failing_view_answers_500_and_logs(phone_settings, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "wait_round", broken)
    app = VoiceWebhookRouter(Fallback())
    params = _params(new_call_sid())
    with caplog.at_level(logging.ERROR, logger="realtime.telephony.lean_asgi"):
        status, _, body = await _post(
            app,
            "/telephony/voice/wait",
            urlencode(params).encode(),
            {"X-Twilio-Signature": _signed("/telephony/voice/wait", params)},
        )
    assert status == 500
    assert b"database" not in body
    assert any("voice webhook /telephony/voice/wait failed" in r.message for r in caplog.records)


async def test_other_paths_take_the_full_stack(phone_settings):
    fallback = Fallback()
    app = VoiceWebhookRouter(fallback)
    for path in ("/telephony/status", "/telephony/voice/nothing-here", "/api/contacts/"):
        status, _, _ = await _post(app, path, b"")
        assert status == 299
    assert fallback.paths == [
        "/telephony/status",
        "/telephony/voice/nothing-here",
        "/api/contacts/",
    ]


def test_the_server_application_routes_voice_webhooks_the_short_way():
    http = application.app.application_mapping["http"]
    # Other short paths may stand in front of it (helpdesk/intake_asgi.py).
    while not isinstance(http, VoiceWebhookRouter) and hasattr(http, "fallback"):
        http = http.fallback
    assert isinstance(http, VoiceWebhookRouter)
