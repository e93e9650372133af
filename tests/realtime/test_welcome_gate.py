"""Reconnect storms: welcomes wait their turn, the chat's own database work does not."""

from __future__ import annotations

import asyncio
import time

from realtime.consumers import welcome_gate
from realtime.consumers.base import db

SLOW_S = 0.5


def _slow_welcome() -> str:
    time.sleep(SLOW_S)
    return "welcome"


def _chat() -> str:
    return "stored"


async def test_chat_is_not_queued_behind_a_storm_of_welcomes(settings):
    settings.CHAT_WELCOME_CONCURRENCY = 3
    assert welcome_gate.limit() == 3
    storm = [asyncio.create_task(welcome_gate.welcome_db(_slow_welcome)) for _ in range(24)]
    await asyncio.sleep(0.05)  # the storm is under way
    started = time.monotonic()
    assert await db(_chat) == "stored"
    took = time.monotonic() - started
    # Unbounded, the 24 welcomes would fill the chat pool's 8 threads and its
    # queue, and this would wait for three rounds of them (3 x SLOW_S).
    assert took < SLOW_S * 2, took
    assert await asyncio.gather(*storm) == ["welcome"] * 24


def test_the_gate_always_leaves_the_chat_a_thread(settings):
    settings.CHAT_DB_THREADS = 4
    settings.CHAT_WELCOME_CONCURRENCY = 10
    assert welcome_gate.limit() == 3
    settings.CHAT_WELCOME_CONCURRENCY = 0
    assert welcome_gate.limit() == 1
