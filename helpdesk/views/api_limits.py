"""Rate limits on starting contacts beyond the per-address one (helpdesk/views/api.py).

Per browser: every start carries the browser's random customer key, and a
page reloaded in a loop starts contacts under one key from ever-changing
addresses. Per contact token: a callback request is made with the chat's
token, which must not become a way to flood the phone queue. Both use the
`limits` package's moving window in Redis when configured (shared by every
worker), like the per-address limit, and a start hits both in one round trip
(helpdesk/rate_limits.py).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from limits import parse

from helpdesk.rate_limits import MovingWindowThrottle


class _KeyedThrottle(MovingWindowThrottle):
    setting = ""
    scope = ""

    def key(self, request, view) -> str | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def limit(self, request, view):
        raw = self.key(request, view)
        if not raw:
            return None
        # Only a hash of a customer's key or token goes to Redis.
        ident = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return parse(getattr(settings, self.setting)), self.scope, ident


class PerCustomerKeyThrottle(_KeyedThrottle):
    """Contacts started by one browser (its customer key)."""

    setting = "CONTACT_CREATE_PER_KEY_RATE_LIMIT"
    scope = "contact-create-key"

    def key(self, request, view) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        value = data.get("customer_key")
        return value if isinstance(value, str) and value else None


class PerContactTokenThrottle(_KeyedThrottle):
    """Callback requests made with one contact token."""

    setting = "CALLBACK_PER_TOKEN_RATE_LIMIT"
    scope = "callback-token"

    def key(self, request, view) -> str | None:
        from helpdesk.views.api import TOKEN_HEADER

        return request.headers.get(TOKEN_HEADER) or None
