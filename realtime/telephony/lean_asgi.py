"""The voice webhooks' own way in under ASGI: a short path for Twilio's POSTs.

Twilio's requests need none of what pages need (sessions, CSRF, sign-in,
second factor, messages, locale negotiation, CSP, static files, lockouts),
and under ASGI each sync-only middleware of the full stack costs a hop to a
thread, with a thread started per request to keep them apart. Measured with
bench/twilio_webhook_cost.py, that stack cost more server CPU than a wait-loop
webhook's own work.

`VoiceWebhookRouter` answers paths under /telephony/voice/ itself and hands
everything else to Django's full handler. For each webhook it keeps what the
full stack gives a machine-to-machine request:

- the request id (X-Request-ID in and out, on every log line), as
  helpdesk/logging_context.py's middleware does;
- the allowed-hosts check and the input guard (helpdesk/input_guard.py):
  NUL, lone surrogates, too many fields or a body over
  DATA_UPLOAD_MAX_MEMORY_SIZE get their 4xx before any view runs;
- the default language, as LocaleMiddleware picks it for a client (Twilio)
  that asks for none;
- errors as answers: a view that raises gets a logged plain-text 500, never
  a dropped connection.

The views are the same async views the full stack serves (webhooks.py, through
signature.py's `twilio_webhook`, which checks the signature and runs the body
on the webhook pool of runner.py, or a one-statement webhook's statement from
the event loop); only a view so marked is served here.
Django's request_started/request_finished signals are not sent: they look
after the database connection of the request's own thread, and this path
uses none (the pool's threads keep theirs, runner.py; the loop's statements
use helpdesk/db_async.py's pool).
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse
from django.urls import Resolver404, get_resolver
from django.utils import translation

from helpdesk import logging_context
from helpdesk.input_guard import InputGuardMiddleware

log = logging.getLogger(__name__)

PREFIX = "/telephony/voice/"


def _plain(status: int, text: str) -> HttpResponse:
    return HttpResponse(f"{text}\n", status=status, content_type="text/plain; charset=utf-8")


class _TooLarge(Exception):
    pass


class VoiceWebhookRouter:
    """ASGI: /telephony/voice/ webhooks on the short path, all other HTTP to `fallback`."""

    def __init__(self, fallback):
        self.fallback = fallback
        # The guard's checks, without its place in a middleware chain.
        self.guard = InputGuardMiddleware(lambda request: None)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(PREFIX):
            return await self.fallback(scope, receive, send)
        view = self._resolve(scope["path"])
        if view is None:
            return await self.fallback(scope, receive, send)
        callback, args, kwargs = view
        given = next((v for k, v in scope.get("headers", ()) if k.lower() == b"x-request-id"), b"")
        rid = logging_context.request_id_for(given.decode("latin-1"))
        token = logging_context.request_id.set(rid)
        try:
            try:
                body = await _read_body(receive)
            except _TooLarge:
                return await _send(send, _plain(413, "The request body is too large."), rid)
            except ConnectionError:
                return  # the client went away before it finished sending
            request = ASGIRequest(scope, io.BytesIO(body))
            request.request_id = rid
            response = await self._respond(request, callback, args, kwargs)
        finally:
            logging_context.request_id.reset(token)
        await _send(send, response, rid)

    @staticmethod
    def _resolve(path: str):
        return _resolve(get_resolver(), path)

    async def _respond(self, request, callback, args, kwargs) -> HttpResponse:
        try:
            request.get_host()
            refused = self.guard.check(request)
            if refused is not None:
                return refused
            with translation.override(settings.LANGUAGE_CODE):
                return await callback(request, *args, **kwargs)
        except RequestDataTooBig:
            return _plain(413, "The request body is too large.")
        except DisallowedHost:
            return _plain(400, "Bad request.")
        except (BadRequest, SuspiciousOperation):
            return _plain(400, "Bad request.")
        except PermissionDenied:
            return _plain(403, "Forbidden.")
        except Http404:
            return _plain(404, "Not found.")
        except Exception:
            log.exception("voice webhook %s failed", request.path)
            return _plain(500, "Server error.")


# Resolving walks the whole URLconf (some 4% of a webhook's CPU): the few
# webhook paths are resolved once per URLconf. Bounded, since a client picks
# the path; a path that resolves to no voice webhook is kept as None.
@lru_cache(maxsize=256)
def _resolve(resolver, path: str):
    try:
        match = resolver.resolve(path)
    except Resolver404:
        return None
    if not getattr(match.func, "voice_webhook", False):
        return None
    return match.func, tuple(match.args), dict(match.kwargs)


async def _read_body(receive) -> bytes:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send, response: HttpResponse, rid: str) -> None:
    response["X-Request-ID"] = rid
    response["Content-Length"] = str(len(response.content))
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
