"""POST /api/contacts/ on a short ASGI path: one hop to a thread, the full middleware there.

Django's ASGI handler runs each sync-only middleware (request id, input
guard, second factor, static files...) in a hop to a thread, and starts a
thread per request to keep requests apart; bench/intake_cost.py measured
those hops at about a quarter of a creation's server CPU. A surge of "start
chat" presses is the one place where that matters.

`ContactIntakeRouter` takes POST /api/contacts/ itself and hands everything
else (other methods and paths) to Django's full handler. It reads the body on
the event loop as Django does, then runs Django's *synchronous* handler (the
same MIDDLEWARE in the same order, built by Django's own `load_middleware`)
with the same DRF view (`api.ContactCreateView`) in one hop to an intake
thread (helpdesk/views/intake.py). So the endpoint keeps, by construction,
what the full stack gives it: request id, security and CSP headers, allowed
hosts, the input guard, locale negotiation (the fi/sv/en messages), sessions
and CSRF as they are, throttling, JSON errors and logged 500s.
tests/helpdesk/test_intake_asgi.py sends the same requests through both paths
and compares the answers.

Events the creation publishes after commit are collected in the thread and
sent from the event loop before the answer goes out (realtime.events
`collecting`, as the chat consumers do): no second hop back to the loop.
request_started is not sent: its receiver would close the intake thread's
database connection, which that thread keeps (views/intake.py); the
response's close sends request_finished on the loop, as Django's handler
sends it from a thread of its own, never the intake thread.
"""

from __future__ import annotations

from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.urls import set_script_prefix

from realtime import events

PATH = "/api/contacts/"


class _IntakeHandler(ASGIHandler):
    """Django's ASGI request reading and answer sending around its synchronous chain."""

    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    def resolve_request(self, request):
        from helpdesk.views import intake

        match = super().resolve_request(request)
        if match.func is intake.contact_create:
            # That async wrapper only hops to the intake threads, where this
            # request already is: call the DRF view itself.
            match.func = intake.create_view
        return match

    def respond(self, request):
        """In an intake thread: the answer, rendered, and the events to send after it."""
        with events.collecting() as collected:
            response = self.get_response(request)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        response._handler_class = self.__class__
        return response, collected


class ContactIntakeRouter:
    """ASGI: POST /api/contacts/ on the short path, all other HTTP to `fallback`."""

    def __init__(self, fallback):
        self.fallback = fallback
        self._handler: _IntakeHandler | None = None

    def _intake_handler(self) -> _IntakeHandler:
        if self._handler is None:
            self._handler = _IntakeHandler()
        return self._handler

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") != PATH
            or scope.get("root_path")
        ):
            return await self.fallback(scope, receive, send)
        from helpdesk.views import intake

        handler = self._intake_handler()
        try:
            body = await handler.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            request, error = handler.create_request(scope, body)
            if request is None:
                response, collected = error, []
            else:
                response, collected = await intake.run(handler.respond, request)
            await events.send_collected(collected)
            await handler.send_response(response, send)
            response.close()
        finally:
            body.close()
