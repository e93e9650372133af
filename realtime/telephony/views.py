"""The console's side of the phone: channel status, softphone token, connecting a call.

Thin JSON views for signed-in supporters (session and CSRF, like the rest of
the console). None of them returns a caller's number.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, JsonResponse
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from helpdesk import selectors
from helpdesk.services.errors import InvalidInput, ServiceError
from realtime.telephony import services
from realtime.telephony.signature import phone_configured

SDK_STATIC_PATH = "telephony/vendor/twilio-voice/twilio.min.js"


def _sdk_present() -> bool:
    found = finders.find(SDK_STATIC_PATH)
    if found:
        return True
    root = getattr(settings, "STATIC_ROOT", None)
    return bool(root) and (Path(root) / SDK_STATIC_PATH).is_file()


def softphone_possible() -> bool:
    return bool(
        phone_configured() and settings.TWILIO_API_KEY_SID and settings.TWILIO_API_KEY_SECRET
    )


def _json_error(exc: ServiceError) -> JsonResponse:
    return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.http_status)


def _supporter(request: HttpRequest):
    supporter = selectors.supporter_for_user(request.user)
    if supporter is None:
        return None, JsonResponse(
            {"error": "not_allowed", "detail": _("Only supporters can do this.")}, status=403
        )
    return supporter, None


def require_configured() -> None:
    if not phone_configured():
        raise InvalidInput(_("The phone channel is not configured."))


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object; anything else is a clear 400 (InvalidInput)."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        raise InvalidInput(_("The request is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise InvalidInput(_("The request is not valid JSON."))
    return body


@require_GET
def phone_status(request: HttpRequest) -> JsonResponse:
    supporter, denied = _supporter(request)
    if denied:
        return denied
    configured = phone_configured()
    sdk = _sdk_present()
    return JsonResponse(
        {
            "configured": configured,
            "softphone": configured and softphone_possible() and sdk,
            "sdk_installed": sdk,
            "sdk_url": static(SDK_STATIC_PATH) if sdk else None,
            "token_ttl_s": settings.TWILIO_TOKEN_TTL_S,
        }
    )


@require_POST
def token(request: HttpRequest) -> JsonResponse:
    """A short-lived access token for the browser softphone (Voice SDK, incoming calls)."""
    supporter, denied = _supporter(request)
    if denied:
        return denied
    if not softphone_possible():
        return JsonResponse(
            {"error": "not_configured", "detail": _("The browser phone is not configured.")},
            status=503,
        )
    from twilio.jwt.access_token import AccessToken
    from twilio.jwt.access_token.grants import VoiceGrant

    identity = services.client_identity(supporter)
    ttl = settings.TWILIO_TOKEN_TTL_S
    access = AccessToken(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_API_KEY_SID,
        settings.TWILIO_API_KEY_SECRET,
        identity=identity,
        ttl=ttl,
    )
    access.add_grant(
        VoiceGrant(
            outgoing_application_sid=settings.TWILIO_TWIML_APP_SID or None,
            incoming_allow=True,
        )
    )
    jwt = access.to_jwt()
    if isinstance(jwt, bytes):
        jwt = jwt.decode()
    return JsonResponse(
        {"token": jwt, "identity": identity, "ttl_s": ttl, "expires_at": int(time.time()) + ttl}
    )


@require_POST
def connect(request: HttpRequest, public_id: str) -> JsonResponse:
    """Bridge the supporter to the caller: {"via": "browser"} or {"via": "phone", "number": ...}."""
    supporter, denied = _supporter(request)
    if denied:
        return denied
    try:
        require_configured()
        body = json_body(request)
        state = services.connect(
            supporter=supporter,
            public_id=public_id,
            via=body.get("via"),
            number=body.get("number") or "",
        )
    except ServiceError as exc:
        return _json_error(exc)
    return JsonResponse({"state": state})


@require_POST
def hold(request: HttpRequest, public_id: str) -> JsonResponse:
    """Put the connected caller on hold (the wait music); connecting again resumes."""
    supporter, denied = _supporter(request)
    if denied:
        return denied
    try:
        require_configured()
        services.hold(supporter=supporter, public_id=public_id)
    except ServiceError as exc:
        return _json_error(exc)
    return JsonResponse({"state": "on_hold"})
