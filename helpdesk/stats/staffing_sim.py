"""Check a staffing plan by simulation: the routing engine itself serves the forecast demand.

See docs/statistics.md. Erlang C and Erlang A assume a steady hour, a single
queue and supporters who take every offer at once. This module plays a plan
through the day simulator of ``routing/simulation.py``, which drives the real
``routing.engine.decide`` tick by tick: Poisson arrivals at the given rate of
each hour, the planned number of supporters on shift in each hour,
exponential handle times and, when ``patience_s`` is given, exponential
patience. The service level it reports is measured, hour changes and all, in
the same terms as ``erlang.staffing``: the share of arrivals answered within
``answer_s``.

The simulated network is one region served by one provider, open around the
clock, with no holidays, and every supporter speaks the language and knows
every topic: what is checked is the staffing, not the coverage of the network.
Supporters accept every offer at once and take no breaks; the routing round
runs every ``answer_s / 30`` seconds (0.5 s to 5 s), so a wait is measured to
within that tick: fine enough for the service level, and a simulated week of
a region takes a second or two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from routing.availability import OpeningRule
from routing.simulation import Behaviour, SimProvider, SimRegion, SimSupporter, simulate_day

__all__ = ["StaffingSimulation", "simulate_staffing", "simulated_service_level"]

TICK_PER_ANSWER = 1 / 30
MIN_TICK_S, MAX_TICK_S = 0.5, 5.0
MAX_HOURS = 24 * 7
DRAIN_H = 4.0
"""After the last hour, its supporters stay this long to work off the queue."""
_CHANNEL = "chat"
_REGION = SimRegion("Simulated", "Simulated area", ("Simulated municipality",))
_START = datetime(2026, 1, 5, tzinfo=ZoneInfo("Europe/Helsinki"))
_ENDLESS_PATIENCE_S = 1e9
"""About 30 years: nobody gives up (and the simulated clock does not overflow)."""


@dataclass(frozen=True, slots=True)
class StaffingSimulation:
    arrivals: int
    service_level: float
    """Share of the arrivals answered within ``answer_s`` (1 when nobody came)."""
    abandonment: float
    asa_s: float
    """Mean wait of the answered contacts (0 when none was answered)."""


def _check_number(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be finite and {'above' if positive else 'at least'} 0")
    return float(value)


def _shifts(agents: Sequence[int], drain_h: float) -> list[tuple[float, float]]:
    """One shift (start, end hours) per supporter-block: the k-th supporter works the
    hours in which the plan has more than k supporters, in unbroken stretches."""
    shifts = []
    hours = len(agents)
    for rank in range(max(agents, default=0)):
        hour = 0
        while hour < hours:
            if agents[hour] > rank:
                begin = hour
                while hour < hours and agents[hour] > rank:
                    hour += 1
                end = float(hour) + (drain_h if hour == hours else 0.0)
                shifts.append((float(begin), end))
            else:
                hour += 1
    return shifts


def simulate_staffing(
    *,
    arrivals_per_hour: Sequence[float],
    aht_s: float,
    agents: Sequence[int],
    answer_s: float,
    concurrency: int = 1,
    patience_s: float | None = None,
    seed: int = 0,
) -> StaffingSimulation:
    """Run the plan (hour ``i``: ``arrivals_per_hour[i]`` arrivals, ``agents[i]`` supporters)."""
    if isinstance(arrivals_per_hour, str | bytes) or not isinstance(arrivals_per_hour, Sequence):
        raise ValueError("arrivals_per_hour must be a list of numbers")
    if isinstance(agents, str | bytes) or not isinstance(agents, Sequence):
        raise ValueError("agents must be a list of whole numbers")
    if len(arrivals_per_hour) != len(agents):
        raise ValueError(
            f"arrivals_per_hour has {len(arrivals_per_hour)} hours but agents {len(agents)}"
        )
    if not 1 <= len(agents) <= MAX_HOURS:
        raise ValueError(f"the plan must have from 1 to {MAX_HOURS} hours, not {len(agents)}")
    rates = [_check_number(f"arrivals_per_hour[{i}]", r) for i, r in enumerate(arrivals_per_hour)]
    for i, n in enumerate(agents):
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10_000:
            raise ValueError(f"agents[{i}] must be a whole number from 0 to 10000, not {n!r}")
    aht_s = _check_number("aht_s", aht_s, positive=True)
    answer_s = _check_number("answer_s", answer_s)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number of at least 1, not {concurrency!r}")
    if patience_s is not None:
        patience_s = _check_number("patience_s", patience_s, positive=True)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be a whole number, not {seed!r}")

    around_the_clock = tuple(OpeningRule(day, time(0), time(0)) for day in range(7))
    provider = SimProvider(
        id=1,
        regions=frozenset({_REGION.name}),
        channels=frozenset({_CHANNEL}),
        languages=frozenset({"fi"}),
        rules=around_the_clock,
    )
    supporters = [
        SimSupporter(
            id=index + 1,
            provider_ids=frozenset({provider.id}),
            languages=frozenset({"fi"}),
            skills=frozenset(),
            capacity={_CHANNEL: concurrency},
            shift_start_h=begin,
            shift_end_h=end,
        )
        for index, (begin, end) in enumerate(_shifts(agents, DRAIN_H))
    ]
    patience = _ENDLESS_PATIENCE_S if patience_s is None else patience_s
    behaviour = Behaviour(
        tick_s=min(MAX_TICK_S, max(MIN_TICK_S, answer_s * TICK_PER_ANSWER)),
        accept_p=1.0,
        decline_p=0.0,
        answer_delay_s=(0.0, 0.0),
        handle_mean_s={"chat": aht_s, "phone": aht_s, "video": aht_s},
        patience_mean_s={"chat": patience, "phone": patience, "video": patience},
        callback_p=0.0,
        languages={"fi": 1.0},
        topics=(),
        topic_p=0.0,
        unknown_municipality_p=0.0,
        returning_p=0.0,
        escalation_p=0.0,
        break_rate_per_h=0.0,
        busy_rate_per_h=0.0,
        disconnect_rate_per_h=0.0,
        drain_s=DRAIN_H * 3600.0,
    )
    report = simulate_day(
        seed=seed,
        regions=[_REGION],
        arrival_rates={(_REGION.name, _CHANNEL): rates},
        supporters=supporters,
        providers=[provider],
        start=_START,
        hours=float(len(agents)),
        behaviour=behaviour,
        country_holidays=frozenset(),
    )
    if report.double_assignments or report.capacity_violations or report.lost_contacts:
        raise RuntimeError(
            "the routing simulation broke an invariant: "
            f"{report.double_assignments} double assignments, "
            f"{report.capacity_violations} capacity violations, {report.lost_contacts} lost"
        )
    if report.arrivals == 0:
        return StaffingSimulation(arrivals=0, service_level=1.0, abandonment=0.0, asa_s=0.0)
    waits = [o.wait_s for o in report.outcomes if o.wait_s is not None]
    within = sum(1 for w in waits if w <= answer_s + 1e-9)
    return StaffingSimulation(
        arrivals=report.arrivals,
        service_level=within / report.arrivals,
        abandonment=report.abandoned / report.arrivals,
        asa_s=sum(waits) / len(waits) if waits else 0.0,
    )


def simulated_service_level(
    *,
    arrivals_per_hour: list[float],
    aht_s: float,
    agents: list[int],
    answer_s: float,
    concurrency: int = 1,
    patience_s: float | None = None,
    seed: int = 0,
) -> float:
    """The share of contacts answered within ``answer_s`` when the plan is simulated."""
    return simulate_staffing(
        arrivals_per_hour=arrivals_per_hour,
        aht_s=aht_s,
        agents=agents,
        answer_s=answer_s,
        concurrency=concurrency,
        patience_s=patience_s,
        seed=seed,
    ).service_level
