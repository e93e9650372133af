"""Customer pages: start, chat, help near me, privacy, widget; languages and framing."""

import json
import re

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The demo network creates dozens of accounts; real hashing would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _lang_of(html: str) -> str:
    return re.search(r'<html lang="(\w+)"', html).group(1)


def _municipality_data(html: str) -> list[dict]:
    match = re.search(
        r'<script id="municipality-data" type="application/json">(.*?)</script>', html, re.S
    )
    return json.loads(match.group(1))


def _ui_strings(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="ui-strings">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def test_start_page_has_the_form_every_municipality_and_topics(client, reference_data):
    from helpdesk.models import Municipality, Topic

    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _lang_of(html) == "fi"
    assert 'id="start-form"' in html
    assert 'href="/privacy/"' in html
    entries = _municipality_data(html)
    assert len(entries) == Municipality.objects.count() > 300
    names = {e["name_sv"] for e in entries}
    assert "Borgå" in names and "Helsingfors" in names
    for topic in Topic.objects.filter(parent__isnull=False)[:5]:
        assert f'value="{topic.slug}"' in html
    assert "<optgroup" in html
    # The strings the scripts show are valid JSON in the page.
    assert "position" in _ui_strings(html)
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("language", "privacy_heading"),
    [
        ("fi", "Tietosuojaseloste"),
        ("sv", "Dataskyddsbeskrivning"),
        ("en", "Privacy notice"),
    ],
)
def test_language_switch_changes_every_page(client, reference_data, language, privacy_heading):
    response = client.post("/i18n/setlang/", {"language": language, "next": "/"})
    assert response.status_code == 302
    for path in ("/", "/chat/", "/near/", "/privacy/", "/console/login/"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert _lang_of(page.content.decode()) == language, path
    privacy = client.get("/privacy/").content.decode()
    assert privacy_heading in privacy
    assert "90" in privacy  # the retention period comes from the settings


def test_privacy_notice_says_what_is_stored_and_the_rights(client):
    html = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for phrase in ("What is stored", "Retention", "identity code", "Your rights", "Ombudsman"):
        assert phrase in html


def test_chat_page_renders_the_live_regions(client):
    html = client.get("/chat/").content.decode()
    assert 'id="queue-status"' in html and 'aria-live="polite"' in html
    assert 'id="messages"' in html and 'id="feedback-form"' in html
    assert "helpdesk/customer.js" in html


def test_widget_pages_may_be_framed_the_rest_not(client, demo_network):
    widget = client.get("/widget/?provider=helmet-digituki&lang=sv")
    assert widget.status_code == 200
    assert "X-Frame-Options" not in widget
    html = widget.content.decode()
    assert _lang_of(html) == "sv"
    assert 'data-provider="helmet-digituki"' in html
    entries = _municipality_data(html)
    served = {"091", "049", "092", "235"}
    assert {e["code"] for e in entries[:4]} == served  # its own area first
    assert all(e["preferred"] for e in entries[:4]) and not entries[4]["preferred"]
    # /near/ may not be framed: without JavaScript the widget opens it in a new tab.
    assert '<a href="/near/" target="_blank" rel="noopener">' in html

    chat = client.get("/widget/chat/?provider=helmet-digituki&lang=en")
    assert chat.status_code == 200 and "X-Frame-Options" not in chat
    assert _lang_of(chat.content.decode()) == "en"

    for path in ("/", "/chat/", "/near/", "/privacy/", "/widget-demo/"):
        assert client.get(path)["X-Frame-Options"] == "DENY", path


def test_widget_with_unknown_provider_or_language_still_works(client, reference_data):
    response = client.get("/widget/?provider=no-such&lang=xx")
    assert response.status_code == 200
    html = response.content.decode()
    assert _lang_of(html) == "fi"
    assert 'data-provider=""' in html


def test_widget_demo_embeds_the_script(client, demo_network):
    html = client.get("/widget-demo/").content.decode()
    assert re.search(r'<script src="/static/helpdesk/widget.js" data-provider="[\w-]+"', html)


def test_help_near_lists_in_person_providers_of_the_municipality_and_region(client, demo_network):
    response = client.get("/near/?municipality=422")  # Lieksa, Pohjois-Karjala
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lieksan asiointipiste" in html  # serves the municipality itself
    assert "Joensuun kaupunginkirjasto" in html  # serves the whole region
    assert "Pielisentie 20" in html
    assert "Kansalaisneuvonta" not in html  # no in-person help
    assert "Kuopion kaupunginkirjasto" not in html


def test_help_near_unknown_municipality_is_a_clear_404(client, reference_data):
    response = client.get("/near/?municipality=999")
    assert response.status_code == 404
    assert 'role="alert"' in response.content.decode()
    assert client.get("/near/?municipality=<script>").status_code == 404
    assert client.get("/near/").status_code == 200


def test_pages_refuse_writes(client):
    assert client.post("/").status_code == 405
    assert client.post("/chat/").status_code == 405


@pytest.mark.parametrize(
    ("language", "needs_js", "near"),
    [
        ("fi", "Chat tarvitsee JavaScriptin", "Etsi lähitukea läheltäsi"),
        ("sv", "Chatten behöver JavaScript", "Hitta hjälp på plats nära dig"),
        ("en", "The chat needs JavaScript", "Find in-person help near you"),
    ],
)
def test_without_javascript_the_start_page_says_so_and_points_to_help_nearby(
    client, reference_data, language, needs_js, near
):
    for page in ("/", "/chat/"):
        html = client.get(page, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        noscript = "".join(re.findall(r"<noscript>(.*?)</noscript>", html, re.S))
        assert needs_js in noscript, page
        assert f'<a href="/near/">{near}</a>' in noscript, page
    assert client.get("/near/", HTTP_ACCEPT_LANGUAGE=language).status_code == 200
