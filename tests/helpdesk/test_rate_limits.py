"""helpdesk.rate_limits: a request's moving-window limits hit together, in one Redis round trip."""

from __future__ import annotations

import random
import uuid

import pytest
from limits import parse
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from helpdesk import rate_limits


@pytest.fixture
def redis_limiter():
    moving = rate_limits.limiter()
    if type(moving.storage) is not RedisStorage:
        pytest.skip("the one-round-trip path is Redis's; REDIS_URL is not a plain redis://")
    return moving


def _redis_commands(moving, monkeypatch) -> list[str]:
    """The commands the limiter's Redis client sends from now on."""
    client = moving.storage.get_connection()
    sent: list[str] = []
    original = client.execute_command

    def counting(*args, **options):
        sent.append(str(args[0]))
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", counting)
    return sent


def _address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250}"


def _start(client, key: str, ip: str):
    body = {"language": "fi", "municipality": "091", "consent": True, "customer_key": key}
    return client.post("/api/contacts/", body, content_type="application/json", REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_a_contact_start_hits_both_its_limits_in_one_redis_round_trip(
    client, reference_data, redis_limiter, monkeypatch
):
    assert _start(client, uuid.uuid4().hex, _address()).status_code == 201  # script loaded
    sent = _redis_commands(redis_limiter, monkeypatch)
    assert _start(client, uuid.uuid4().hex, _address()).status_code == 201
    assert sent == ["EVALSHA"]


def test_windows_hit_together_answer_as_hits_one_after_another(redis_limiter):
    """Random hits on a few small windows: the same answers as the `limits` package's own."""
    rng = random.Random(3)
    run = uuid.uuid4().hex
    windows = [(parse(f"{n}/minute"), "test-together", f"{run}-{n}") for n in (1, 2, 3)]
    windows.append((parse("2/hour"), "test-together", f"{run}-hour"))
    reference = MovingWindowRateLimiter(MemoryStorage())
    for _ in range(30):
        hits = rng.sample(windows, rng.randint(2, len(windows)))
        expected = [reference.hit(item, scope, ident) for item, scope, ident in hits]
        assert rate_limits.hit_all(hits) == expected
    # The lists are the package's own: its window stats and single hits read them.
    item, scope, ident = windows[2]
    _reset_at, remaining = redis_limiter.get_window_stats(item, scope, ident)
    assert remaining == 0
    assert redis_limiter.hit(item, scope, ident) is False


@pytest.mark.django_db
def test_both_limits_refusing_give_the_longer_retry_after(client, reference_data, settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "1/minute"
    settings.CONTACT_CREATE_PER_KEY_RATE_LIMIT = "1/hour"
    key, ip = uuid.uuid4().hex, _address()
    assert _start(client, key, ip).status_code == 201
    limited = _start(client, key, ip)
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert 60 < int(limited["Retry-After"]) <= 3600


@pytest.mark.django_db
def test_redis_away_lets_customers_start_contacts(client, reference_data, settings, monkeypatch):
    settings.CONTACT_CREATE_RATE_LIMIT = "1/minute"

    def away(hits):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(rate_limits, "hit_all", away)
    ip = _address()
    assert [_start(client, uuid.uuid4().hex, ip).status_code for _ in range(2)] == [201, 201]


def test_two_prefixes_sharing_one_redis_count_apart(settings):
    """Deployments (and parallel test processes) on one Redis: each counts its own hits,
    under its channel layer's prefix, as presence does."""
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is needed: the prefixes keep apart in Redis")
    hit = (parse("1/minute"), "test-prefix", uuid.uuid4().hex)
    layers = settings.CHANNEL_LAYERS
    answers, keys = [], []
    for prefix in (f"one-{uuid.uuid4().hex[:8]}", f"two-{uuid.uuid4().hex[:8]}"):
        settings.CHANNEL_LAYERS = {
            "default": {
                **layers["default"],
                "CONFIG": {**layers["default"]["CONFIG"], "prefix": prefix},
            }
        }
        answers.append(rate_limits.hit_all([hit, hit]))
        storage = rate_limits.limiter().storage
        keys.append(storage.prefixed_key(hit[0].key_for(hit[1], hit[2])))
        assert keys[-1].startswith(f"{prefix}:limits:")
        assert storage.get_connection().exists(keys[-1])
    # Each prefix had room for its first hit, not for its second.
    assert answers == [[True, False], [True, False]]
