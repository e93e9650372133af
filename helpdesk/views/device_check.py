"""The device check: its page and its one endpoint, POST /api/device-check/.

The endpoint is for anonymous customers: no session, no token, no cookie is
read, so a forged cross-site request gains nothing it could not get itself;
it accepts `application/json` only (a cross-site form cannot send that
without a CORS preflight, which is not answered). It is an async view so that
the peer lives on the worker's event loop after the answer has gone out;
`realtime.video.device_check` owns the peer from there. Rate-limited per
client address with `limits` (shared through Redis when configured).
Errors are JSON {"error": code, "detail": ...} as in the rest of the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from helpdesk.input_guard import checks_own_body
from helpdesk.rate_limits import key_prefix
from helpdesk.services.errors import InvalidInput, ServiceError
from realtime.video.device_check import MAX_SDP_CHARS, browser_ice_servers, registry

log = logging.getLogger(__name__)

RATE_SCOPE = "device-check"

# An async storage belongs to the event loop it was made on (one per worker;
# one per test).
_limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _limiter() -> MovingWindowRateLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        if settings.REDIS_URL:
            storage = storage_from_string(
                f"async+{settings.REDIS_URL}", implementation="redispy", key_prefix=key_prefix()
            )
        else:
            storage = storage_from_string("async+memory://")
        limiter = _limiters[loop] = MovingWindowRateLimiter(storage)
    return limiter


async def _rate_limited(request) -> float | None:
    """Seconds to wait when this address is over the limit, else None."""
    item = parse(settings.DEVICE_CHECK_RATE_LIMIT)
    ident = request.META.get("REMOTE_ADDR") or "unknown"
    try:
        limiter = _limiter()
        if await limiter.hit(item, RATE_SCOPE, ident):
            return None
        stats = await limiter.get_window_stats(item, RATE_SCOPE, ident)
        return max(stats.reset_time - time.time(), 1.0)
    except Exception:
        # A Redis outage must not lock customers out of the check.
        log.warning("device check rate limiter unavailable; allowing", exc_info=True)
        return None


def _error(code: str, detail: str, status: int, **headers) -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _offer_from(request) -> object:
    content_type = request.content_type or ""
    if content_type != "application/json":
        raise InvalidInput("Send the offer as JSON (Content-Type: application/json).")
    try:
        body = request.body
    except RequestDataTooBig:
        raise InvalidInput("The request is too large.") from None
    if len(body) > MAX_SDP_CHARS + 1024:
        raise InvalidInput(f"The offer is too long (at most {MAX_SDP_CHARS} characters).")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("The body is not valid JSON.") from None
    if not isinstance(data, dict) or data.get("type") != "offer":
        raise InvalidInput('Send {"type": "offer", "sdp": "..."}.')
    return data.get("sdp")


@csrf_exempt
@require_POST
@checks_own_body  # its own size, JSON and text checks answer with their own details
async def device_check_offer(request):
    retry_after = await _rate_limited(request)
    if retry_after is not None:
        return _error(
            "rate_limited",
            "Too many device checks from this address; try again in a minute.",
            429,
            Retry_After=str(int(retry_after)),
        )
    try:
        check = await registry.start(offer_sdp=_offer_from(request))
    except ServiceError as exc:
        headers = {"Retry_After": "5"} if exc.http_status == 503 else {}
        return _error(exc.code, exc.message, exc.http_status, **headers)
    response = JsonResponse(
        {
            "type": "answer",
            "sdp": check.answer_sdp,
            "check": check.id,
            "duration_s": check.params.duration_s,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def device_check_page(request):
    response = render(
        request,
        "helpdesk/device_check.html",
        {
            "ice_servers": browser_ice_servers(),
            "duration_s": settings.DEVICE_CHECK_DURATION_S,
        },
    )
    response["Cache-Control"] = "no-store"  # it carries a short-lived TURN credential
    return response
