"""The workers' rollup timer: runs, survives a failing run, stops when asked."""

from __future__ import annotations

import asyncio
import time

import pytest

from helpdesk.stats import rollup as rollup_module
from helpdesk.stats.timer import StatsRollupTimer


@pytest.mark.django_db(transaction=True)
def test_timer_runs_the_rollup_and_stops(monkeypatch):
    calls = []

    def fake_rollup(*, wait=False, **kwargs):
        calls.append(wait)
        if len(calls) == 1:
            raise RuntimeError("database restarting")
        return rollup_module.RollupResult(ran=True)

    monkeypatch.setattr(rollup_module, "rollup", fake_rollup)
    timer = StatsRollupTimer(interval_s=0.05, first_delay_s=0.0)

    async def run():
        await timer.start()
        assert timer.running
        deadline = time.monotonic() + 10
        while timer.runs < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await timer.stop()

    asyncio.run(run())
    assert timer.errors == 1 and timer.runs >= 2
    assert not timer.running
    assert set(calls) == {False}  # the timer never queues behind another worker


def test_zero_interval_turns_the_timer_off():
    timer = StatsRollupTimer(interval_s=0)
    asyncio.run(timer.start())
    assert not timer.running
