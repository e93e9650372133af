"""The public REST API: every endpoint, bad input, tokens, roles and the rate limit."""

import hashlib
import itertools
import uuid

import pytest

from helpdesk.models import Contact, Message
from helpdesk.tokens import make_contact_token
from tests.factories import make_provider, make_supporter, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The demo network creates dozens of accounts; real hashing would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_ips = itertools.count(1)


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    # The limiter's counts live in the shared Redis: every test gets its own
    # client address so that runs never count against each other.
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"
    settings.CALLBACK_RATE_LIMIT = "1000/minute"
    settings.CONTACT_CREATE_PER_KEY_RATE_LIMIT = "1000/minute"
    settings.CALLBACK_PER_TOKEN_RATE_LIMIT = "1000/minute"


@pytest.fixture
def ip():
    return f"10.{uuid.uuid4().int % 250}.{next(_ips) % 250}.{uuid.uuid4().int % 250}"


def post_contact(client, ip, **overrides):
    body = {
        "language": "fi",
        "municipality": "091",
        "topic": "banking",
        "description": "En pääse verkkopankkiin",
        "consent": True,
        "customer_key": "browser-key-12345678",
    }
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not ...}
    return client.post("/api/contacts/", body, content_type="application/json", REMOTE_ADDR=ip)


@pytest.fixture
def created(client, reference_data, ip):
    response = post_contact(client, ip)
    assert response.status_code == 201, response.content
    return response.json()


def auth(token):
    return {"HTTP_X_CONTACT_TOKEN": token}


# --- POST /api/contacts/ ----------------------------------------------------


def test_create_contact_returns_token_and_contact(client, reference_data, ip):
    response = post_contact(client, ip)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "contact"}
    contact = body["contact"]
    assert contact["state"] == "waiting"
    assert contact["channel"] == "chat" and contact["language"] == "fi"
    assert contact["topic"] == "banking"
    assert contact["last_seq"] == 0
    stored = Contact.objects.get(public_id=contact["id"])
    assert stored.municipality.code == "091"
    assert stored.consent_at is not None
    # Only a hash of the browser's id is stored.
    assert stored.customer_key and "browser-key" not in stored.customer_key
    expected = hashlib.sha256(b"digituki-customer:browser-key-12345678").hexdigest()
    assert stored.customer_key == expected


def test_create_contact_without_municipality_or_topic(client, reference_data, ip):
    response = post_contact(client, ip, municipality=None, topic="", description=...)
    assert response.status_code == 201
    stored = Contact.objects.get(public_id=response.json()["contact"]["id"])
    assert stored.municipality is None and stored.topic is None


def test_create_contact_through_a_widget_records_the_provider(client, demo_network, ip):
    response = post_contact(client, ip, provider="helmet-digituki")
    assert response.status_code == 201
    stored = Contact.objects.get(public_id=response.json()["contact"]["id"])
    assert stored.entry_provider.slug == "helmet-digituki"


@pytest.mark.parametrize(
    "overrides",
    [
        {"consent": False},
        {"consent": ...},
        {"language": "de"},
        {"municipality": "abc"},
        {"municipality": "999"},
        {"topic": "no-such-topic"},
        {"topic": "not a slug!"},
        {"description": "x" * 1001},
        {"customer_key": "short"},
        {"customer_key": "bad key with spaces!"},
        {"provider": "no-such-provider"},
        {"language": ["fi"]},
    ],
)
def test_create_contact_rejects_bad_input(client, reference_data, ip, overrides):
    before = Contact.objects.count()
    response = post_contact(client, ip, **overrides)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid"
    assert body["detail"]
    assert Contact.objects.count() == before


def test_create_contact_accepts_json_only(client, reference_data, ip):
    form = client.post("/api/contacts/", {"consent": "true"}, REMOTE_ADDR=ip)
    assert form.status_code == 415
    assert form.json()["error"] == "error"
    broken = client.post(
        "/api/contacts/", "{not json", content_type="application/json", REMOTE_ADDR=ip
    )
    assert broken.status_code == 400 and broken.json()["error"] == "invalid"
    listing = client.post("/api/contacts/", [1, 2], content_type="application/json", REMOTE_ADDR=ip)
    assert listing.status_code == 400


def test_create_contact_is_rate_limited_per_address(client, reference_data, ip, settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "3/minute"
    for _ in range(3):
        assert post_contact(client, ip).status_code == 201
    limited = post_contact(client, ip)
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    # Another address is not affected.
    other = f"192.0.2.{uuid.uuid4().int % 250}"
    assert post_contact(client, other).status_code == 201


def test_create_contact_does_not_need_csrf_even_when_logged_in(reference_data, ip):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    assert post_contact(client, ip).status_code == 201


# --- GET /api/contacts/<id>/ -------------------------------------------------


def test_get_contact_with_its_token(client, created):
    contact_id = created["contact"]["id"]
    response = client.get(f"/api/contacts/{contact_id}/", **auth(created["token"]))
    assert response.status_code == 200
    assert response.json()["id"] == contact_id
    assert response.json()["state"] == "waiting"


def test_get_contact_without_token_is_forbidden(client, created):
    response = client.get(f"/api/contacts/{created['contact']['id']}/")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_wrong_token_and_unknown_id_look_the_same(client, created, reference_data):
    contact_id = created["contact"]["id"]
    other_token = make_contact_token(uuid.uuid4())
    wrong = client.get(f"/api/contacts/{contact_id}/", **auth(other_token))
    forged = client.get(f"/api/contacts/{contact_id}/", **auth(created["token"] + "x"))
    unknown_id = uuid.uuid4()
    unknown = client.get(f"/api/contacts/{unknown_id}/", **auth(make_contact_token(unknown_id)))
    not_uuid = client.get("/api/contacts/not-a-uuid/", **auth(created["token"]))
    for response in (wrong, forged, unknown, not_uuid):
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "detail": "No such contact."}


# --- transcript --------------------------------------------------------------


def _add(contact, seq, author, kind, body, **extra):
    return Message.objects.create(
        contact=contact, seq=seq, author_kind=author, kind=kind, body=body, **extra
    )


def test_transcript_is_plain_text_without_internal_notes(client, created):
    contact = Contact.objects.get(public_id=created["contact"]["id"])
    _add(contact, 1, "customer", "text", "Hei, tarvitsen apua")
    _add(contact, 2, "supporter", "text", "Hei! Autan mielelläni", author_name="Laura")
    _add(contact, 3, "supporter", "note", "SECRET internal note", author_name="Laura")
    _add(
        contact,
        4,
        "supporter",
        "article",
        "Pankkitunnukset",
        author_name="Laura",
        payload={"title": "Pankkitunnukset uuteen puhelimeen", "slug": "pankkitunnukset"},
    )
    response = client.get(f"/api/contacts/{contact.public_id}/transcript", **auth(created["token"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"].startswith("attachment;")
    text = response.content.decode()
    assert "Hei, tarvitsen apua" in text
    assert "Laura: Hei! Autan mielelläni" in text
    assert "SECRET" not in text
    assert "http://testserver/kb/pankkitunnukset/" in text
    assert text.index("tarvitsen") < text.index("Autan")


def test_transcript_needs_the_token(client, created):
    contact_id = created["contact"]["id"]
    assert client.get(f"/api/contacts/{contact_id}/transcript").status_code == 403
    other = make_contact_token(uuid.uuid4())
    assert client.get(f"/api/contacts/{contact_id}/transcript", **auth(other)).status_code == 404


# --- callback ----------------------------------------------------------------


def _callback(client, created, number, ip="127.0.0.1"):
    return client.post(
        f"/api/contacts/{created['contact']['id']}/callback",
        {"callback_number": number, "customer_key": "browser-key-12345678"},
        content_type="application/json",
        REMOTE_ADDR=ip,
        **auth(created["token"]),
    )


def test_callback_turns_the_waiting_chat_into_a_phone_contact(client, created):
    response = _callback(client, created, "040 123 4567")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "phone" and body["is_callback"] is True
    assert "callback_number" not in body
    callback = Contact.objects.get(public_id=body["id"])
    assert callback.callback_number == "+358401234567"
    assert callback.municipality.code == "091" and callback.topic.slug == "banking"
    chat = Contact.objects.get(public_id=created["contact"]["id"])
    assert chat.state == "abandoned"
    assert chat.events.filter(kind="abandoned", data__reason="callback_requested").exists()


@pytest.mark.parametrize("number", ["", "abc", "12", "+358 40 123 4567 123 456 789"])
def test_callback_rejects_bad_numbers_and_keeps_the_chat(client, created, number):
    response = _callback(client, created, number)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert Contact.objects.get(public_id=created["contact"]["id"]).state == "waiting"
    assert not Contact.objects.filter(is_callback=True).exists()


def test_callback_for_a_chat_that_is_no_longer_waiting_is_a_conflict(client, created):
    Contact.objects.filter(public_id=created["contact"]["id"]).update(state="active")
    response = _callback(client, created, "0401234567")
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


def test_callback_needs_the_right_token(client, created):
    wrong = dict(created, token=make_contact_token(uuid.uuid4()))
    assert _callback(client, wrong, "0401234567").status_code == 404


def test_callback_requests_are_rate_limited_per_address(client, created, ip, settings):
    settings.CALLBACK_RATE_LIMIT = "2/minute"
    # Refused requests count too: the limit is on trying numbers, not on successes.
    for _ in range(2):
        assert _callback(client, created, "abc", ip=ip).status_code == 400
    limited = _callback(client, created, "040 123 4567", ip=ip)
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert not Contact.objects.filter(is_callback=True).exists()
    assert Contact.objects.get(public_id=created["contact"]["id"]).state == "waiting"
    # Another address is not affected.
    other = f"198.51.100.{uuid.uuid4().int % 250}"
    assert _callback(client, created, "040 123 4567", ip=other).status_code == 201


# --- reference data ------------------------------------------------------------


def test_municipalities_all_and_search_in_both_languages(client, reference_data):
    from helpdesk.models import Municipality

    everything = client.get("/api/municipalities").json()
    assert len(everything) == Municipality.objects.count()
    assert client.get("/api/municipalities?q=porv").json()[0]["name_fi"] == "Porvoo"
    swedish = client.get("/api/municipalities?q=Borgå").json()
    assert swedish[0]["code"] == "638" and swedish[0]["name_sv"] == "Borgå"
    contains = [m["name_fi"] for m in client.get("/api/municipalities?q=järvi").json()]
    assert "Alajärvi" in contains
    assert client.get("/api/municipalities?q=zzzz").json() == []
    assert client.get("/api/municipalities?q=" + "a" * 101).status_code == 400


def test_topics_are_a_two_level_tree_in_the_asked_language(client, reference_data):
    tree = client.get("/api/topics?lang=sv").json()
    assert tree and all(category["topics"] for category in tree)
    banking = next(t for c in tree for t in c["topics"] if t["slug"] == "banking")
    assert banking["name"]
    english = client.get("/api/topics?lang=en").json()
    assert english[0]["name"] != tree[0]["name"]


def test_help_near_json(client, demo_network):
    body = client.get("/api/help-near?municipality=422").json()
    assert body["municipality"]["code"] == "422"
    names = {p["name"] for p in body["providers"]}
    assert {"Lieksan asiointipiste", "Joensuun kaupunginkirjasto"} <= names
    lieksa = next(p for p in body["providers"] if p["slug"] == "lieksan-asiointipiste")
    assert lieksa["address"] and lieksa["opening_hours"][0]["opens"] == "09:00"
    missing = client.get("/api/help-near")
    assert missing.status_code == 400 and missing.json()["error"] == "invalid"
    unknown = client.get("/api/help-near?municipality=999")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


# --- console endpoints ----------------------------------------------------------


@pytest.fixture
def team(reference_data):
    from helpdesk.models import CannedReply

    home = make_provider(name="Home library", municipalities=["091"])
    other = make_provider(name="Other provider", municipalities=["049"])
    CannedReply.objects.create(provider=home, language="fi", title="Hei", body="Hei!")
    CannedReply.objects.create(provider=home, language="sv", title="Hej", body="Hej!")
    CannedReply.objects.create(provider=other, language="fi", title="Muu", body="Ei näy")
    me = make_supporter(providers=[home], kind="volunteer", display_name="Me")
    colleague = make_supporter(providers=[home], display_name="Colleague")
    stranger = make_supporter(providers=[other], display_name="Stranger")
    return {"home": home, "other": other, "me": me, "colleague": colleague, "stranger": stranger}


def test_canned_replies_of_own_providers_only(client, team):
    client.force_login(team["me"].user)
    titles = {r["title"] for r in client.get("/api/console/canned-replies").json()}
    assert titles == {"Hei", "Hej"}
    swedish = client.get("/api/console/canned-replies?lang=sv").json()
    assert [r["title"] for r in swedish] == ["Hej"]
    assert client.get("/api/console/canned-replies?lang=de").status_code == 400


def test_transfer_targets(client, team):
    client.force_login(team["me"].user)
    body = client.get("/api/console/transfer-targets").json()
    assert [s["display_name"] for s in body["supporters"]] == ["Colleague"]
    assert {p["name"] for p in body["providers"]} >= {"Home library", "Other provider"}
    assert len(body["regions"]) >= 19 and all(len(r["code"]) == 2 for r in body["regions"])


@pytest.mark.parametrize("path", ["/api/console/canned-replies", "/api/console/transfer-targets"])
def test_console_endpoints_refuse_anonymous_and_non_supporters(client, team, path):
    anonymous = client.get(path)
    assert anonymous.status_code == 403 and anonymous.json()["error"] == "forbidden"
    client.force_login(make_user())
    wrong_role = client.get(path)
    assert wrong_role.status_code == 403
    assert wrong_role.json()["error"] == "not_allowed"


def test_me(client, team):
    assert client.get("/api/me").status_code == 403
    plain = make_user()
    client.force_login(plain)
    assert client.get("/api/me").json() == {"username": plain.username, "supporter": None}
    client.force_login(team["me"].user)
    me = client.get("/api/me").json()
    assert me["supporter"]["display_name"] == "Me"
    assert me["supporter"]["kind"] == "volunteer"
    assert [p["name"] for p in me["supporter"]["providers"]] == ["Home library"]


def test_schema_documents_every_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/contacts/",
        "/api/contacts/{public_id}/",
        "/api/contacts/{public_id}/callback",
        "/api/contacts/{public_id}/transcript",
        "/api/municipalities",
        "/api/topics",
        "/api/help-near",
        "/api/console/canned-replies",
        "/api/console/transfer-targets",
        "/api/me",
    ):
        assert path in paths, path
    token = paths["/api/contacts/{public_id}/"]["get"]["parameters"]
    assert any(p["name"] == "X-Contact-Token" and p["in"] == "header" for p in token)
