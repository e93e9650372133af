"""Content-Security-Policy: django-csp's policy plus what depends on the request.

The base policy is CONTENT_SECURITY_POLICY in settings (no inline scripts or
styles anywhere: every page loads its JS and CSS from our static files). This
middleware adds, per request, the WebSocket origins of the host the page was
served from (connect-src; 'self' covers ws(s) only in newer browsers), and lets
the widget views widen frame-ancestors for the site the widget is meant for.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of a URL, or None when it has no http(s) origin."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def widget_frame_ancestors(provider=None) -> list[str]:
    """Who may frame the widget: our own pages, the allow-list, and the provider's site."""
    ancestors = ["'self'", *settings.WIDGET_FRAME_ANCESTORS]
    website = origin_of(getattr(provider, "website", "") or "")
    if website and website not in ancestors:
        ancestors.append(website)
    return ancestors


def allow_framing_by(response, ancestors: list[str]):
    """Mark a response as frameable by these origins (frame-ancestors replaces 'none')."""
    replace = dict(getattr(response, "_csp_replace", None) or {})
    replace["frame-ancestors"] = ancestors
    response._csp_replace = replace
    return response


class HelpdeskCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except Exception:  # DisallowedHost: the response is an error page anyway
            return parts
        update = dict(parts.update or {})
        extra = [f"ws://{host}", f"wss://{host}"]
        update["connect-src"] = [*update.get("connect-src", []), *extra]
        parts.update = update
        return parts
