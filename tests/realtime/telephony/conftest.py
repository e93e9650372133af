"""Phone test fixtures: Twilio settings, the call driver and the REST stand-in."""

from __future__ import annotations

import contextlib

import pytest

from realtime.telephony import client
from realtime.telephony.driver import (
    CallDriver,
    DjangoTransport,
    HttpTransport,
    StandInHttpClient,
    TwilioStandIn,
    serve_stand_in,
)

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PLATFORM_NUMBER = "+358291234567"
PUBLIC = "https://tuki.example.fi"
JOENSUU_LANDLINE = "+358131234567"
MOBILE = "+358401234567"

PHONE_ENV = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_PHONE_NUMBER": PLATFORM_NUMBER,
    "TWILIO_API_KEY_SID": "SK" + "0" * 32,
    "TWILIO_API_KEY_SECRET": "test-api-key-secret-0123456789abcdef",
    "PUBLIC_BASE_URL": PUBLIC,
    "KANSALAISNEUVONTA_PHONE": "0295 000 000",
}


def http_driver(server_url: str) -> CallDriver:
    """A call driver sending its webhooks to a live server, as Twilio does through a TLS proxy."""
    return CallDriver(
        public_base_url=PUBLIC,
        auth_token=AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        platform_number=PLATFORM_NUMBER,
        transport=HttpTransport(PUBLIC, server_url, proxy_proto="https"),
    )


@contextlib.contextmanager
def live_phone_server(asgi_servers, *, answer_placed_calls: bool = False, **env):
    """One live server with the phone channel on, its Twilio REST stand-in and a call
    driver aimed at it: (server, driver, stand_in). With answer_placed_calls, every call
    the platform places (a callback, a transfer) is answered at once."""
    stand_in = TwilioStandIn(account_sid=ACCOUNT_SID)
    rest, rest_url = serve_stand_in(stand_in)
    try:
        (server,) = asgi_servers(1, **PHONE_ENV, TWILIO_API_BASE_URL=rest_url, **env)
        driver = http_driver(server.url)
        stand_in.driver = driver
        if answer_placed_calls:
            stand_in.on_placed = lambda placed: placed.answer_in_thread()
        yield server, driver, stand_in
    finally:
        rest.shutdown()
        rest.server_close()


@pytest.fixture
def phone_settings(settings):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_PHONE_NUMBER = PLATFORM_NUMBER
    settings.TWILIO_API_KEY_SID = PHONE_ENV["TWILIO_API_KEY_SID"]
    settings.TWILIO_API_KEY_SECRET = PHONE_ENV["TWILIO_API_KEY_SECRET"]
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.KANSALAISNEUVONTA_PHONE = PHONE_ENV["KANSALAISNEUVONTA_PHONE"]
    # The webhooks' own thread pool would not see this test's uncommitted rows.
    settings.PHONE_WEBHOOK_THREADS = 0
    settings.ALLOWED_HOSTS = ["testserver", "tuki.example.fi", "127.0.0.1", "localhost"]
    return settings


@pytest.fixture(autouse=True)
def _fresh_menus():
    from realtime.telephony import services

    services._menu_cache.clear()
    services._opening_cache.clear()
    yield
    services._menu_cache.clear()
    services._opening_cache.clear()


@pytest.fixture
def driver(phone_settings):
    return CallDriver(
        public_base_url=PUBLIC,
        auth_token=AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        platform_number=PLATFORM_NUMBER,
        transport=DjangoTransport(PUBLIC),
    )


@pytest.fixture
def stand_in(driver):
    """The platform's REST calls go to this stand-in, in-process."""
    fake = TwilioStandIn(driver)
    client.http_client_override = StandInHttpClient(fake)
    yield fake
    client.http_client_override = None
