"""Supporter heartbeats: pings of one second become one Redis pipeline and one UPDATE."""

import asyncio
from datetime import timedelta
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from helpdesk.models import Supporter
from realtime.consumers import heartbeats, presence
from routing import services as routing
from tests.factories import make_provider, make_supporter

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two(transactional_db):
    provider = make_provider()
    return make_supporter(providers=[provider]), make_supporter(providers=[provider])


def test_heartbeat_many_writes_one_update(two, django_assert_num_queries):
    a, b = two
    with django_assert_num_queries(1):
        assert routing.heartbeat_many(supporter_ids=[a.pk, b.pk, a.pk]) == 2
    assert routing.heartbeat_many(supporter_ids=[]) == 0
    beats = Supporter.objects.filter(pk__in=[a.pk, b.pk]).values_list("last_heartbeat", flat=True)
    assert all(beat is not None and beat <= timezone.now() for beat in beats)


async def test_beats_of_a_second_are_written_together(two, monkeypatch):
    a, b = two
    monkeypatch.setattr(heartbeats, "FLUSH_EVERY_S", 0.05)
    calls = []
    real = routing.heartbeat_many

    def spy(*, supporter_ids):
        calls.append(sorted(supporter_ids))
        return real(supporter_ids=supporter_ids)

    async def flushed(n: int) -> None:
        for _ in range(200):  # the first flush also opens its connections
            if len(calls) >= n:
                return
            await asyncio.sleep(0.05)

    with mock.patch.object(routing, "heartbeat_many", side_effect=spy):
        heartbeats.beat(a.pk, "socket-a1")
        heartbeats.beat(a.pk, "socket-a2")
        heartbeats.beat(b.pk, "socket-b")
        await flushed(1)
        await asyncio.sleep(0.2)
        assert calls == [sorted([a.pk, b.pk])]
        heartbeats.beat(b.pk, "socket-b")  # a later ping starts the next batch
        await flushed(2)
    assert calls == [sorted([a.pk, b.pk]), [b.pk]]
    stored = await sync_to_async(
        lambda: Supporter.objects.get(pk=b.pk).last_heartbeat, thread_sensitive=False
    )()
    assert stored is not None


@pytest.mark.redis
async def test_a_batched_ping_never_revives_a_closed_socket(two, settings):
    a, _ = two
    await presence.socket_alive(a.pk, "socket-1")
    await presence.socket_alive(a.pk, "socket-2")
    assert await presence.socket_closed(a.pk, "socket-1") == 1
    # a ping of socket-1 was batched just before it closed
    await heartbeats.flush({a.pk: {"socket-1", "socket-2"}})
    assert await presence.socket_closed(a.pk, "socket-2") == 0


async def test_a_failed_flush_is_logged_not_raised(two, caplog):
    a, _ = two
    with mock.patch.object(presence, "sockets_alive", side_effect=ConnectionError("redis down")):
        await heartbeats.flush({a.pk: {"socket"}})
    assert "heartbeats failed" in caplog.text


async def test_connecting_consoles_share_their_first_heartbeat_writes(two, monkeypatch):
    """A storm of consoles opening: each is written before its connect completes,
    and those asked while one UPDATE is on its way share the next."""
    a, b = two
    writes: list[list[int]] = []
    real = routing.heartbeat_many

    def counted(*, supporter_ids):
        writes.append(sorted(supporter_ids))
        return real(supporter_ids=supporter_ids)

    monkeypatch.setattr(routing, "heartbeat_many", counted)
    await asyncio.gather(*(heartbeats.alive_now(s.pk) for s in (a, b, a, b, a)))
    assert writes == [[a.pk, b.pk]], writes  # five consoles, one UPDATE
    # One asked while a write is on its way goes in the next.
    first = asyncio.create_task(heartbeats.alive_now(a.pk))
    await asyncio.sleep(0)  # the write has started
    await asyncio.gather(first, heartbeats.alive_now(b.pk))
    assert writes[1:] == [[a.pk], [b.pk]], writes

    def beats():
        return list(
            Supporter.objects.filter(pk__in=[a.pk, b.pk]).values_list("last_heartbeat", flat=True)
        )

    assert all(beat is not None for beat in await sync_to_async(beats, thread_sensitive=False)())
    await heartbeats.alive_now(b.pk)
    assert writes[-1] == [b.pk]


@pytest.mark.redis
async def test_presence_keeps_apart_deployments_that_share_a_redis(two, settings):
    a, _ = two
    own = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    await presence.socket_alive(a.pk, "socket-1")
    # Another deployment (another prefix) with a supporter of the same id.
    settings.CHANNEL_LAYERS = {
        "default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {"prefix": own + "-other"}}
    }
    await presence.socket_alive(a.pk, "socket-9")
    assert await presence.socket_closed(a.pk, "socket-9") == 0
    settings.CHANNEL_LAYERS = {
        "default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {"prefix": own}}
    }
    assert await presence.socket_closed(a.pk, "socket-1") == 0


@pytest.mark.redis
async def test_opening_consoles_are_counted_in_presence_with_one_pipeline(two, monkeypatch):
    """Each opening socket is in presence when its connect goes on, and the
    sockets that open together are written in one round trip."""
    a, b = two
    calls: list[dict[int, set[str]]] = []
    real = presence.sockets_opened

    async def spy(sockets):
        calls.append({k: set(v) for k, v in sockets.items()})
        await real(sockets)

    monkeypatch.setattr(presence, "sockets_opened", spy)
    await asyncio.gather(
        heartbeats.alive_now(a.pk, "socket-a1"),
        heartbeats.alive_now(a.pk, "socket-a2"),
        heartbeats.alive_now(b.pk, "socket-b"),
    )
    assert calls == [{a.pk: {"socket-a1", "socket-a2"}, b.pk: {"socket-b"}}]
    assert await presence.socket_closed(a.pk, "socket-a1") == 1
    assert await presence.socket_closed(a.pk, "socket-a2") == 0
    assert await presence.socket_closed(b.pk, "socket-b") == 0


async def test_a_failed_presence_does_not_keep_a_console_from_its_heartbeat(two, caplog):
    a, _ = two
    with mock.patch.object(presence, "sockets_opened", side_effect=ConnectionError("redis down")):
        await heartbeats.alive_now(a.pk, "socket")
    assert "presence of 1 opening sockets failed" in caplog.text
    stored = await sync_to_async(
        lambda: Supporter.objects.get(pk=a.pk).last_heartbeat, thread_sensitive=False
    )()
    assert stored is not None


def test_a_heartbeat_younger_than_a_first_pings_delay_is_left_as_it_is(settings):
    now = timezone.now()
    ago = lambda s: now - timedelta(seconds=s)  # noqa: E731
    # 45 s of timeout, less a ping (25 s), its flush (1 s) and 5 s of margin.
    assert heartbeats.fresh_s() == 14
    assert heartbeats.heartbeat_due(None, now)
    assert not heartbeats.heartbeat_due(ago(13.9), now)
    assert heartbeats.heartbeat_due(ago(14), now)
    # With a timeout no ping can keep up with, every opening console writes.
    settings.PRESENCE_HEARTBEAT_TIMEOUT_S = 30
    assert heartbeats.fresh_s() == 0
    assert heartbeats.heartbeat_due(ago(0), now)


async def test_an_opening_console_writes_the_heartbeat_only_when_it_is_not_fresh(two, ws_app):
    """Routing must see the supporter until the new socket's first ping is
    written: a heartbeat old enough to run out before that is written at once."""
    from routing.availability import presence_after_heartbeat
    from tests.realtime.conftest import supporter_client

    a, _ = two

    def set_beat(seconds_ago: float):
        beat = timezone.now() - timedelta(seconds=seconds_ago)
        Supporter.objects.filter(pk=a.pk).update(last_heartbeat=beat, presence="available")
        return beat

    def stored():
        return Supporter.objects.get(pk=a.pk).last_heartbeat

    write = sync_to_async(set_beat, thread_sensitive=False)
    read = sync_to_async(stored, thread_sensitive=False)

    async def opened():
        console = await supporter_client(ws_app, a.user)
        # Answered once its connect has finished (heartbeat included).
        await console.send({"type": "ping"})
        await console.expect("pong")
        return console

    fresh = await write(5)
    console = await opened()
    assert await read() == fresh  # left as it was
    # ...and it still counts past the new socket's first ping and its flush.
    first_ping = fresh + timedelta(seconds=5 + heartbeats.CONSOLE_PING_EVERY_S + 1)
    assert presence_after_heartbeat("available", fresh, first_ping) == "available"
    await console.disconnect()

    stale = await write(heartbeats.fresh_s() + 1)
    console = await opened()
    assert await read() > stale + timedelta(seconds=heartbeats.fresh_s())
    await console.disconnect()
