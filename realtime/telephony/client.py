"""The one place that calls Twilio's REST API.

Two things need it: moving a caller out of the waiting queue to the TwiML
that dials their supporter, and dialling a callback with the platform's own
number as the caller id. The `Client` is built with an injectable
`http_client` (tests pass a `twilio.http.HttpClient` subclass that answers
locally); TWILIO_API_BASE_URL points the real HTTP client at a local
stand-in for live-server tests and the demo. Nothing here logs a number.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from helpdesk.services.errors import ServiceError

log = logging.getLogger(__name__)

TWILIO_API_ORIGIN = "https://api.twilio.com"
REST_TIMEOUT_S = 10.0

# Set by tests (an in-process stand-in); None means the real HTTP client.
http_client_override: HttpClient | None = None


class TelephonyUnavailable(ServiceError):
    """Twilio could not be reached or refused the request."""

    code = "phone_unavailable"
    http_status = 503


class RebasedHttpClient(TwilioHttpClient):
    """Sends what would go to api.twilio.com to another origin (a local stand-in)."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(timeout=REST_TIMEOUT_S, **kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, uri, *args, **kwargs):
        parts = urlsplit(uri)
        rebased = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, rebased, *args, **kwargs)


def _http_client() -> HttpClient:
    if http_client_override is not None:
        return http_client_override
    if settings.TWILIO_API_BASE_URL:
        return RebasedHttpClient(settings.TWILIO_API_BASE_URL)
    return TwilioHttpClient(timeout=REST_TIMEOUT_S)


def get_client(http_client: HttpClient | None = None) -> Client:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        raise TelephonyUnavailable(_("The phone channel is not configured."))
    return Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=http_client or _http_client(),
    )


def redirect_call(*, call_sid: str, url: str) -> None:
    """Move a live call (e.g. out of the waiting queue) to the TwiML at `url`."""
    try:
        get_client().calls(call_sid).update(url=url, method="POST")
    except TwilioException as exc:
        log.warning("redirect of call %s failed: %s", call_sid[-6:], type(exc).__name__)
        raise TelephonyUnavailable(_("The call could not be connected. Try again.")) from exc
    log.info("call %s redirected", call_sid[-6:])


def hang_up(*, call_sid: str) -> None:
    try:
        get_client().calls(call_sid).update(status="completed")
    except TwilioException as exc:
        log.warning("hang-up of call %s failed: %s", call_sid[-6:], type(exc).__name__)
        raise TelephonyUnavailable(_("The call could not be ended. Try again.")) from exc


def dial(*, to: str, url: str, status_callback: str) -> str:
    """Place an outgoing call from the platform's number; returns its CallSid."""
    try:
        call = get_client().calls.create(
            to=to,
            from_=settings.TWILIO_PHONE_NUMBER,
            url=url,
            method="POST",
            status_callback=status_callback,
            status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
        )
    except TwilioException as exc:
        log.warning("outgoing call failed: %s", type(exc).__name__)
        raise TelephonyUnavailable(_("The callback could not be dialled. Try again.")) from exc
    log.info("outgoing call %s placed", call.sid[-6:])
    return call.sid
