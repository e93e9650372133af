"""A staffing plan checked by the routing simulation (helpdesk/stats/staffing_sim.py)."""

from __future__ import annotations

import pytest

from helpdesk.stats.erlang import service_at, staffing
from helpdesk.stats.staffing_sim import _shifts, simulate_staffing, simulated_service_level


def mean_over_seeds(seeds, **plan):
    runs = [simulate_staffing(**plan, seed=seed) for seed in seeds]
    total = sum(r.arrivals for r in runs)
    return (
        sum(r.service_level * r.arrivals for r in runs) / total,
        sum(r.abandonment * r.arrivals for r in runs) / total,
    )


def test_stationary_hours_agree_with_erlang_c():
    """The worked example (200 contacts an hour, 180 s, 14 agents: 0.8884 within 20 s)."""
    sl, abandonment = mean_over_seeds(
        range(3), arrivals_per_hour=[200.0] * 8, aht_s=180, agents=[14] * 8, answer_s=20
    )
    assert sl == pytest.approx(0.8884, abs=0.035)
    assert abandonment == 0.0


def test_fewer_supporters_serve_worse():
    plan = {"arrivals_per_hour": [200.0] * 6, "aht_s": 180, "answer_s": 20, "seed": 4}
    twelve = simulated_service_level(**plan, agents=[12] * 6)
    fourteen = simulated_service_level(**plan, agents=[14] * 6)
    assert twelve < fourteen - 0.1
    erlang = service_at(agents=12, arrivals=200, interval_s=3600, aht_s=180, answer_s=20)
    assert twelve == pytest.approx(erlang.service_level, abs=0.12)


def test_impatient_contacts_agree_with_erlang_a():
    sl, abandonment = mean_over_seeds(
        range(2),
        arrivals_per_hour=[200.0] * 8,
        aht_s=180,
        agents=[11] * 8,
        answer_s=20,
        patience_s=300,
    )
    erlang = service_at(
        agents=11, arrivals=200, interval_s=3600, aht_s=180, answer_s=20, patience_s=300
    )
    assert sl == pytest.approx(erlang.service_level, abs=0.05)
    assert abandonment == pytest.approx(erlang.abandonment, abs=0.025)


def test_chat_concurrency_plan_meets_its_target():
    plan = staffing(
        arrivals=240, interval_s=3600, aht_s=600, target_sl=0.8, answer_s=60, concurrency=3
    )
    sl, _ = mean_over_seeds(
        range(2),
        arrivals_per_hour=[240.0] * 6,
        aht_s=600,
        agents=[plan.agents] * 6,
        answer_s=60,
        concurrency=3,
    )
    assert sl == pytest.approx(plan.service_level, abs=0.06)
    assert sl > 0.75


def test_a_day_planned_hour_by_hour():
    """Erlang C per hour for a day's profile; the day as a whole is close to target."""
    rates = [2, 1, 0, 0, 0, 0, 5, 20, 60, 90, 100, 90, 80, 90, 100, 80, 60, 40, 20, 10, 5]
    agents = [
        staffing(arrivals=r, interval_s=3600, aht_s=300, target_sl=0.8, answer_s=60).agents
        for r in rates
    ]
    assert agents[2:6] == [0, 0, 0, 0]
    result = simulate_staffing(
        arrivals_per_hour=[float(r) for r in rates], aht_s=300, agents=agents, answer_s=60
    )
    assert result.arrivals > 800
    assert result.service_level > 0.75


def test_nobody_arriving_is_full_service():
    assert (
        simulated_service_level(
            arrivals_per_hour=[0.0] * 3, aht_s=300, agents=[0, 1, 0], answer_s=60
        )
        == 1.0
    )


@pytest.mark.parametrize(
    ("agents", "drain", "expected"),
    [
        ([], 1.0, []),
        ([0, 0], 1.0, []),
        ([1, 1, 1], 2.0, [(0.0, 5.0)]),
        ([2, 1, 0, 1], 0.5, [(0.0, 2.0), (3.0, 4.5), (0.0, 1.0)]),
        ([1, 0, 2], 0.0, [(0.0, 1.0), (2.0, 3.0), (2.0, 3.0)]),
    ],
)
def test_shifts_follow_the_plan(agents, drain, expected):
    assert _shifts(agents, drain) == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agents": [1, 2]}, "hours"),
        ({"arrivals_per_hour": [], "agents": []}, "from 1"),
        ({"arrivals_per_hour": [-1.0]}, "arrivals_per_hour"),
        ({"arrivals_per_hour": [float("nan")]}, "arrivals_per_hour"),
        ({"arrivals_per_hour": "5"}, "list"),
        ({"agents": [1.5]}, "agents"),
        ({"agents": [-1]}, "agents"),
        ({"aht_s": 0}, "aht_s"),
        ({"answer_s": -1}, "answer_s"),
        ({"concurrency": 0}, "concurrency"),
        ({"patience_s": 0}, "patience_s"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_plans_are_refused(change, message):
    plan = {"arrivals_per_hour": [10.0], "aht_s": 300, "agents": [2], "answer_s": 60}
    with pytest.raises(ValueError, match=message):
        simulate_staffing(**{**plan, **change})
