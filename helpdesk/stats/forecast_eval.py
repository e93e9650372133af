"""How well ``forecast_hourly`` recovers known demand: synthetic history, forecast, score.

Used by ``manage.py forecast_eval`` and the forecast tests. A region's hourly
arrival rate is a weekday and a weekend daily profile, scaled per weekday,
with Finnish public holidays like Sundays and a gentle trend; counts are drawn
from it (slightly over-dispersed, as real contact counts are), the forecast is
fitted on ``weeks`` weeks and scored on the next four: the mean absolute
percentage error of the forecast mean against the true rate, and the share of
simulated actual counts inside the prediction interval, both over the hours
with non-trivial demand (a true rate of at least ``MIN_RATE`` an hour: in
quieter hours a percentage error means little, and a whole-number interval
around a count of 0 or 1 covers far more than its nominal share).
"""

from __future__ import annotations

import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from helpdesk.stats.forecast import ForecastPoint, forecast_hourly

__all__ = ["ForecastEvaluation", "evaluate_forecast", "synthetic_counts", "synthetic_rates"]

HELSINKI = ZoneInfo("Europe/Helsinki")
MIN_RATE = 2.0
FORECAST_WEEKS = 4
DEFAULT_START = datetime(2026, 12, 1, tzinfo=HELSINKI)
"""Eight weeks before it hold All Saints' Day and the end of summer time; the four
weeks after it hold Independence Day and Christmas."""

_WEEKDAY_PROFILE = (
    0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 1.0, 3.0, 8.0, 14.0, 18.0, 17.0,
    14.0, 16.0, 17.0, 15.0, 12.0, 9.0, 7.0, 6.0, 5.0, 3.0, 1.5, 0.7,
)  # fmt: skip
_WEEKEND_PROFILE = (
    0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.5, 1.5, 3.0, 5.0, 6.0,
    6.0, 6.0, 5.5, 5.0, 4.0, 3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5,
)  # fmt: skip
_DAY_LEVEL = (1.2, 1.1, 1.0, 0.95, 0.8, 1.0, 0.85)
DEFAULT_SCALE = 2.0
"""About 2,200 contacts a week, peaking at about 40 an hour on Monday mornings: a
large region's chat. Smaller regions give noisier estimates (``--scale``)."""
TREND_PER_WEEK = 0.01
DISPERSION = 0.03
"""NB2 alpha of the simulated counts: variance = mean + alpha mean^2."""


@dataclass(frozen=True, slots=True)
class ForecastEvaluation:
    mape: float
    """Mean absolute percentage error (a share: 0.05 is 5 %) of the mean against the rate."""
    coverage: float
    """Share of actual counts inside the interval, over hours with non-trivial demand."""
    coverage_all_hours: float
    hours: int
    """Hours with non-trivial demand in the forecast window."""
    fit_s: float
    history_start: datetime
    forecast_start: datetime


def synthetic_rates(
    hours: Sequence[datetime],
    *,
    scale: float = 1.0,
    origin: datetime = DEFAULT_START,
    country_holidays: Container[date] | None = None,
) -> np.ndarray:
    """The true arrival rate of each hour (contacts per hour)."""
    if country_holidays is None:
        from routing.availability import finnish_holidays

        country_holidays = finnish_holidays
    rates = np.empty(len(hours))
    for i, moment in enumerate(hours):
        local = moment.astimezone(HELSINKI)
        weekday = 6 if local.date() in country_holidays else local.weekday()
        profile = _WEEKEND_PROFILE if weekday >= 5 else _WEEKDAY_PROFILE
        weeks = (moment - origin) / timedelta(weeks=1)
        rates[i] = scale * profile[local.hour] * _DAY_LEVEL[weekday] * (1 + TREND_PER_WEEK) ** weeks
    return rates


def synthetic_counts(rates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Over-dispersed counts: Poisson with a gamma-distributed rate (an NB2)."""
    shape = 1.0 / DISPERSION
    return rng.poisson(rates * rng.gamma(shape, 1.0 / shape, size=len(rates))).astype(float)


def evaluate_forecast(
    *, seed: int = 0, weeks: int = 8, scale: float = DEFAULT_SCALE, start: datetime = DEFAULT_START
) -> ForecastEvaluation:
    if not 1 <= weeks <= 52:
        raise ValueError(f"weeks must be from 1 to 52, not {weeks}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    rng = np.random.default_rng(seed)
    hour = timedelta(hours=1)
    history_hours = int(timedelta(weeks=weeks) / hour)
    future_hours = int(timedelta(weeks=FORECAST_WEEKS) / hour)
    past = [start - (history_hours - i) * hour for i in range(history_hours)]
    future = [start + i * hour for i in range(future_hours)]
    history = list(
        zip(past, synthetic_counts(synthetic_rates(past, scale=scale), rng).tolist(), strict=True)
    )
    # Loaded before the clock starts: the time is the fit's, not the import's.
    import statsmodels.discrete.discrete_model  # noqa: F401
    import statsmodels.genmod.generalized_linear_model  # noqa: F401

    began = time.perf_counter()
    points: list[ForecastPoint] = forecast_hourly(
        history, start=start, hours=future_hours, interval=0.8
    )
    fit_s = time.perf_counter() - began
    true = synthetic_rates(future, scale=scale)
    actual = synthetic_counts(true, rng)
    mean = np.array([p.mean for p in points])
    lower = np.array([p.lower for p in points])
    upper = np.array([p.upper for p in points])
    busy = true >= MIN_RATE
    inside = (actual >= lower) & (actual <= upper)
    return ForecastEvaluation(
        mape=float(np.mean(np.abs(mean[busy] - true[busy]) / true[busy])),
        coverage=float(inside[busy].mean()),
        coverage_all_hours=float(inside.mean()),
        hours=int(busy.sum()),
        fit_s=fit_s,
        history_start=past[0],
        forecast_start=start,
    )
