"""The workers' rollup timer: runs, survives a failing run, stops when asked."""

from __future__ import annotations

import asyncio
import threading

import pytest

from helpdesk.stats import rollup as rollup_module
from helpdesk.stats.timer import StatsRollupTimer


@pytest.mark.django_db(transaction=True)
def test_timer_runs_the_rollup_and_stops(monkeypatch):
    calls = []
    two_runs = threading.Event()

    def fake_rollup(*, wait=False, **kwargs):
        calls.append(wait)
        if len(calls) >= 3:
            two_runs.set()
        if len(calls) == 1:
            raise RuntimeError("database restarting")
        return rollup_module.RollupResult(ran=True)

    monkeypatch.setattr(rollup_module, "rollup", fake_rollup)
    timer = StatsRollupTimer(interval_s=0.05, first_delay_s=0.0)

    async def run():
        await timer.start()
        assert timer.running
        await asyncio.get_running_loop().run_in_executor(None, two_runs.wait, 10)
        await timer.stop()

    asyncio.run(run())
    assert timer.errors == 1 and timer.runs >= 2
    assert not timer.running
    assert set(calls) == {False}  # the timer never queues behind another worker


def test_zero_interval_turns_the_timer_off():
    timer = StatsRollupTimer(interval_s=0)
    asyncio.run(timer.start())
    assert not timer.running
