"""The ICE servers and policy a video participant gets, from settings only.

Browsers and aiortc reach for a public STUN server when given no ICE servers;
the platform always hands its own list (possibly empty) and never a public
default, so no third party learns who talks to whom.

Relay-only: when the serving supporter may not learn the customer's address
(the `video_direct_path` permission: volunteers may not), both sides get
`iceTransportPolicy: "relay"`, so all media flows through the platform's TURN
server and each side sees only the relay's address. VIDEO_RELAY_POLICY=always
makes every contact relay-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from helpdesk.permissions import Action, Actor, can
from realtime.video import turn

STUN_SCHEMES = ("stun:", "stuns:")
TURN_SCHEMES = ("turn:", "turns:")
RELAY_POLICIES = ("volunteers", "always")


class RelayUnavailable(Exception):
    """Relay-only is required but no TURN server with credentials is configured."""


@dataclass(frozen=True, slots=True)
class IceConfig:
    ice_servers: list[dict] = field(default_factory=list)
    ice_transport_policy: str = "all"  # "all" | "relay", as in RTCConfiguration
    expires_at: datetime | None = None

    def as_frame(self) -> dict:
        return {
            "ice_servers": self.ice_servers,
            "ice_transport_policy": self.ice_transport_policy,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def _urls(value: str, schemes: tuple[str, ...], name: str) -> list[str]:
    urls = [part.strip() for part in (value or "").split(",") if part.strip()]
    for url in urls:
        if not url.startswith(schemes) or len(url) > 200 or any(c.isspace() for c in url):
            raise ImproperlyConfigured(f"{name} must be {' or '.join(schemes)} URLs, got {url!r}")
    return urls


def stun_urls() -> list[str]:
    return _urls(settings.STUN_URL, STUN_SCHEMES, "STUN_URL")


def turn_urls() -> list[str]:
    return _urls(settings.TURN_URL, TURN_SCHEMES, "TURN_URL")


def relay_policy() -> str:
    policy = getattr(settings, "VIDEO_RELAY_POLICY", "volunteers")
    if policy not in RELAY_POLICIES:
        raise ImproperlyConfigured(f"VIDEO_RELAY_POLICY must be one of {RELAY_POLICIES}")
    return policy


def relay_required(*, supporter_id: int | None, supporter_kind: str | None) -> bool:
    """Must media between the customer and this supporter go through the relay only?"""
    if relay_policy() == "always":
        return True
    actor = Actor(supporter_id=supporter_id, supporter_kind=supporter_kind)
    target = {"serving_supporter": supporter_id} if supporter_id else None
    return not can(actor, Action.VIDEO_DIRECT_PATH, target)


def _turn_server(peer_id: str, now: float | None) -> tuple[dict, datetime | None] | None:
    urls = turn_urls()
    if not urls:
        return None
    if settings.TURN_SECRET:
        cred = turn.issue(
            secret=settings.TURN_SECRET,
            peer_id=peer_id,
            ttl_s=settings.TURN_CREDENTIAL_TTL_S,
            now=now,
        )
        expires = datetime.fromtimestamp(cred.expires_at, tz=UTC)
        return {"urls": urls, "username": cred.username, "credential": cred.credential}, expires
    if settings.TURN_USERNAME and settings.TURN_CREDENTIAL:
        # Static long-term credentials: supported, but they never expire.
        server = {
            "urls": urls,
            "username": settings.TURN_USERNAME,
            "credential": settings.TURN_CREDENTIAL,
        }
        return server, None
    return None  # a TURN server without credentials cannot be used


def ice_config(*, peer_id: str, relay_only: bool, now: float | None = None) -> IceConfig:
    """The configuration for one participant (`peer_id` names the session and side)."""
    servers: list[dict] = []
    expires = None
    turn_server = _turn_server(peer_id, now)
    if relay_only:
        if turn_server is None:
            raise RelayUnavailable("this contact needs a TURN relay and none is configured")
        server, expires = turn_server
        return IceConfig([server], "relay", expires)
    stun = stun_urls()
    if stun:
        servers.append({"urls": stun})
    if turn_server is not None:
        server, expires = turn_server
        servers.append(server)
    return IceConfig(servers, "all", expires)


def relay_available() -> bool:
    return bool(turn_urls()) and bool(
        settings.TURN_SECRET or (settings.TURN_USERNAME and settings.TURN_CREDENTIAL)
    )
