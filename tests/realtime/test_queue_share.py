"""Reconnect storms: the consoles of one worker share a queue read, never an older one."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from realtime.consumers import queue_share
from routing.selectors import QueueRead


@pytest.fixture
def reads(monkeypatch):
    """Stands in for the database read: counts the reads and lets a test hold them."""
    calls: list[frozenset] = []
    release = threading.Event()
    release.set()

    def read_queue(provider_ids):
        calls.append(frozenset(provider_ids))
        release.wait(5)
        return QueueRead(providers=(), contacts=())

    monkeypatch.setattr(queue_share, "read_queue", read_queue)
    queue_share.clear()
    yield calls, release
    queue_share.clear()


async def test_a_storm_of_consoles_shares_one_read(reads):
    calls, release = reads
    release.clear()
    subscribed = time.monotonic()
    storm = [
        asyncio.create_task(queue_share.shared_read({1, 2}, not_before=subscribed))
        for _ in range(50)
    ]
    await asyncio.sleep(0.05)
    release.set()
    results = await asyncio.gather(*storm)
    assert len(calls) == 1, calls
    assert all(r is results[0] for r in results)
    # Finished a moment ago: a console subscribed before it began still takes it.
    await queue_share.shared_read({2, 1}, not_before=subscribed)
    assert len(calls) == 1
    # Other providers, another read.
    await queue_share.shared_read({3}, not_before=subscribed)
    assert calls[-1] == frozenset({3}) and len(calls) == 2


async def test_a_read_begun_before_the_socket_subscribed_is_not_shared(reads):
    """No gap: what changed between such a read and the subscription would be lost."""
    calls, release = reads
    release.clear()
    early = asyncio.create_task(queue_share.shared_read({1}, not_before=time.monotonic()))
    await asyncio.sleep(0.05)
    assert len(calls) == 1  # begun, and held
    subscribed_later = time.monotonic()
    late = [
        asyncio.create_task(queue_share.shared_read({1}, not_before=subscribed_later))
        for _ in range(20)
    ]
    await asyncio.sleep(0.05)
    # The running read began too early for them: they wait for the next one,
    # which begins only once the running one is over.
    assert len(calls) == 1 and not any(task.done() for task in late)
    release.set()
    first = await early
    results = await asyncio.gather(*late)
    assert len(calls) == 2  # one more read for all twenty latecomers
    assert all(r is results[0] for r in results) and results[0] is not first
    # Finished reads follow the same rule.
    await queue_share.shared_read({1}, not_before=time.monotonic())
    assert len(calls) == 3


async def test_the_next_read_begins_after_the_latecomers_subscribed(monkeypatch):
    """Its start is when its statements begin, not when it was asked for."""
    began: list[float] = []
    release = threading.Event()

    def read_queue(provider_ids):
        began.append(time.monotonic())
        release.wait(5)
        return QueueRead(providers=(), contacts=())

    monkeypatch.setattr(queue_share, "read_queue", read_queue)
    queue_share.clear()
    running = asyncio.create_task(queue_share.shared_read({1}, not_before=time.monotonic()))
    await asyncio.sleep(0.02)
    asked = asyncio.create_task(queue_share.shared_read({1}, not_before=time.monotonic()))
    await asyncio.sleep(0.02)
    # Asked for before this console subscribed, begun after: it may share it.
    subscribed = time.monotonic()
    shares = asyncio.create_task(queue_share.shared_read({1}, not_before=subscribed))
    await asyncio.sleep(0.02)
    release.set()
    await running
    assert await shares is await asked
    assert len(began) == 2 and began[1] >= subscribed
    queue_share.clear()


async def test_a_finished_read_is_shared_only_briefly(reads, monkeypatch):
    calls, _ = reads
    monkeypatch.setattr(queue_share, "SHARE_S", 0.1)
    subscribed = time.monotonic()
    await queue_share.shared_read({1}, not_before=subscribed)
    await queue_share.shared_read({1}, not_before=subscribed)
    assert len(calls) == 1
    await asyncio.sleep(0.15)
    await queue_share.shared_read({1}, not_before=subscribed)
    assert len(calls) == 2


async def test_a_failed_read_is_not_shared_and_a_closing_console_cancels_nobody(monkeypatch):
    calls: list[frozenset] = []
    fail = True
    release = threading.Event()

    def read_queue(provider_ids):
        calls.append(frozenset(provider_ids))
        if fail:
            raise RuntimeError("database away")
        release.wait(5)
        return QueueRead(providers=(), contacts=())

    monkeypatch.setattr(queue_share, "read_queue", read_queue)
    queue_share.clear()
    subscribed = time.monotonic()
    with pytest.raises(RuntimeError):
        await queue_share.shared_read({1}, not_before=subscribed)
    fail = False
    first = asyncio.create_task(queue_share.shared_read({1}, not_before=subscribed))
    second = asyncio.create_task(queue_share.shared_read({1}, not_before=subscribed))
    await asyncio.sleep(0.05)
    assert len(calls) == 2  # the failed read was not handed out again
    first.cancel()  # its socket closed meanwhile
    release.set()
    assert isinstance(await second, QueueRead)
    assert len(calls) == 2
    queue_share.clear()
