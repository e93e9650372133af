"""Voice webhooks answer only Twilio: unsigned or forged requests get 403, change nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from realtime.telephony.driver import new_call_sid
from realtime.telephony.models import PhoneCall
from tests.realtime.telephony.conftest import AUTH_TOKEN, MOBILE, PUBLIC

pytestmark = pytest.mark.django_db

WEBHOOKS = [
    "/telephony/voice/incoming",
    "/telephony/voice/menu/language",
    "/telephony/voice/closed",
    "/telephony/voice/wait",
    "/telephony/voice/wait-key",
    "/telephony/voice/queue-done",
    "/telephony/voice/bridge",
    "/telephony/voice/callback-answer/1",
    "/telephony/voice/dial-done",
    "/telephony/voice/status",
    "/telephony/voice/transfer/1/caller",
    "/telephony/voice/transfer/1/host",
    "/telephony/voice/transfer/1/target",
    "/telephony/voice/transfer/1/leg/target",
    "/telephony/voice/transfer/1/over",
]


def _params(sid: str) -> dict[str, str]:
    return {
        "CallSid": sid,
        "From": MOBILE,
        "To": "+358291234567",
        "CallStatus": "completed",
        "Digits": "1",
        "QueueResult": "hangup",
        "DialCallStatus": "completed",
    }


def _sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@pytest.mark.parametrize("path", WEBHOOKS)
def test_unsigned_request_is_refused(phone_settings, path):
    sid = new_call_sid()
    response = Client().post(path, _params(sid))
    assert response.status_code == 403
    assert not PhoneCall.objects.filter(call_sid=sid).exists()


@pytest.mark.parametrize("path", WEBHOOKS)
def test_forged_signature_is_refused(phone_settings, path):
    sid = new_call_sid()
    params = _params(sid)
    forged = _sign(PUBLIC + path, params, token="not-the-auth-token")
    response = Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=forged)
    assert response.status_code == 403
    assert not PhoneCall.objects.filter(call_sid=sid).exists()


def test_signature_over_other_parameters_is_refused(phone_settings):
    sid = new_call_sid()
    params = _params(sid)
    signature = _sign(PUBLIC + "/telephony/voice/incoming", {**params, "From": "+358501111111"})
    response = Client().post("/telephony/voice/incoming", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert not PhoneCall.objects.filter(call_sid=sid).exists()


def test_signature_of_the_internal_url_is_refused(phone_settings):
    """Signed for the URL Django sees, not the public one: Twilio never does that."""
    sid = new_call_sid()
    params = _params(sid)
    signature = _sign("http://testserver/telephony/voice/incoming", params)
    response = Client().post("/telephony/voice/incoming", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403


@pytest.mark.parametrize("proxy_headers", [{}, {"HTTP_X_FORWARDED_PROTO": "https"}])
def test_signed_request_is_accepted_behind_a_proxy(phone_settings, reference_data, proxy_headers):
    sid = new_call_sid()
    params = {"CallSid": sid, "From": MOBILE, "To": "+358291234567", "CallStatus": "ringing"}
    signature = _sign(PUBLIC + "/telephony/voice/incoming", params)
    response = Client().post(
        "/telephony/voice/incoming",
        params,
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_HOST="127.0.0.1:8000",
        **proxy_headers,
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    assert PhoneCall.objects.filter(call_sid=sid).exists()


def test_signed_request_for_every_webhook_is_accepted(driver, reference_data):
    """Signed requests pass the check (their answer depends on the call, never 403)."""
    sid = new_call_sid()
    driver.send(PUBLIC + "/telephony/voice/incoming", {"CallSid": sid, "From": MOBILE})
    for path in WEBHOOKS:
        status, _body = driver.send(PUBLIC + path, _params(sid))
        assert status not in (403, 500), path


def test_not_configured_answers_503_and_changes_nothing(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    settings.TWILIO_PHONE_NUMBER = ""
    sid = new_call_sid()
    for path in WEBHOOKS:
        response = Client().post(path, _params(sid))
        assert response.status_code == 503
        assert b"not configured" in response.content
    assert not PhoneCall.objects.exists()


def test_get_is_not_allowed(phone_settings):
    assert Client().get("/telephony/voice/incoming").status_code == 405


def test_bad_call_sid_is_a_clear_400(driver, reference_data):
    status, body = driver.send(PUBLIC + "/telephony/voice/incoming", {"CallSid": "x' OR 1=1"})
    assert status == 400
    assert "Unknown call" in body or "Tuntematon puhelu" in body


@pytest.mark.parametrize("signed_url", ["without port", "with port"])
def test_url_signed_with_or_without_its_port_is_accepted(
    phone_settings, reference_data, signed_url
):
    """Twilio signs the URL with its default port or without it: both pass, as validate() has it."""
    sid = new_call_sid()
    path = "/telephony/voice/status"
    params = {**_params(sid), "CallStatus": "ringing"}
    url = PUBLIC + path if signed_url == "without port" else PUBLIC + ":443" + path
    response = Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=_sign(url, params))
    assert response.status_code == 204
    assert PhoneCall.objects.filter(call_sid=sid, status="ringing").exists()


def test_url_signed_with_another_port_is_refused(phone_settings):
    sid = new_call_sid()
    path = "/telephony/voice/status"
    params = {**_params(sid), "CallStatus": "ringing"}
    signature = _sign(PUBLIC + ":8443" + path, params)
    response = Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    assert not PhoneCall.objects.filter(call_sid=sid).exists()
