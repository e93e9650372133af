"""Starting contacts is rate-limited per address, per browser key and per contact token."""

from __future__ import annotations

import uuid

import pytest

from helpdesk.client_address import client_address


@pytest.fixture(autouse=True)
def limits(settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"
    settings.CALLBACK_RATE_LIMIT = "1000/minute"
    settings.CONTACT_CREATE_PER_KEY_RATE_LIMIT = "2/minute"
    settings.CALLBACK_PER_TOKEN_RATE_LIMIT = "2/minute"


def _address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250}"


def _start(client, key: str | None, ip: str):
    body = {"language": "fi", "municipality": "091", "topic": "banking", "consent": True}
    if key:
        body["customer_key"] = key
    return client.post("/api/contacts/", body, content_type="application/json", REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_one_browser_cannot_start_contacts_in_a_loop_from_changing_addresses(
    client, reference_data
):
    key = f"browser-{uuid.uuid4().hex[:16]}"
    assert _start(client, key, _address()).status_code == 201
    assert _start(client, key, _address()).status_code == 201
    limited = _start(client, key, _address())
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    # Another browser is not affected.
    assert _start(client, f"browser-{uuid.uuid4().hex[:16]}", _address()).status_code == 201


@pytest.mark.django_db
def test_callback_requests_are_limited_per_contact_token(client, reference_data):
    created = _start(client, None, _address()).json()
    public_id, token = created["contact"]["id"], created["token"]
    url = f"/api/contacts/{public_id}/callback"
    statuses = [
        client.post(
            url,
            {"callback_number": "040 123 4567"},
            content_type="application/json",
            HTTP_X_CONTACT_TOKEN=token,
            REMOTE_ADDR=_address(),
        ).status_code
        for _ in range(3)
    ]
    # The first turns the chat into a callback, the second finds it no longer
    # waiting, the third is refused before it reaches the service.
    assert statuses == [201, 409, 429]


def test_client_address_behind_trusted_proxies(settings):
    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.4"}
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(meta) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(meta) == "198.51.100.4"  # what our proxy saw, not what was claimed
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_address(meta) == "10.0.0.2"  # fewer hops than proxies: not trusted
    assert client_address({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "junk"}) == (
        "10.0.0.2"
    )
