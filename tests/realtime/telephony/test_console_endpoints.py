"""The console's phone endpoints, "not configured", and where a caller's number may not appear."""

from __future__ import annotations

import logging
import time

import jwt
import pytest
from django.test import Client
from django.utils import timezone

from helpdesk.models import AuditLogEntry, Contact
from realtime import serializers
from routing import services as routing
from tests.factories import make_provider, make_supporter, make_user
from tests.realtime.telephony.conftest import ACCOUNT_SID, JOENSUU_LANDLINE, PHONE_ENV

pytestmark = pytest.mark.django_db


def _login(user) -> Client:
    http = Client()
    http.force_login(user)
    return http


def test_not_configured_reads_so_and_issues_no_token(settings, reference_data):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_PHONE_NUMBER = ""
    supporter = make_supporter(providers=[make_provider(regions=["12"])])
    http = _login(supporter.user)
    assert http.get("/telephony/status").json()["configured"] is False
    assert http.post("/telephony/token").status_code == 503
    response = http.post(
        "/telephony/contacts/00000000-0000-0000-0000-000000000000/connect",
        {"via": "browser"},
        content_type="application/json",
    )
    assert response.status_code == 400
    admin = _login(make_user(is_staff=True, is_superuser=True))
    assert b"TWILIO_ACCOUNT_SID" in admin.get("/admin/telephony/phonecall/", follow=True).content
    # The console page itself still works, and loads the phone panel's script.
    page = http.get("/console/")
    assert page.status_code == 200 and b"telephony/softphone.js" in page.content


def test_token_is_short_lived_with_a_voice_grant(phone_settings, reference_data):
    phone_settings.TWILIO_TOKEN_TTL_S = 300
    supporter = make_supporter(providers=[make_provider(regions=["12"])])
    response = _login(supporter.user).post("/telephony/token")
    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["token"], PHONE_ENV["TWILIO_API_KEY_SECRET"], algorithms=["HS256"])
    assert claims["exp"] - time.time() <= 301
    assert claims["sub"] == ACCOUNT_SID
    assert claims["grants"]["identity"] == f"supporter-{supporter.pk}"
    assert claims["grants"]["voice"]["incoming"]["allow"] is True
    assert body["ttl_s"] == 300


def test_only_supporters_get_tokens_and_status(phone_settings, reference_data):
    http = _login(make_user())
    assert http.post("/telephony/token").status_code == 403
    assert http.get("/telephony/status").status_code == 403
    assert Client().post("/telephony/token").status_code == 403


def test_a_volunteer_never_gets_the_number_and_logs_never_hold_it(
    driver, stand_in, reference_data, caplog
):
    caplog.set_level(logging.DEBUG)
    provider = make_provider(regions=["12"])
    volunteer = make_supporter(
        providers=[provider], kind="volunteer", presence="available", last_heartbeat=timezone.now()
    )
    call = driver.call(JOENSUU_LANDLINE, digits=["1"], wait_keys=["1"])
    call.start()
    call.wait_round()  # the callback key: the number is stored for the callback
    contact = Contact.objects.get()
    assert contact.callback_number == JOENSUU_LANDLINE
    routing.dispatch()
    routing.accept_offer(offer_id=contact.offers.get().pk, supporter=volunteer)
    contact.refresh_from_db()
    seen = serializers.supporter_contact(contact, viewer=volunteer)
    assert "callback_number" not in seen
    assert "131234567" not in str(seen)
    # The volunteer can still call back: the platform dials, the number stays on the server.
    response = _login(volunteer.user).post(
        f"/telephony/contacts/{contact.public_id}/connect",
        {"via": "browser"},
        content_type="application/json",
    )
    assert response.status_code == 200 and "131234567" not in response.content.decode()
    assert stand_in.requests[-1][2]["To"] == JOENSUU_LANDLINE
    # Staff serving a callback do see it (to call from their own phone if need be).
    assert not AuditLogEntry.objects.filter(actor=volunteer.user).exists()
    assert "131234567" not in caplog.text
    # The admin shows phone calls without the number.
    admin = make_user(is_staff=True, is_superuser=True)
    http = _login(admin)
    for url in ("/admin/telephony/phonecall/", f"/admin/helpdesk/contact/{contact.pk}/change/"):
        page = http.get(url)
        assert page.status_code == 200, url
        assert "131234567" not in page.content.decode()
