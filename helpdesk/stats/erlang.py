"""Erlang C and Erlang A: how many supporters an interval needs to meet a service level.

Pure functions of plain numbers (no Django), used by the demand plans and
``manage.py erlang``. See docs/statistics.md.

Erlang C (M/M/n) assumes that nobody gives up waiting. It is computed from the
Erlang B recursion ``B(k) = A B(k-1) / (k + A B(k-1))``, which never forms a
factorial or a power, so 5,000 erlangs and more are as cheap and as exact as 5.

Erlang A (M/M/n+M, Palm's model) adds exponential patience with mean
``patience_s``: a waiting contact gives up at rate ``theta = 1 / patience_s``.
With ``a = n mu / theta`` and ``x = lambda / theta``, an arrival finds all
servers busy and ``m`` contacts waiting with probability proportional to
``q_m = x^m / ((a+1)(a+2)...(a+m))``, scaled by the Erlang B term. Ahead of
it, contacts leave at rate ``n mu + i theta``; with its own patience the
contact is answered with probability ``a / (a+m+1)``, and its wait, given that
it is answered, is a sum of exponentials ``Exp(theta (a+1+i))``, ``i = 0..m``,
whose distribution function is the regularised incomplete beta function
``I_p(m+1, a+1)`` with ``p = 1 - exp(-theta t)`` (the time of the (m+1)-th
of ``a+m+1`` exponential events). The sums over ``m`` run in log space over
the window that holds the mass, so nothing overflows at any traffic.

The service level is the share of *all* arriving contacts answered within
``answer_s`` (abandoned contacts count against it, whenever they gave up);
the average speed of answer is the mean wait of the answered contacts.

Chat concurrency: a supporter serving up to ``k`` chats at once is counted as
``k`` servers, each chat keeping the handle time ``aht_s`` measured while
chats ran side by side. This is exact when chats do not slow each other down
and otherwise as good as the measured handle time; occupancy is then the
share of chat slots in use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "ErlangAMetrics",
    "StaffingResult",
    "average_speed_of_answer",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "patience_from_abandonment",
    "service_at",
    "service_level",
    "staffing",
]

MAX_AGENTS = 1_000_000
"""More agents (or servers) than this are refused."""
MAX_TRAFFIC = 100_000.0
"""Offered load above this many erlangs is refused (a national contact centre has a few
thousand); it bounds the work of every search."""
MAX_CONCURRENCY = 50

ENDLESS_PATIENCE = 1e-4
"""A patience over 1/ENDLESS_PATIENCE handle times is taken as endless (Erlang C)."""
_LOG_TAIL = 45.0
"""Terms more than e^-45 below the largest are left out of a sum."""


@dataclass(frozen=True, slots=True)
class StaffingResult:
    agents: int
    """Supporters needed (each serving up to ``concurrency`` contacts)."""
    service_level: float
    """Share of arriving contacts answered within ``answer_s``."""
    asa_s: float
    """Average speed of answer: mean wait of the answered contacts, in seconds."""
    occupancy: float
    """Share of the supporters' contact slots in use."""
    abandonment: float = 0.0
    """Share of arriving contacts that give up (Erlang A; 0 for Erlang C)."""


@dataclass(frozen=True, slots=True)
class ErlangAMetrics:
    wait_probability: float
    """Probability that an arriving contact finds every server busy."""
    service_level: float
    asa_s: float
    abandonment: float
    occupancy: float


# -- checks -------------------------------------------------------------------


def _number(name: str, value: object, *, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, not {number}")
    if number < minimum or (strict and number == minimum):
        relation = "greater than" if strict else "at least"
        raise ValueError(f"{name} must be {relation} {minimum:g}, not {number:g}")
    return number


def _count(name: str, value: object, *, minimum: int = 0, maximum: int = MAX_AGENTS) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value}")
    return int(value)


def _check_traffic(arrivals: float, interval_s: float, aht_s: float) -> None:
    traffic = arrivals * aht_s / interval_s
    if traffic > MAX_TRAFFIC:
        raise ValueError(
            f"the offered load is {traffic:.0f} erlangs; more than {MAX_TRAFFIC:.0f} is refused"
        )


# -- Erlang B and C -------------------------------------------------------------


class _ErlangB:
    """Erlang B blocking probabilities for one traffic, extended as they are asked for."""

    __slots__ = ("traffic", "values")

    def __init__(self, traffic: float) -> None:
        self.traffic = traffic
        self.values = [1.0]

    def __call__(self, servers: int) -> float:
        values, traffic = self.values, self.traffic
        if servers < len(values):
            return values[servers]
        b = values[-1]
        if b == 0.0:
            return 0.0  # underflowed: it only falls further
        for k in range(len(values), servers + 1):
            b = traffic * b / (k + traffic * b)
            values.append(b)
            if b == 0.0:
                return 0.0
        return b


def erlang_b(traffic: float, servers: int) -> float:
    """Probability that an arrival finds all ``servers`` busy in a loss system (M/M/n/n)."""
    traffic = _number("traffic", traffic)
    servers = _count("servers", servers)
    return _ErlangB(traffic)(servers)


def _erlang_c_from_b(traffic: float, agents: int, b: float) -> float:
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    return agents * b / (agents - traffic * (1.0 - b))


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that an arriving contact has to wait (M/M/n, nobody gives up).

    ``traffic`` is the offered load in erlangs (arrivals x handle time /
    interval). With ``agents <= traffic`` the queue grows without bound and
    every contact waits: the answer is 1.
    """
    traffic = _number("traffic", traffic)
    agents = _count("agents", agents)
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    return _erlang_c_from_b(traffic, agents, _ErlangB(traffic)(agents))


def _sl_c(traffic: float, agents: int, c: float, aht_s: float, answer_s: float) -> float:
    if traffic == 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return max(0.0, 1.0 - c * math.exp(-(agents - traffic) * answer_s / aht_s))


def _asa_c(traffic: float, agents: int, c: float, aht_s: float) -> float:
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return c * aht_s / (agents - traffic)


def service_level(traffic: float, agents: int, *, aht_s: float, answer_s: float) -> float:
    """Erlang C: share of contacts answered within ``answer_s`` seconds."""
    traffic = _number("traffic", traffic)
    agents = _count("agents", agents)
    aht_s = _number("aht_s", aht_s, strict=True)
    answer_s = _number("answer_s", answer_s)
    return _sl_c(traffic, agents, erlang_c(traffic, agents), aht_s, answer_s)


def average_speed_of_answer(traffic: float, agents: int, *, aht_s: float) -> float:
    """Erlang C: mean wait in seconds over all contacts (``inf`` when overloaded)."""
    traffic = _number("traffic", traffic)
    agents = _count("agents", agents)
    aht_s = _number("aht_s", aht_s, strict=True)
    return _asa_c(traffic, agents, erlang_c(traffic, agents), aht_s)


# -- Erlang A -------------------------------------------------------------------


def _erlang_a(
    *, rate: float, mu: float, theta: float, servers: int, answer_s: float, b: _ErlangB
) -> ErlangAMetrics:
    """Erlang A for arrival rate ``rate``, service rate ``mu``, abandonment rate ``theta``."""
    traffic = rate / mu
    if rate == 0:
        return ErlangAMetrics(0.0, 1.0, 0.0, 0.0, 0.0)
    if servers == 0:
        return ErlangAMetrics(1.0, 0.0, math.inf, 1.0, 0.0)
    if theta < ENDLESS_PATIENCE * mu:
        # Patience of ten thousand handle times: nobody gives up before the queue
        # is served, and Erlang C is exact to many digits (the sums below would be
        # over millions of queue lengths).
        c = _erlang_c_from_b(traffic, servers, b(servers)) if servers > traffic else 1.0
        return ErlangAMetrics(
            wait_probability=c,
            service_level=_sl_c(traffic, servers, c, 1.0 / mu, answer_s),
            asa_s=_asa_c(traffic, servers, c, 1.0 / mu),
            abandonment=max(0.0, 1.0 - servers / traffic),
            occupancy=min(1.0, traffic / servers),
        )
    a = servers * mu / theta
    x = rate / theta
    # Window of queue lengths m that holds the mass of q_m (log-concave in m).
    peak = max(0, math.ceil(x - a))
    spread = math.ceil(14.0 * math.sqrt(a + peak + 1.0)) + 20
    hi = peak + spread
    ratio = x / (a + peak + 1.0)
    if ratio < 1.0:
        hi = min(hi, peak + math.ceil(_LOG_TAIL / -math.log(ratio)) + 2)
    lo = max(0, peak - spread)
    m = np.arange(lo, hi + 1, dtype=np.float64)
    log_q = m * math.log(x) - (special.gammaln(a + m + 1.0) - special.gammaln(a + 1.0))
    top = float(log_q.max())
    weights = np.exp(log_q - top)
    total = float(weights.sum())
    log_a_sum = top + math.log(total)  # log of sum_m q_m
    p_m = weights / total
    # P(all busy) = A E / (1 + (A - 1) E), with E the Erlang B probability.
    e = b(servers)
    if e <= 0.0:
        wait_p = 0.0
    elif e >= 1.0:
        wait_p = 1.0
    else:
        # A E / (1 + (A - 1) E) rearranged so that A (which can be e^1000) never appears.
        wait_p = 1.0 / (1.0 + (1.0 - e) / e * math.exp(-log_a_sum))
    answered_given_m = a / (a + m + 1.0)
    answered_wait = float(np.dot(p_m, answered_given_m))
    if answer_s > 0:
        p = -math.expm1(-theta * answer_s)
        within = float(np.dot(p_m, answered_given_m * special.betainc(m + 1.0, a + 1.0, p)))
    else:
        within = 0.0
    # Mean wait of an answered contact that found m ahead: sum of 1/(theta (a+1+i)).
    harmonic = special.digamma(a + m + 2.0) - special.digamma(a + 1.0)
    answered_wait_time = float(np.dot(p_m, answered_given_m * harmonic)) / theta
    answered = (1.0 - wait_p) + wait_p * answered_wait
    abandonment = wait_p * (1.0 - answered_wait)
    sl = (1.0 - wait_p) + wait_p * within
    asa = wait_p * answered_wait_time / answered if answered > 0 else math.inf
    occupancy = min(1.0, traffic * answered / servers)
    return ErlangAMetrics(
        wait_probability=wait_p,
        service_level=min(1.0, max(0.0, sl)),
        asa_s=asa,
        abandonment=min(1.0, max(0.0, abandonment)),
        occupancy=occupancy,
    )


def erlang_a(
    *,
    arrivals: float,
    interval_s: float,
    aht_s: float,
    patience_s: float,
    servers: int,
    answer_s: float,
) -> ErlangAMetrics:
    """Erlang A (M/M/n+M) for ``servers`` servers: see the module docstring."""
    arrivals = _number("arrivals", arrivals)
    interval_s = _number("interval_s", interval_s, strict=True)
    aht_s = _number("aht_s", aht_s, strict=True)
    patience_s = _number("patience_s", patience_s, strict=True)
    servers = _count("servers", servers)
    answer_s = _number("answer_s", answer_s)
    _check_traffic(arrivals, interval_s, aht_s)
    rate = arrivals / interval_s
    return _erlang_a(
        rate=rate,
        mu=1.0 / aht_s,
        theta=1.0 / patience_s,
        servers=servers,
        answer_s=answer_s,
        b=_ErlangB(rate * aht_s),
    )


# -- staffing -----------------------------------------------------------------


class _Plan:
    """Evaluates one interval's service for a number of agents."""

    def __init__(
        self,
        *,
        rate: float,
        aht_s: float,
        answer_s: float,
        concurrency: int,
        patience_s: float | None,
    ) -> None:
        self.rate = rate
        self.aht_s = aht_s
        self.answer_s = answer_s
        self.concurrency = concurrency
        self.patience_s = patience_s
        self.traffic = rate * aht_s
        self.b = _ErlangB(self.traffic)

    def __call__(self, agents: int) -> StaffingResult:
        servers = agents * self.concurrency
        traffic = self.traffic
        if self.patience_s is None:
            if servers > traffic:
                c = _erlang_c_from_b(traffic, servers, self.b(servers))
            else:
                c = 1.0
            return StaffingResult(
                agents=agents,
                service_level=_sl_c(traffic, servers, c, self.aht_s, self.answer_s),
                asa_s=_asa_c(traffic, servers, c, self.aht_s),
                occupancy=min(1.0, traffic / servers) if servers else 0.0,
            )
        metrics = _erlang_a(
            rate=self.rate,
            mu=1.0 / self.aht_s,
            theta=1.0 / self.patience_s,
            servers=servers,
            answer_s=self.answer_s,
            b=self.b,
        )
        return StaffingResult(
            agents=agents,
            service_level=metrics.service_level,
            asa_s=metrics.asa_s,
            occupancy=metrics.occupancy,
            abandonment=metrics.abandonment,
        )


def service_at(
    *,
    agents: int,
    arrivals: float,
    interval_s: float,
    aht_s: float,
    answer_s: float,
    concurrency: int = 1,
    patience_s: float | None = None,
) -> StaffingResult:
    """The service that ``agents`` supporters give (Erlang C, or Erlang A with patience)."""
    agents = _count("agents", agents)
    arrivals = _number("arrivals", arrivals)
    interval_s = _number("interval_s", interval_s, strict=True)
    aht_s = _number("aht_s", aht_s, strict=True)
    answer_s = _number("answer_s", answer_s)
    concurrency = _count("concurrency", concurrency, minimum=1, maximum=MAX_CONCURRENCY)
    if patience_s is not None:
        patience_s = _number("patience_s", patience_s, strict=True)
    _check_traffic(arrivals, interval_s, aht_s)
    plan = _Plan(
        rate=arrivals / interval_s,
        aht_s=aht_s,
        answer_s=answer_s,
        concurrency=concurrency,
        patience_s=patience_s,
    )
    return plan(agents)


def staffing(
    *,
    arrivals: float,
    interval_s: float,
    aht_s: float,
    target_sl: float,
    answer_s: float,
    concurrency: int = 1,
    patience_s: float | None = None,
    max_occupancy: float | None = None,
) -> StaffingResult:
    """The fewest supporters that answer ``target_sl`` of the contacts within ``answer_s``.

    ``arrivals`` contacts arrive in ``interval_s`` seconds and take ``aht_s``
    seconds each. Erlang C when ``patience_s`` is ``None``, else Erlang A
    with that mean patience. A supporter serves up to ``concurrency`` contacts
    at once (chat). ``max_occupancy`` additionally caps the share of busy
    slots. No arrivals need no supporters.
    """
    arrivals = _number("arrivals", arrivals)
    interval_s = _number("interval_s", interval_s, strict=True)
    aht_s = _number("aht_s", aht_s, strict=True)
    target_sl = _number("target_sl", target_sl, strict=True)
    if target_sl >= 1.0:
        raise ValueError(f"target_sl must be below 1 (none answers all), not {target_sl}")
    answer_s = _number("answer_s", answer_s)
    concurrency = _count("concurrency", concurrency, minimum=1, maximum=MAX_CONCURRENCY)
    if patience_s is not None:
        patience_s = _number("patience_s", patience_s, strict=True)
    _check_traffic(arrivals, interval_s, aht_s)
    if max_occupancy is not None:
        max_occupancy = _number("max_occupancy", max_occupancy, strict=True)
        if max_occupancy > 1.0:
            raise ValueError(f"max_occupancy must be at most 1, not {max_occupancy}")
    if arrivals == 0:
        return StaffingResult(agents=0, service_level=1.0, asa_s=0.0, occupancy=0.0)
    plan = _Plan(
        rate=arrivals / interval_s,
        aht_s=aht_s,
        answer_s=answer_s,
        concurrency=concurrency,
        patience_s=patience_s,
    )
    traffic = plan.traffic

    def meets(result: StaffingResult) -> bool:
        return result.service_level >= target_sl and (
            max_occupancy is None or result.occupancy <= max_occupancy
        )

    least = 1
    if max_occupancy is not None:
        least = max(least, math.ceil(traffic / (max_occupancy * concurrency) - 1e-9))
    if patience_s is None:
        # Service level grows with every agent past the traffic: walk up from there.
        agents = max(least, math.floor(traffic / concurrency) + 1)
        while agents <= MAX_AGENTS:
            result = plan(agents)
            if meets(result):
                return result
            agents += 1
        raise ValueError(f"more than {MAX_AGENTS} agents would be needed")
    # Erlang A: the service level grows with the agents, but may be met below the
    # traffic (impatient contacts leave), so search: double, then halve.
    hi = max(least, math.floor(traffic / concurrency) + 1)
    result = plan(hi)
    lo = least - 1
    while not meets(result):
        lo = hi
        hi *= 2
        if hi > MAX_AGENTS:
            raise ValueError(f"more than {MAX_AGENTS} agents would be needed")
        result = plan(hi)
    best = result
    while hi - lo > 1:
        mid = (lo + hi) // 2
        candidate = plan(mid)
        if meets(candidate):
            hi, best = mid, candidate
        else:
            lo = mid
    return best


def patience_from_abandonment(
    *, abandoned_waits: Sequence[float], answered_waits: Sequence[float]
) -> float | None:
    """Mean patience in seconds, estimated from how long contacts waited.

    Patience is taken as exponential. An abandoned contact's wait is its
    patience; an answered contact's wait is a lower bound of its patience
    (censored). The maximum-likelihood estimate of the mean is then the total
    waiting time of everyone divided by the number who gave up. ``None`` when
    nobody gave up: patience was never seen to run out, and Erlang C applies.
    Waits are recorded to the second at best, so the estimate is at least 1 s.
    """
    total = 0.0
    for name, waits in (("abandoned_waits", abandoned_waits), ("answered_waits", answered_waits)):
        for wait in waits:
            total += _number(name, wait)
    abandoned = len(abandoned_waits)
    if abandoned == 0:
        return None
    return max(1.0, total / abandoned)
