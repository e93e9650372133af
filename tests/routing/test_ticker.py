"""routing.ticker: kicked rounds, surviving errors, stopping cleanly."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from helpdesk.models import Offer
from routing import services, ticker
from tests.routing.test_services import HELSINKI_CODE, Network, build_network

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def network(reference_data, settings) -> Network:
    return build_network(settings)


def _enqueue():
    return services.enqueue_contact(
        channel="chat",
        language="fi",
        municipality_code=HELSINKI_CODE,
        topic_slug=None,
        consent=True,
    )


async def _wait_for(predicate, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await sync_to_async(predicate)():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_kick_offers_within_milliseconds_not_a_tick(network):
    routing_ticker = ticker.RoutingTicker(interval_s=30)
    await routing_ticker.start()
    try:
        await sync_to_async(services.set_presence)(supporter=network.anna, presence="available")
        started = time.monotonic()
        contact = await sync_to_async(_enqueue)()
        assert await _wait_for(lambda: Offer.objects.filter(contact=contact).exists())
        latency = time.monotonic() - started
        print(f"enqueue -> offer {latency * 1000:.0f} ms with a 30 s tick")
        assert latency < 3.0
    finally:
        await routing_ticker.stop()


async def test_survives_failing_rounds_and_keeps_ticking(network):
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("database restarting")
        return services.dispatch()

    routing_ticker = ticker.RoutingTicker(interval_s=0.05, dispatch=flaky)
    await routing_ticker.start()
    try:
        assert await _wait_for(lambda: routing_ticker.rounds >= 2, within=10)
    finally:
        await routing_ticker.stop()
    assert routing_ticker.errors == 2


async def test_a_storm_of_kicks_runs_rounds_at_most_every_gap(network):
    started: list[float] = []

    def counted():
        started.append(time.monotonic())
        return services.dispatch()

    routing_ticker = ticker.RoutingTicker(interval_s=30, dispatch=counted, min_gap_s=0.2)
    await routing_ticker.start()
    try:
        for _ in range(60):  # a surge: every new contact kicks
            ticker.kick()
            await asyncio.sleep(0.01)
        assert await _wait_for(lambda: routing_ticker.rounds >= 2, within=5)
        await asyncio.sleep(0.3)
    finally:
        await routing_ticker.stop()
    gaps = [b - a for a, b in zip(started, started[1:], strict=False)]
    assert gaps and min(gaps) >= 0.2 * 0.8, gaps  # the hop into the round thread jitters
    assert len(started) <= 1 + 0.9 / 0.2 + 1, started  # not one round per kick


async def test_busy_lock_is_retried_soon(network):
    answers = iter([None, None])

    def contended():
        # Another process holds the routing lock for the first two tries.
        return next(answers, services.dispatch())

    routing_ticker = ticker.RoutingTicker(interval_s=30, dispatch=contended)
    await routing_ticker.start()
    try:
        ticker.kick()
        assert await _wait_for(lambda: routing_ticker.rounds >= 1, within=3)
        assert routing_ticker.busy == 2
    finally:
        await routing_ticker.stop()


async def test_a_busy_try_does_not_hold_the_retry_back_by_the_round_gap(network):
    tries: list[float] = []

    def contended_second():
        tries.append(time.monotonic())
        if len(tries) == 2:
            return None  # another process is mid-round
        return services.dispatch()

    routing_ticker = ticker.RoutingTicker(interval_s=30, dispatch=contended_second, min_gap_s=2.0)
    await routing_ticker.start()
    try:
        ticker.kick()
        assert await _wait_for(lambda: routing_ticker.rounds >= 1, within=10)
        ticker.kick()  # waits out the gap after the first round, then finds the lock taken
        assert await _wait_for(lambda: routing_ticker.rounds >= 2, within=10)
    finally:
        await routing_ticker.stop()
    assert routing_ticker.busy == 1
    # The retry follows the busy try by BUSY_RETRY_S, not by another 2 s gap
    # (bounded loosely: the hop into the round thread jitters).
    assert tries[2] - tries[1] < 1.0, tries


async def test_stop_is_clean_and_kick_after_stop_is_harmless(network):
    routing_ticker = ticker.RoutingTicker(interval_s=0.05)
    await routing_ticker.start()
    # Waited for rather than slept: a loaded machine may take longer over the first round.
    assert await _wait_for(lambda: routing_ticker.rounds >= 1)
    assert routing_ticker.running
    await routing_ticker.stop()
    assert not routing_ticker.running
    assert routing_ticker not in ticker._running
    ticker.kick()
    routing_ticker.kick()


async def test_disabled_by_settings(network, settings):
    settings.ROUTING_TICKER_ENABLED = False
    routing_ticker = ticker.RoutingTicker()
    await routing_ticker.start()
    assert not routing_ticker.running
    await routing_ticker.stop()
