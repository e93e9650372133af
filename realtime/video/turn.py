"""TURN credentials by the TURN REST API shared-secret scheme (coturn --use-auth-secret).

The platform and the TURN server share one secret; nothing is stored per user.
For each participant of a video session the platform makes a username
"<expiry unix time>:<peer id>" and its password base64(HMAC-SHA1(secret,
username)). The TURN server recomputes the HMAC and refuses a username whose
time has passed, so a credential that leaks stops working by itself.
The peer id names a session and a side, never a person.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

# coturn splits the username at its REST API separator (":" by default).
_PEER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class TurnCredential:
    username: str
    credential: str
    expires_at: int  # unix time


def credential_for(username: str, *, secret: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def issue(*, secret: str, peer_id: str, ttl_s: int, now: float | None = None) -> TurnCredential:
    """A credential for `peer_id` valid for `ttl_s` seconds from `now`."""
    if not secret:
        raise ValueError("TURN secret is empty")
    if not _PEER_ID.match(peer_id):
        raise ValueError("peer id must be 1-64 characters of A-Z a-z 0-9 . _ -")
    if ttl_s <= 0:
        raise ValueError("TTL must be positive")
    expires_at = int(time.time() if now is None else now) + int(ttl_s)
    username = f"{expires_at}:{peer_id}"
    return TurnCredential(username, credential_for(username, secret=secret), expires_at)


def is_valid(username: str, credential: str, *, secret: str, now: float | None = None) -> bool:
    """What the TURN server checks: the HMAC matches and the time has not passed."""
    expiry, sep, _peer = username.partition(":")
    if not sep or not expiry.isdigit():
        return False
    if int(expiry) <= int(time.time() if now is None else now):
        return False
    return hmac.compare_digest(credential_for(username, secret=secret), credential)
