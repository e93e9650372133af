"""The address a request came from, behind TRUSTED_PROXY_COUNT reverse proxies.

Each trusted proxy appends the address it received the request from to
X-Forwarded-For, so the client is the entry that many places from the right.
Anything further left was written by the client and is not trusted. Without
trusted proxies the connection's own address counts.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_address(meta) -> str:
    """The client's address from a request's META (or an ASGI scope's headers dict)."""
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    remote = meta.get("REMOTE_ADDR") or "unknown"
    if proxies <= 0:
        return remote
    hops = [h.strip() for h in (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if h.strip()]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
