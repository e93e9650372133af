"""Erlang C and Erlang A (helpdesk/stats/erlang.py), checked against independent computations."""

from __future__ import annotations

import heapq
import io
import math
import random
import time
from fractions import Fraction

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from helpdesk.stats.erlang import (
    average_speed_of_answer,
    erlang_a,
    erlang_b,
    erlang_c,
    patience_from_abandonment,
    service_at,
    service_level,
    staffing,
)

# -- independent references -----------------------------------------------------


def exact_erlang_c(traffic: Fraction, agents: int) -> Fraction:
    """The textbook formula with factorials, in exact rational arithmetic."""
    top = traffic**agents / math.factorial(agents) * Fraction(agents) / (agents - traffic)
    bottom = sum(traffic**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom


def closed_form_erlang_a(*, rate, aht_s, patience_s, servers, answer_s):
    """Mandelbaum and Zeltyn's incomplete-gamma formulas for M/M/n+M.

    A(n mu / theta, lambda / theta) with A(x, y) = x e^y y^-x gamma(x, y);
    P(wait) = A E / (1 + (A - 1) E); the share answered within t is
    P(no wait) + P(wait) [gamma(a+1, x) - gamma(a+1, x e^-theta t)] / (x gamma(a, x)).
    Only for moderate parameters: the powers are formed directly.
    """
    mu, theta = 1.0 / aht_s, 1.0 / patience_s
    a, x = servers * mu / theta, rate / theta

    def lower_gamma(s, y):
        return special.gammainc(s, y) * special.gamma(s)

    big_a = a * math.exp(x) * x ** (-a) * lower_gamma(a, x)
    e = erlang_b(rate * aht_s, servers)
    wait = big_a * e / (1 + (big_a - 1) * e)
    answered_if_wait = lower_gamma(a + 1, x) / (x * lower_gamma(a, x))
    within_if_wait = (
        lower_gamma(a + 1, x) - lower_gamma(a + 1, x * math.exp(-theta * answer_s))
    ) / (x * lower_gamma(a, x))
    return {
        "wait": wait,
        "abandonment": wait * (1 - answered_if_wait),
        "service_level": 1 - wait + wait * within_if_wait,
    }


def simulate_mmn_m(*, rate, aht_s, patience_s, servers, answer_s, customers, seed):
    """First come, first served with exponential patience, customer by customer.

    Each arrival's offered wait is the time until the earliest server frees up
    from those taken by earlier answered customers; it is answered if its
    patience outlasts that wait, and then holds that server.
    """
    rng = random.Random(seed)
    free_at = [0.0] * servers
    heapq.heapify(free_at)
    now = 0.0
    answered = within = abandoned = 0
    waited = 0.0
    warmup = customers // 10
    for i in range(customers):
        now += rng.expovariate(rate)
        wait = max(0.0, free_at[0] - now)
        patience = rng.expovariate(1 / patience_s) if patience_s else math.inf
        counted = i >= warmup
        if patience < wait:
            abandoned += counted
            continue
        heapq.heapreplace(free_at, now + wait + rng.expovariate(1 / aht_s))
        if counted:
            answered += 1
            waited += wait
            within += wait <= answer_s
    total = customers - warmup
    return {
        "service_level": within / total,
        "abandonment": abandoned / total,
        "asa_s": waited / answered,
    }


# -- Erlang C -------------------------------------------------------------------


def test_published_worked_example():
    """100 calls per 30 minutes, 180 s handle time, 80 % within 20 s."""
    result = staffing(arrivals=100, interval_s=1800, aht_s=180, target_sl=0.8, answer_s=20)
    assert result.agents == 14
    assert round(result.service_level, 4) == 0.8884
    assert result.asa_s == pytest.approx(7.8, abs=0.05)
    assert result.occupancy == pytest.approx(10 / 14)
    assert result.abandonment == 0.0
    assert erlang_c(10.0, 14) == pytest.approx(0.1741, abs=5e-5)
    assert service_level(10.0, 13, aht_s=180, answer_s=20) < 0.8


@pytest.mark.parametrize(
    ("traffic", "agents"),
    [
        (Fraction(1, 2), 1),
        (Fraction(2), 3),
        (Fraction(10), 11),
        (Fraction(10), 14),
        (Fraction(47, 3), 20),
        (Fraction(99), 100),
        (Fraction(150), 170),
        (Fraction(3, 100), 4),
    ],
)
def test_erlang_c_matches_exact_rational_arithmetic(traffic, agents):
    assert erlang_c(float(traffic), agents) == pytest.approx(
        float(exact_erlang_c(traffic, agents)), rel=1e-11, abs=1e-300
    )


@pytest.mark.parametrize(
    ("traffic", "servers", "expected"),
    [(5, 10, 0.0184), (25, 30, 0.0526), (10, 10, 0.2146)],  # Erlang B table values
)
def test_erlang_b_table_values(traffic, servers, expected):
    assert erlang_b(traffic, servers) == pytest.approx(expected, abs=5e-5)
    exact = Fraction(traffic) ** servers / math.factorial(servers)
    exact /= sum(Fraction(traffic) ** k / math.factorial(k) for k in range(servers + 1))
    assert erlang_b(traffic, servers) == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize(
    ("traffic", "agents", "expected"),
    [(0.0, 0, 0.0), (0.0, 3, 0.0), (5.0, 5, 1.0), (5.0, 2, 1.0), (5.0, 0, 1.0)],
)
def test_erlang_c_edges(traffic, agents, expected):
    assert erlang_c(traffic, agents) == expected


def test_overloaded_interval_has_no_service():
    assert service_level(12.0, 12, aht_s=180, answer_s=20) == 0.0
    assert average_speed_of_answer(12.0, 10, aht_s=180) == math.inf
    assert average_speed_of_answer(0.0, 0, aht_s=180) == 0.0


@pytest.mark.parametrize("traffic", [500.0, 5_000.0, 20_000.0])
def test_thousands_of_erlangs_fast_and_sane(traffic):
    started = time.perf_counter()
    result = staffing(
        arrivals=traffic * 3600 / 180, interval_s=3600, aht_s=180, target_sl=0.8, answer_s=20
    )
    assert time.perf_counter() - started < 1.0
    assert traffic < result.agents < traffic + 3 * math.sqrt(traffic)
    assert 0.8 <= result.service_level < 1
    assert 0 < result.asa_s < 20
    below = service_at(
        agents=result.agents - 1, arrivals=traffic * 20, interval_s=3600, aht_s=180, answer_s=20
    )
    assert below.service_level < 0.8


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_large_traffic_follows_the_halfin_whitt_limit(beta):
    """With n = A + beta sqrt(A), P(wait) tends to 1 / (1 + beta Phi(beta) / phi(beta))."""
    traffic = 40_000.0
    agents = round(traffic + beta * math.sqrt(traffic))
    b = (agents - traffic) / math.sqrt(traffic)
    limit = 1 / (1 + b * stats.norm.cdf(b) / stats.norm.pdf(b))
    assert erlang_c(traffic, agents) == pytest.approx(limit, abs=0.01)


@settings(max_examples=150, deadline=None)
@given(
    traffic=st.floats(min_value=0.01, max_value=3000),
    extra=st.integers(min_value=1, max_value=200),
)
def test_erlang_c_falls_with_agents_and_rises_with_traffic(traffic, extra):
    agents = math.floor(traffic) + extra
    c = erlang_c(traffic, agents)
    assert 0 <= c < 1
    assert erlang_c(traffic, agents + 1) <= c
    assert erlang_c(traffic * 1.01, agents) >= c or traffic * 1.01 >= agents
    assert service_level(traffic, agents + 1, aht_s=300, answer_s=30) >= service_level(
        traffic, agents, aht_s=300, answer_s=30
    )
    assert service_level(traffic, agents, aht_s=300, answer_s=60) >= service_level(
        traffic, agents, aht_s=300, answer_s=30
    )


@settings(max_examples=120, deadline=None)
@given(
    arrivals=st.floats(min_value=0.1, max_value=5000),
    aht_s=st.floats(min_value=10, max_value=3600),
    target=st.floats(min_value=0.05, max_value=0.99),
    answer_s=st.floats(min_value=0, max_value=600),
    concurrency=st.integers(min_value=1, max_value=4),
)
def test_staffing_is_the_fewest_agents_that_meet_the_target(
    arrivals, aht_s, target, answer_s, concurrency
):
    params = {"arrivals": arrivals, "interval_s": 3600, "aht_s": aht_s, "answer_s": answer_s}
    result = staffing(**params, target_sl=target, concurrency=concurrency)
    assert result.service_level >= target
    assert result.occupancy < 1
    if result.agents > 1:
        fewer = service_at(**params, agents=result.agents - 1, concurrency=concurrency)
        assert fewer.service_level < target
    more = staffing(**{**params, "arrivals": arrivals * 1.2}, target_sl=target)
    assert more.agents >= staffing(**params, target_sl=target).agents


@pytest.mark.parametrize("concurrency", [2, 3, 5])
def test_chat_concurrency_counts_each_supporter_as_k_servers(concurrency):
    params = {"arrivals": 240, "interval_s": 3600, "aht_s": 600, "target_sl": 0.8, "answer_s": 60}
    servers = staffing(**params).agents
    result = staffing(**params, concurrency=concurrency)
    assert result.agents == math.ceil(servers / concurrency)
    assert result.occupancy == pytest.approx(40 / (result.agents * concurrency))


def test_max_occupancy_adds_agents():
    params = {"arrivals": 2000, "interval_s": 3600, "aht_s": 180, "target_sl": 0.5, "answer_s": 60}
    plain = staffing(**params)
    capped = staffing(**params, max_occupancy=0.85)
    assert plain.occupancy > 0.85
    assert capped.occupancy <= 0.85 < 100 / (capped.agents - 1)
    assert capped.agents > plain.agents


def test_no_arrivals_need_nobody():
    result = staffing(arrivals=0, interval_s=3600, aht_s=180, target_sl=0.8, answer_s=20)
    assert (result.agents, result.service_level, result.asa_s, result.occupancy) == (
        0,
        1.0,
        0.0,
        0.0,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arrivals": -1}, "arrivals"),
        ({"arrivals": math.nan}, "arrivals"),
        ({"arrivals": "12"}, "arrivals"),
        ({"arrivals": True}, "arrivals"),
        ({"interval_s": 0}, "interval_s"),
        ({"aht_s": 0}, "aht_s"),
        ({"aht_s": math.inf}, "aht_s"),
        ({"target_sl": 0}, "target_sl"),
        ({"target_sl": 1}, "target_sl"),
        ({"answer_s": -5}, "answer_s"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"patience_s": 0}, "patience_s"),
        ({"max_occupancy": 1.2}, "max_occupancy"),
        ({"max_occupancy": 0}, "max_occupancy"),
        ({"concurrency": 51}, "concurrency"),
        ({"arrivals": 1e9}, "offered load"),
    ],
)
def test_bad_input_is_refused_clearly(change, message):
    params = {"arrivals": 100, "interval_s": 1800, "aht_s": 180, "target_sl": 0.8, "answer_s": 20}
    with pytest.raises(ValueError, match=message):
        staffing(**{**params, **change})


def test_many_agents_are_cheap_once_blocking_underflows():
    started = time.perf_counter()
    assert erlang_c(3.0, 1_000_000) == 0.0
    assert erlang_b(3.0, 999_999) == 0.0
    assert time.perf_counter() - started < 0.5
    with pytest.raises(ValueError, match="at most"):
        erlang_c(3.0, 1_000_001)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="agents"):
        erlang_c(3.0, -1)
    with pytest.raises(ValueError, match="agents"):
        erlang_c(3.0, 2.5)
    with pytest.raises(ValueError, match="traffic"):
        erlang_c(-3.0, 4)


# -- Erlang A -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "aht_s", "patience_s", "servers", "answer_s"),
    [
        (100 / 1800, 180, 600, 12, 20),
        (100 / 1800, 180, 120, 9, 20),
        (1 / 60, 300, 60, 3, 30),
        (0.5, 30, 45, 14, 10),
        (2 / 60, 540, 1200, 20, 60),
    ],
)
def test_erlang_a_matches_the_incomplete_gamma_closed_form(
    rate, aht_s, patience_s, servers, answer_s
):
    ours = erlang_a(
        arrivals=rate * 3600,
        interval_s=3600,
        aht_s=aht_s,
        patience_s=patience_s,
        servers=servers,
        answer_s=answer_s,
    )
    theirs = closed_form_erlang_a(
        rate=rate, aht_s=aht_s, patience_s=patience_s, servers=servers, answer_s=answer_s
    )
    assert ours.wait_probability == pytest.approx(theirs["wait"], rel=1e-7)
    assert ours.abandonment == pytest.approx(theirs["abandonment"], rel=1e-6, abs=1e-12)
    assert ours.service_level == pytest.approx(theirs["service_level"], rel=1e-7)


@pytest.mark.parametrize(
    ("rate", "aht_s", "patience_s", "servers", "answer_s"),
    [
        (100 / 1800, 180, 300, 11, 20),  # a little under the Erlang C staffing
        (100 / 1800, 180, 60, 8, 20),  # overloaded: abandonment keeps the queue finite
        (1 / 30, 540, 1200, 20, 60),
    ],
)
def test_erlang_a_agrees_with_a_simulation(rate, aht_s, patience_s, servers, answer_s):
    ours = erlang_a(
        arrivals=rate * 3600,
        interval_s=3600,
        aht_s=aht_s,
        patience_s=patience_s,
        servers=servers,
        answer_s=answer_s,
    )
    sim = simulate_mmn_m(
        rate=rate,
        aht_s=aht_s,
        patience_s=patience_s,
        servers=servers,
        answer_s=answer_s,
        customers=150_000,
        seed=13,
    )
    assert ours.service_level == pytest.approx(sim["service_level"], abs=0.015)
    assert ours.abandonment == pytest.approx(sim["abandonment"], abs=0.01)
    assert ours.asa_s == pytest.approx(sim["asa_s"], rel=0.08, abs=0.5)


def test_erlang_c_agrees_with_a_simulation():
    sim = simulate_mmn_m(
        rate=100 / 1800,
        aht_s=180,
        patience_s=None,
        servers=14,
        answer_s=20,
        customers=150_000,
        seed=7,
    )
    assert sim["service_level"] == pytest.approx(0.8884, abs=0.012)
    assert sim["asa_s"] == pytest.approx(7.84, rel=0.1)


def test_erlang_a_with_endless_patience_is_erlang_c():
    c = staffing(arrivals=100, interval_s=1800, aht_s=180, target_sl=0.8, answer_s=20)
    a = staffing(
        arrivals=100, interval_s=1800, aht_s=180, target_sl=0.8, answer_s=20, patience_s=1e9
    )
    assert a.agents == c.agents
    assert a.service_level == pytest.approx(c.service_level, abs=1e-6)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-5)


def test_erlang_a_needs_fewer_agents_when_contacts_give_up_sooner():
    params = {"arrivals": 100, "interval_s": 1800, "aht_s": 180, "target_sl": 0.8, "answer_s": 20}
    agents = [staffing(**params, patience_s=p).agents for p in (1e6, 3600, 600, 60)]
    assert agents == sorted(agents, reverse=True)
    assert agents[-1] < agents[0] == 14


@pytest.mark.parametrize("traffic", [5_000.0, 20_000.0])
def test_erlang_a_at_thousands_of_erlangs(traffic):
    started = time.perf_counter()
    params = {"arrivals": traffic * 20, "interval_s": 3600, "aht_s": 180, "answer_s": 20}
    result = staffing(**params, target_sl=0.8, patience_s=600)
    assert time.perf_counter() - started < 2.0
    assert 0.8 <= result.service_level < 1
    assert 0 <= result.abandonment < 0.1
    assert 0.9 * traffic < result.agents < traffic + 3 * math.sqrt(traffic)
    fewer = service_at(**params, agents=result.agents - 1, patience_s=600)
    assert fewer.service_level < 0.8


@settings(max_examples=80, deadline=None)
@given(
    arrivals=st.floats(min_value=0.1, max_value=20_000),
    aht_s=st.floats(min_value=10, max_value=3600),
    patience_s=st.floats(min_value=1, max_value=10_000),
    target=st.floats(min_value=0.05, max_value=0.98),
    answer_s=st.floats(min_value=0, max_value=600),
    concurrency=st.integers(min_value=1, max_value=4),
)
def test_erlang_a_staffing_is_the_fewest_agents_that_meet_the_target(
    arrivals, aht_s, patience_s, target, answer_s, concurrency
):
    params = {
        "arrivals": arrivals,
        "interval_s": 3600,
        "aht_s": aht_s,
        "answer_s": answer_s,
        "patience_s": patience_s,
        "concurrency": concurrency,
    }
    result = staffing(**params, target_sl=target)
    assert result.service_level >= target
    assert 0 <= result.abandonment < 1
    if result.agents > 1:
        assert service_at(**params, agents=result.agents - 1).service_level < target


@settings(max_examples=80, deadline=None)
@given(
    traffic=st.floats(min_value=0.05, max_value=400),
    patience_s=st.floats(min_value=5, max_value=20_000),
    agents=st.integers(min_value=0, max_value=450),
    answer_s=st.floats(min_value=0, max_value=300),
)
def test_erlang_a_properties(traffic, patience_s, agents, answer_s):
    params = {"arrivals": traffic * 20, "interval_s": 3600, "aht_s": 180, "patience_s": patience_s}
    here = erlang_a(**params, servers=agents, answer_s=answer_s)
    more = erlang_a(**params, servers=agents + 1, answer_s=answer_s)
    later = erlang_a(**params, servers=agents, answer_s=answer_s + 30)
    for m in (here, more, later):
        assert 0 <= m.service_level <= 1
        assert 0 <= m.abandonment <= 1
        assert 0 <= m.occupancy <= 1
        assert m.service_level + m.abandonment <= 1 + 1e-9
    assert more.service_level >= here.service_level - 1e-9
    assert more.abandonment <= here.abandonment + 1e-9
    assert later.service_level >= here.service_level - 1e-9
    # Erlang C's contacts wait at least as long as those who may give up.
    if agents > traffic:
        c = erlang_c(traffic, agents)
        assert here.wait_probability <= c + 1e-9


# -- patience ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("abandoned", "answered", "expected"),
    [
        ([], [10, 20], None),
        ([], [], None),
        ([30], [], 30.0),
        ([30, 90], [60, 20], 100.0),
        ([0, 0], [0], 1.0),
    ],
)
def test_patience_estimate_table(abandoned, answered, expected):
    assert patience_from_abandonment(abandoned_waits=abandoned, answered_waits=answered) == expected


def test_patience_estimate_recovers_the_mean_from_censored_waits():
    rng = random.Random(3)
    abandoned, answered = [], []
    for _ in range(20_000):
        patience = rng.expovariate(1 / 240)
        wait = rng.expovariate(1 / 120)
        (abandoned if patience < wait else answered).append(min(patience, wait))
    estimate = patience_from_abandonment(abandoned_waits=abandoned, answered_waits=answered)
    assert estimate == pytest.approx(240, rel=0.05)
    naive = sum(abandoned) / len(abandoned)
    assert naive < 150  # ignoring the answered contacts would be badly biased


@pytest.mark.parametrize("bad", [[-1.0], [math.nan], ["5"], [math.inf]])
def test_patience_estimate_refuses_bad_waits(bad):
    with pytest.raises(ValueError):
        patience_from_abandonment(abandoned_waits=bad, answered_waits=[1.0])


# -- the command ------------------------------------------------------------------


def test_erlang_command_last_line():
    out = io.StringIO()
    call_command(
        "erlang",
        "--calls=100",
        "--interval-s=1800",
        "--aht-s=180",
        "--target-sl=0.8",
        "--answer-s=20",
        stdout=out,
    )
    lines = out.getvalue().strip().splitlines()
    assert lines[-1] == "erlang agents=14 service_level=0.8884 asa_s=7.836 occupancy=0.7143"
    assert any(line.strip().startswith("13 ") for line in lines)


def test_erlang_command_with_patience_and_concurrency():
    out = io.StringIO()
    call_command(
        "erlang",
        "--calls=100",
        "--interval-s=1800",
        "--aht-s=180",
        "--target-sl=0.8",
        "--answer-s=20",
        "--patience-s=300",
        "--concurrency=2",
        stdout=out,
    )
    last = out.getvalue().strip().splitlines()[-1]
    expected = staffing(
        arrivals=100,
        interval_s=1800,
        aht_s=180,
        target_sl=0.8,
        answer_s=20,
        patience_s=300,
        concurrency=2,
    )
    assert last.startswith(f"erlang agents={expected.agents} ")


def test_erlang_command_bad_input():
    with pytest.raises(CommandError, match="target_sl"):
        call_command(
            "erlang", "--calls=100", "--aht-s=180", "--target-sl=1.5", stdout=io.StringIO()
        )


def test_erlang_command_with_an_occupancy_cap():
    out = io.StringIO()
    call_command(
        "erlang",
        "--calls=50000",
        "--interval-s=1800",
        "--aht-s=180",
        "--target-sl=0.8",
        "--answer-s=20",
        "--patience-s=600",
        "--max-occupancy=0.9",
        stdout=out,
    )
    fields = dict(item.split("=") for item in out.getvalue().strip().splitlines()[-1].split()[1:])
    assert int(fields["agents"]) == math.ceil(5000 / 0.9)
    assert float(fields["occupancy"]) <= 0.9
