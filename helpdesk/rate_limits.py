"""Moving-window rate limits of the customer API, the limits a request has hit together.

The limits live in Redis when it is configured (shared by every worker
process), else in this process's memory. Each is the `limits` package's
moving window: a Redis list of the hits' timestamps, newest first, at most
`limit` long. A contact start is checked against two limits (per address and
per browser key), and each hit of the `limits` package is a Redis round trip
of its own; in a surge of "start chat" presses those round trips were a tenth
of a creation's server CPU (bench/intake_cost.py). So `hit_all` hits several
windows in one Lua script that does to each list what the package's own
script does for one hit, and `ThrottledTogether` makes a DRF view hit all its
`MovingWindowThrottle`s that way. DRF checks every throttle of a view even
after one refused, and so does this: the outcome is the same as one hit
after another, in one round trip.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from limits import RateLimitItem
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from rest_framework.throttling import BaseThrottle

log = logging.getLogger(__name__)

# KEYS: the windows; ARGV: the time, then each window's limit and expiry.
# Per window as limits' acquire_moving_window.lua with amount 1.
_HIT_ALL = """
local now = tonumber(ARGV[1])
local answers = {}
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[2 * i])
    local expiry = tonumber(ARGV[2 * i + 1])
    local allowed = 0
    if limit >= 1 then
        local entry = redis.call('lindex', key, limit - 1)
        if not (entry and tonumber(entry) >= now - expiry) then
            redis.call('lpush', key, ARGV[1])
            redis.call('ltrim', key, 0, limit - 1)
            redis.call('expire', key, expiry)
            allowed = 1
        end
    end
    answers[i] = allowed
end
return answers
"""

_limiters: dict[tuple[str, str], MovingWindowRateLimiter] = {}
_scripts: dict[int, object] = {}


def key_prefix() -> str:
    """The limits' keys sit under the channel layer's prefix, like the platform's other
    Redis keys: deployments and parallel test runs sharing one Redis count apart."""
    from realtime.redis_keys import redis_key

    return redis_key("limits")


def limiter() -> MovingWindowRateLimiter:
    """The moving-window limiter on REDIS_URL (or in memory without one)."""
    url = settings.REDIS_URL or "memory://"
    prefix = key_prefix()
    if (url, prefix) not in _limiters:
        options = {"key_prefix": prefix} if settings.REDIS_URL else {}
        _limiters[url, prefix] = MovingWindowRateLimiter(storage_from_string(url, **options))
    return _limiters[url, prefix]


Hit = tuple[RateLimitItem, str, str]
"""(limit, scope, identifier) of one hit."""


def hit_all(hits: list[Hit]) -> list[bool]:
    """Hit every window once; whether each had room. One Redis round trip for them all.

    A storage other than plain Redis (memory, cluster, sentinel) is hit one
    window after another. Raises what the storage raises (Redis away).
    """
    if not hits:
        return []
    moving = limiter()
    storage = moving.storage
    if type(storage) is not RedisStorage or len(hits) == 1:
        return [moving.hit(item, scope, ident) for item, scope, ident in hits]
    client = storage.get_connection()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_HIT_ALL)
    keys, args = [], [time.time()]
    for item, scope, ident in hits:
        keys.append(storage.prefixed_key(item.key_for(scope, ident)))
        args += [item.amount, item.get_expiry()]
    return [bool(answer) for answer in script(keys, args)]


class MovingWindowThrottle(BaseThrottle):
    """A DRF throttle on one moving window, named by `limit`; refused: Retry-After from it."""

    def __init__(self) -> None:
        self._retry_after: float | None = None

    def limit(self, request, view) -> tuple[RateLimitItem, str, str] | None:
        """(limit, scope, identifier) this request counts against; None: not limited."""
        raise NotImplementedError

    def retry_after(self, item: RateLimitItem, scope: str, ident: str) -> float:
        reset_at, _remaining = limiter().get_window_stats(item, scope, ident)
        return max(reset_at - time.time(), 1)

    def refused(self, hit: Hit) -> None:
        try:
            self._retry_after = self.retry_after(*hit)
        except Exception:
            log.warning("rate limiter unavailable for Retry-After", exc_info=True)
            self._retry_after = float(hit[0].get_expiry())
        log.info("rate limit %s reached", hit[1])

    def allow_request(self, request, view) -> bool:
        return check([self], request, view) == []

    def wait(self) -> float | None:
        return self._retry_after


def check(throttles: list[MovingWindowThrottle], request, view) -> list[MovingWindowThrottle]:
    """Hit every throttle's window in one go; the throttles that refused."""
    hits: list[tuple[MovingWindowThrottle, Hit]] = []
    for throttle in throttles:
        hit = throttle.limit(request, view)
        if hit is not None:
            hits.append((throttle, hit))
    try:
        answers = hit_all([hit for _throttle, hit in hits])
    except Exception:
        # A Redis outage must not lock customers out of help.
        log.warning("rate limiter unavailable; allowing request", exc_info=True)
        return []
    refused = []
    for (throttle, hit), allowed in zip(hits, answers, strict=True):
        if not allowed:
            throttle.refused(hit)
            refused.append(throttle)
    return refused


class ThrottledTogether:
    """APIView mixin: the view's moving-window throttles are hit in one round trip."""

    def check_throttles(self, request):
        throttles = self.get_throttles()
        together = [t for t in throttles if isinstance(t, MovingWindowThrottle)]
        refused = check(together, request, self)
        refused += [
            t
            for t in throttles
            if not isinstance(t, MovingWindowThrottle) and not t.allow_request(request, self)
        ]
        if refused:
            durations = [d for d in (t.wait() for t in refused) if d is not None]
            self.throttled(request, max(durations, default=None))
