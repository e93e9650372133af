"""Names of the platform's own Redis keys (presence, the suggestion queue).

They carry the channel layer's prefix, which already keeps deployments and
test runs that share one Redis apart for pub/sub; the keys must keep apart too.
"""

from __future__ import annotations

from django.conf import settings


def redis_key(*parts: object) -> str:
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    return ":".join([config.get("prefix") or "helpdesk", *map(str, parts)])
