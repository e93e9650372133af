"""The supporter console page and its sign-in."""

import json
import re

import pytest

from helpdesk.demo import demo_password
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The demo network creates dozens of accounts; real hashing would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _console_data(html: str) -> dict:
    match = re.search(
        r'<script id="console-data" type="application/json">(.*?)</script>', html, re.S
    )
    return json.loads(match.group(1))


def test_console_sends_anonymous_users_to_sign_in(client):
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/?next=/console/"


def test_sign_in_page_and_a_wrong_password(client, demo_network):
    page = client.get("/console/login/")
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.content.decode()
    wrong = client.post("/console/login/", {"username": "uusimaa-staff", "password": "nope"})
    assert wrong.status_code == 200
    assert 'role="alert"' in wrong.content.decode()


def test_sign_in_leads_to_the_console(client, demo_network):
    response = client.post(
        "/console/login/",
        {"username": "uusimaa-staff", "password": demo_password(), "next": "/console/"},
    )
    assert response.status_code == 302 and response["Location"] == "/console/"
    console = client.get("/console/")
    assert console.status_code == 200
    html = console.content.decode()
    assert "helpdesk/console.js" in html
    assert 'name="presence" value="available"' in html
    data = _console_data(html)
    assert data["supporter"]["display_name"] == "Laura"
    # Canned replies of the supporter's own provider only, in all its languages.
    providers = {r["provider"] for r in data["canned_replies"]}
    assert providers == {"Helmet-kirjastojen digituki"}
    assert {r["language"] for r in data["canned_replies"]} == {"fi", "sv", "en"}
    colleagues = [s["display_name"] for s in data["transfer_targets"]["supporters"]]
    assert colleagues == ["Ahmed"]
    assert "message_left" not in {o["value"] for o in data["outcomes"]}
    assert data["topics"] and data["topics"][0]["topics"]
    assert console["X-Frame-Options"] == "DENY"


def test_a_user_without_a_supporter_record_gets_a_clear_403(client, demo_network):
    client.force_login(make_user())
    response = client.get("/console/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert "No access to the console" in response.content.decode()


CONSOLE_DATA_KEYS = {"supporter", "canned_replies", "transfer_targets", "topics", "outcomes"}


@pytest.mark.parametrize("username", ["uusimaa-volunteer", "uusimaa-staff"])
def test_console_page_carries_no_customer_data(client, demo_network, username):
    """The page is a shell; contacts reach the console only over its socket.

    Even while the supporter serves a callback contact, neither its number
    nor its description is in the page (the socket decides who sees what:
    tests/realtime/test_protocol_promises.py).
    """
    from django.contrib.auth import get_user_model

    from helpdesk.models import Supporter
    from tests.realtime.helpers import make_contact

    user = get_user_model().objects.get(username=username)
    supporter = Supporter.objects.get(user=user)
    make_contact(
        state="active",
        supporter=supporter,
        provider=supporter.providers.first(),
        is_callback=True,
        callback_number="+358401234567",
        description="Pankkitunnukset hukassa",
    )
    client.force_login(user)
    html = client.get("/console/").content.decode()
    data = _console_data(html)
    assert set(data) == CONSOLE_DATA_KEYS
    assert data["supporter"]["kind"] == supporter.kind
    for secret in ("401234567", "Pankkitunnukset hukassa", "Asiakas 1234"):
        assert secret not in html


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_console_renders_in_every_language(client, demo_network, language):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="uusimaa-staff"))
    client.post("/i18n/setlang/", {"language": language})
    html = client.get("/console/").content.decode()
    assert f'<html lang="{language}">' in html


def test_sign_out(client, demo_network):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="uusimaa-staff"))
    response = client.post("/console/logout/")
    assert response.status_code == 302
    assert client.get("/console/").status_code == 302
