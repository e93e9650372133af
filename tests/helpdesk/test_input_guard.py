"""No input reaches a server error over HTTP: API, pages, forms and webhooks alike.

Each case answered 500 before helpdesk/input_guard.py; now each is a 4xx in
the API's error shape (JSON with `error`) on API paths.
"""

import json

import pytest

from helpdesk.models import Contact
from tests.helpdesk.test_api import auth, post_contact

pytestmark = pytest.mark.django_db

API_GETS = [
    "/api/municipalities?q=%00",
    "/api/municipalities?q%00=x",
    "/api/topics?language=%00",
    "/api/help-near?municipality=%00",
    "/kb/api/for-topic?topic=%00",
    "/kb/api/search?q=%00",
]
PAGE_GETS = ["/widget/?topic=%00", "/?municipality=%00", "/kb/?q=%00", "/chat/?lang=%00"]


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"
    settings.CALLBACK_RATE_LIMIT = "1000/minute"


@pytest.fixture
def raw(client):
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize("url", API_GETS)
def test_nul_in_an_api_query_is_invalid(raw, reference_data, url):
    response = raw.get(url)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


@pytest.mark.parametrize("url", PAGE_GETS)
def test_nul_in_a_page_query_is_a_plain_400(raw, reference_data, url):
    assert raw.get(url).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        "[" * 50_000 + "]" * 50_000,  # RecursionError in the parser
        json.dumps(
            {
                "language": "fi",
                "consent": True,
                "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
            }
        ),
        '{"language": "\\ud800", "consent": true}',
        '{"language": "fi", "consent": true, "description": "a\\u0000b"}',
        '{"language": "fi", "consent": true, "municipality": "\\udfff"}',
        '{"language": "fi", "consent": true, "description": NaN}',
        '{"language": "fi", "consent": true, "priority": 1e999}',
        '{"language": "fi", "consent": true, "\\u0000": 1}',
        '{"language": 10' + "0" * 5000 + "}",
        '{"language": ["fi"], "consent": "yes", "municipality": {"a": 1}}',
    ],
)
def test_bad_json_bodies_are_invalid(raw, reference_data, body):
    response = raw.post("/api/contacts/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["error"] == "invalid"
    assert not Contact.objects.exists()


def test_a_body_over_the_upload_limit_is_too_large(raw, reference_data, settings):
    body = json.dumps({"language": "fi", "consent": True, "description": "x" * 3_000_000})
    response = raw.post("/api/contacts/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_the_callback_endpoint_refuses_the_same(raw, reference_data):
    created = post_contact(raw, "10.9.9.9").json()
    url = f"/api/contacts/{created['contact']['id']}/callback"
    for body in ['{"callback_number": "\\ud800"}', "[" * 50_000, '{"callback_number": "0\\u0000"}']:
        response = raw.post(url, body, content_type="application/json", **auth(created["token"]))
        assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert Contact.objects.get(public_id=created["contact"]["id"]).state == "waiting"


def test_nul_in_a_form_post_is_refused(raw, reference_data):
    response = raw.post("/console/login/", {"username": "a\x00", "password": "x"})
    assert response.status_code == 400


def test_the_description_is_masked_before_storage(raw, reference_data):
    created = post_contact(raw, "10.9.9.8", description="hetuni on 131052-308T, auta").json()
    stored = Contact.objects.get(public_id=created["contact"]["id"]).description
    assert "131052-308T" not in stored and "auta" in stored


def test_an_offered_chat_can_become_a_callback(raw, reference_data):
    created = post_contact(raw, "10.9.9.7").json()
    Contact.objects.filter(public_id=created["contact"]["id"]).update(state="offered")
    response = raw.post(
        f"/api/contacts/{created['contact']['id']}/callback",
        {"callback_number": "040 123 4567"},
        content_type="application/json",
        **auth(created["token"]),
    )
    assert response.status_code == 201, response.content
    assert Contact.objects.get(public_id=created["contact"]["id"]).state == "abandoned"
