"""Only Twilio may call the voice webhooks: check X-Twilio-Signature.

Twilio signs the exact URL it called. Behind a TLS-terminating proxy Django
sees `http://` and an internal host, so the URL is rebuilt from the
configured PUBLIC_BASE_URL and the request path (never from the request's own
host or scheme, which a client chooses). The POST data is validated as
received. A request that fails is answered 403 before any state changes.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator, add_port, compare, remove_port

from realtime.telephony import runner

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_TWILIO_SIGNATURE"


def phone_configured() -> bool:
    return bool(
        settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_PHONE_NUMBER
    )


def public_url(request: HttpRequest) -> str:
    """The URL Twilio called, as the public sees it."""
    return settings.PUBLIC_BASE_URL + request.get_full_path()


def is_signed(request: HttpRequest) -> bool:
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not signature or not isinstance(signature, str) or len(signature) > 200:
        return False
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    # What RequestValidator.validate accepts for form data: the signature of
    # the URL without its port or with it (Twilio signs either way). validate
    # computes both every time; stopping at the first that matches gives the
    # same answer for half the work on a request signed the usual way.
    parsed = urlparse(public_url(request))
    return any(
        compare(validator.compute_signature(url, request.POST), signature)
        for url in (remove_port(parsed), add_port(parsed))
    )


def twilio_webhook(view, *, on_loop=None):
    """Wrap a webhook view: 503 unless configured, 405 unless POST, 403 unless signed.

    The result is an async view; `view` itself runs on the webhook pool
    (runner.py) only once the request is known to come from Twilio. `on_loop`,
    an async view doing the same, answers instead where runner.on_loop() says
    the event loop may run its statement.
    """

    async def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not phone_configured():
            return HttpResponse(
                "The phone channel is not configured on this server.\n",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            signed = is_signed(request)
        except (RequestDataTooBig, BadRequest, ValueError):
            return HttpResponse("Bad request.\n", status=400, content_type="text/plain")
        if not signed:
            log.warning("voice webhook %s: missing or bad signature", request.path)
            return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
        if on_loop is not None and runner.on_loop():
            return await on_loop(request, *args, **kwargs)
        return await runner.run(view, request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    # Served by the short ASGI path too (lean_asgi.py); the mark survives csrf_exempt.
    wrapped.voice_webhook = True
    return csrf_exempt(wrapped)
