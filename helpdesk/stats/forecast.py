"""Hourly demand forecasts with prediction intervals, from hourly contact counts.

Pure (no Django): plain datetimes and numbers in, ``ForecastPoint``s out. See
docs/statistics.md.

The model is a count regression fitted with statsmodels:

    log E[y_t] = profile[day type, hour] + level[weekday] + holiday + trend * weeks

- ``profile``: the hour-of-day shape of a weekday (Mon-Fri) and of a weekend
  day (Sat, Sun and public holidays), 48 effects;
- ``level``: how busy each weekday is against Monday, and Sunday against
  Saturday (5 effects). Together these are the hour-of-week effects, in a form
  that pools the same hour across weekdays, so that eight weeks of history
  estimate them well (a free effect for each of the 168 hours of the week
  would rest on eight counts each);
- ``holiday``: a Finnish public holiday (``holidays``, as the routing uses) is
  taken to be a Sunday, and this effect is how it differs from one; it is
  estimated only when the history holds ``HOLIDAY_MIN_DAYS`` holidays or more;
- ``trend``: a log-linear trend per week, when the history spans four full
  weeks and ``TREND_MIN_CONTACTS`` contacts or more: the Theil-Sen slope
  (scipy) of the weekly mean rates, at most 20 % a week, entering the fit as an
  offset, and carried at most ``TREND_MAX_AHEAD_WEEKS`` past the history's end.
  A median of slopes, unlike a likelihood fit, is not tilted by one burst or
  one quiet holiday week.

The counts are negative binomial (NB2): Poisson maximum likelihood gives the
mean effects (consistent under over-dispersion, and fast), the dispersion
``alpha`` maximises the NB2 likelihood of the counts around those means, and
statsmodels' NB2 GLM with that ``alpha`` gives the covariance of the effects
(the Poisson fit's, when the counts are not over-dispersed). A prediction interval
takes both the NB2 noise and the uncertainty of the mean into account: with
``s^2`` the variance of the linear predictor ``eta`` (the effects' and the
trend's), the bounds are quantiles
(scipy) of an NB2 around the fitted mean ``exp(eta)`` with dispersion
``(1 + alpha) e^{s^2} - 1``, the spread of an NB2 whose log-mean is normal.

Robustness: hours are handled in UTC and labelled in Helsinki time, so a
missing or repeated hour at a daylight-saving change is simply an hour with
its own local label. Missing hours in the history are left out (not read as
zeros; ``hourly_series`` fills zeros from events). An hour of the day that had
no contact in the whole history is forecast as none, with a 0-0 interval. A
history too short to have seen every (day type, hour) the forecast needs falls
back to an hour-of-day profile, then to a flat rate; an empty or all-zero
history forecasts zeros. An hour far beyond what its hour of the week usually
sees (an outage, a test burst) is lowered before fitting
(``_without_outliers``): in a multiplicative model it would move every effect
it shares.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from scipy import linalg, optimize, stats
from threadpoolctl import threadpool_limits

__all__ = ["ForecastPoint", "forecast_hourly", "hourly_series"]

HELSINKI = ZoneInfo("Europe/Helsinki")
HOUR = timedelta(hours=1)
MAX_HOURS = 24 * 7 * 60
"""Longest forecast (and longest gap-free span) accepted: about 60 weeks."""
TREND_MIN_WEEKS = 4
TREND_MAX_AHEAD_WEEKS = 8.0
TREND_MIN_CONTACTS = 200
"""A trend from fewer contacts is noise."""
TREND_MAX_PER_WEEK = math.log(1.2)
"""The trend is at most 20 % a week, up or down."""
OUTLIER_P = 1e-6
OUTLIER_ALPHA = 0.5
_FULL_WEEK_HOURS = 160
"""A week with fewer hours in the history (gaps) does not count for the trend."""
HOLIDAY_MIN_DAYS = 4
"""Fewer holidays in the history than this are simply Sundays: one day's own
effect would be noisier than that assumption."""
_MIN_ALPHA = 1e-6
"""Below this the counts are taken as Poisson."""


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    hour_start: datetime
    """Start of the hour, in Europe/Helsinki time."""
    mean: float
    """Expected number of contacts in the hour."""
    lower: float
    upper: float
    """The prediction interval for the count in the hour (quantiles, so whole numbers)."""


# -- input ------------------------------------------------------------------------


def _utc_hour(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not naive: {value.isoformat()}")
    return value.astimezone(UTC)


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _check_history(history: Iterable[tuple[datetime, float]]) -> dict[datetime, float]:
    counts: dict[datetime, float] = {}
    for index, item in enumerate(history):
        try:
            moment, count = item
        except (TypeError, ValueError):
            raise ValueError(f"history[{index}] must be a (datetime, count) pair") from None
        hour = _floor_hour(_utc_hour(moment, f"history[{index}] time"))
        if isinstance(count, bool) or not isinstance(count, int | float | np.integer | np.floating):
            raise ValueError(f"history[{index}] count must be a number, not {count!r}")
        if not math.isfinite(count) or count < 0:
            raise ValueError(f"history[{index}] count must be finite and at least 0, not {count}")
        counts[hour] = counts.get(hour, 0.0) + float(count)
    return counts


def hourly_series(
    events: Iterable[datetime], *, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    """Counts of ``events`` per hour from ``start`` up to ``end``, with the empty hours as 0.

    ``start`` is rounded down and ``end`` up to whole hours; the hours are
    labelled in Europe/Helsinki time. Events outside the span are ignored.
    """
    first = _floor_hour(_utc_hour(start, "start"))
    last = _utc_hour(end, "end")
    stop = _floor_hour(last) + (HOUR if last != _floor_hour(last) else timedelta(0))
    if stop < first:
        raise ValueError("end must not be before start")
    hours = int((stop - first) / HOUR)
    if hours > MAX_HOURS * 3:
        raise ValueError(f"the span is too long: {hours} hours")
    counts = [0.0] * hours
    for index, event in enumerate(events):
        moment = _utc_hour(event, f"events[{index}]")
        slot = int((moment - first) // HOUR)
        if 0 <= slot < hours:
            counts[slot] += 1.0
    return [((first + i * HOUR).astimezone(HELSINKI), counts[i]) for i in range(hours)]


# -- features -----------------------------------------------------------------------

_FULL, _HOURLY, _FLAT = "full", "hour-of-day", "flat"


class _Calendar:
    """Local hour, day type and holiday of UTC hours, with the dates' lookups cached."""

    def __init__(self, country_holidays: Container[date]) -> None:
        self.country_holidays = country_holidays
        self.holiday_cache: dict[date, bool] = {}

    def describe(self, hours: Sequence[datetime]) -> np.ndarray:
        """Rows of (local hour, weekday 0-6 with holidays as 6, is weekend, is holiday)."""
        out = np.empty((len(hours), 4), dtype=np.int64)
        for i, moment in enumerate(hours):
            local = moment.astimezone(HELSINKI)
            day = local.date()
            holiday = self.holiday_cache.get(day)
            if holiday is None:
                holiday = self.holiday_cache[day] = day in self.country_holidays
            weekday = 6 if holiday else local.weekday()
            out[i] = (local.hour, weekday, weekday >= 5, holiday)
        return out


def _design(
    info: np.ndarray, level: str, use_holiday: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Design matrix, the index of each row's profile slot, and the column names."""
    hour, weekday, weekend, holiday = info.T
    columns: list[np.ndarray] = []
    names: list[str] = []
    if level == _FULL:
        slot = weekend * 24 + hour
        slots = 48
    elif level == _HOURLY:
        slot = hour
        slots = 24
    else:
        slot = np.zeros(len(info), dtype=np.int64)
        slots = 1
    profile = np.zeros((len(info), slots))
    profile[np.arange(len(info)), slot] = 1.0
    columns.append(profile)
    names += [f"profile{i}" for i in range(slots)]
    if level == _FULL:
        for day in (1, 2, 3, 4, 6):
            columns.append((weekday == day).astype(float)[:, None])
            names.append(f"weekday{day}")
    else:
        columns.append(weekend.astype(float)[:, None])
        names.append("weekend")
    if use_holiday:
        columns.append(holiday.astype(float)[:, None])
        names.append("holiday")
    return np.hstack(columns), slot, names


# -- outliers and trend -------------------------------------------------------------


def _without_outliers(y: np.ndarray, info: np.ndarray) -> np.ndarray:
    """Counts with outliers lowered to their bound.

    In a multiplicative model one extreme hour (an outage, a test burst) moves
    every effect it shares, not only its own hour. A count beyond the
    one-in-a-million tail of a very spread distribution (NB2, ``alpha = 0.5``)
    around the median of its hour of the week is lowered to that tail.
    """
    cell = info[:, 1] * 24 + info[:, 0]
    medians = np.zeros(168)
    for c in np.unique(cell):
        medians[c] = np.median(y[cell == c])
    n = 1.0 / OUTLIER_ALPHA
    centre = np.maximum(medians[cell], 1.0)
    bound = stats.nbinom.ppf(1 - OUTLIER_P, n, n / (n + centre))
    return np.minimum(y, bound)


@dataclass(frozen=True)
class _Trend:
    slope: float = 0.0
    """Change of log demand per week."""
    se: float = 0.0
    """Standard error of the slope."""
    lever_weeks: float = 0.0
    """How far the history's middle lies before its end: an error in the slope moves
    the levels fitted at the end by that much times the error."""

    def variance(self, future_weeks: np.ndarray) -> np.ndarray:
        return (self.se * (future_weeks + self.lever_weeks)) ** 2


def _robust_trend(past: list[datetime], y: np.ndarray, end: datetime) -> _Trend:
    """The weekly trend of log demand, by Theil and Sen's median of pairwise slopes
    of the weekly mean rates (scipy): one outage or holiday week, or a burst hour,
    cannot tilt it the way it tilts a likelihood fit."""
    if len(past) < 2 or past[-1] - past[0] < timedelta(weeks=TREND_MIN_WEEKS):
        return _Trend()
    if y.sum() < TREND_MIN_CONTACTS:
        return _Trend()
    week = np.floor(np.array([(h - end) / timedelta(weeks=1) for h in past])).astype(int)
    weeks = np.unique(week)
    hours = np.array([(week == w).sum() for w in weeks])
    totals = np.array([y[week == w].sum() for w in weeks])
    full = hours >= _FULL_WEEK_HOURS
    if full.sum() < TREND_MIN_WEEKS or np.any(totals[full] <= 0):
        return _Trend()
    rates = np.log(totals[full] / hours[full])
    middle = weeks[full] + 0.5
    slope, _, low, high = stats.theilslopes(rates, middle, alpha=0.95)
    se = max(0.0, (high - low) / (2 * 1.96))
    return _Trend(
        slope=float(np.clip(slope, -TREND_MAX_PER_WEEK, TREND_MAX_PER_WEEK)),
        se=float(se),
        lever_weeks=float(-middle.mean()),
    )


# -- fitting ------------------------------------------------------------------------


@dataclass
class _Fit:
    columns: np.ndarray
    """Indices of the design columns kept."""
    params: np.ndarray
    cov: np.ndarray
    alpha: float
    zero_columns: np.ndarray
    """Indicator columns with no contact at all: a row with one of them forecasts 0."""


def _fit(y: np.ndarray, x: np.ndarray, names: list[str], offset: np.ndarray) -> _Fit | None:
    # Imported here: statsmodels takes a while to load, and most processes never fit.
    from statsmodels.discrete.discrete_model import Poisson
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    indicator = np.ones(len(names), dtype=bool)
    rows = np.ones(len(y), dtype=bool)
    zero_columns = np.zeros(x.shape[1], dtype=bool)
    # Effects of indicators that saw no contact would be minus infinity: leave out
    # their rows (and forecast none where they apply), until none is left.
    while True:
        totals = y[rows] @ x[rows]
        seen = x[rows].sum(axis=0) > 0
        empty = indicator & seen & (totals <= 0)
        if not empty.any():
            break
        zero_columns |= empty
        rows &= ~(x[:, empty] > 0).any(axis=1)
    if not rows.any() or y[rows].sum() <= 0:
        return None
    xr, yr = x[rows], y[rows]
    keep = np.flatnonzero(np.abs(xr).sum(axis=0) > 0)
    # Drop columns that depend on others (e.g. a weekday never seen), by a pivoted
    # QR of the small Gram matrix rather than of the long design.
    gram = xr[:, keep].T @ xr[:, keep]
    _, r, pivots = linalg.qr(gram, pivoting=True)
    diagonal = np.abs(np.diag(r))
    rank = int((diagonal > diagonal[0] * 1e-10).sum()) if diagonal.size else 0
    keep = np.sort(keep[pivots[:rank]])
    xk = xr[:, keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Newton from the least-squares fit of log counts: from zeros it can overshoot.
        gram_k = xk.T @ xk  # full rank: dependent columns were dropped above
        start = np.linalg.solve(gram_k, xk.T @ (np.log(yr + 0.5) - offset[rows]))
        # The profile columns add up to an implicit constant: saying so spares a rank test.
        try:
            poisson = Poisson(yr, xk, offset=offset[rows], hasconst=True).fit(
                start_params=start, method="newton", maxiter=100, disp=0
            )
        except (np.linalg.LinAlgError, ValueError, ArithmeticError):
            return None  # e.g. a singular Hessian: a simpler model is tried
        beta = np.asarray(poisson.params)
        if not poisson.mle_retvals.get("converged", False) or not np.all(np.isfinite(beta)):
            return None
        mu = np.exp(xk @ beta + offset[rows])
        alpha = _dispersion(yr, mu)
        if alpha == 0.0:
            cov = np.asarray(poisson.cov_params())
        else:
            # The covariance of the effects under NB2 with that dispersion.
            nb = GLM(
                yr,
                xk,
                family=families.NegativeBinomial(alpha=alpha),
                offset=offset[rows],
                hasconst=True,
            )
            try:
                cov = np.linalg.inv(-nb.hessian(beta, scale=1.0, observed=False))
            except np.linalg.LinAlgError:
                return None
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(cov))):
        return None
    cov = (cov + cov.T) / 2
    return _Fit(columns=keep, params=beta, cov=cov, alpha=alpha, zero_columns=zero_columns)


def _dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """The NB2 dispersion that maximises the likelihood of ``y`` around the means ``mu``."""

    def negative_loglike(log_alpha: float) -> float:
        n = math.exp(-log_alpha)
        return -float(stats.nbinom.logpmf(y, n, n / (n + mu)).sum())

    best = optimize.minimize_scalar(
        negative_loglike,
        bounds=(math.log(_MIN_ALPHA), math.log(50.0)),
        method="bounded",
        options={"xatol": 1e-3},  # alpha to 0.1 %: plenty for an interval
    )
    if not best.success or not math.isfinite(best.fun):
        return 0.0
    alpha = math.exp(best.x)
    # At the lower bound the counts are no more spread than Poisson ones.
    return 0.0 if alpha <= _MIN_ALPHA * 1.01 else alpha


def _quantiles(mean: np.ndarray, dispersion: np.ndarray, q: float) -> np.ndarray:
    poisson = dispersion < 1e-9
    out = np.zeros_like(mean)
    if poisson.any():
        out[poisson] = stats.poisson.ppf(q, mean[poisson])
    nb = ~poisson & (mean > 0)
    if nb.any():
        n = 1.0 / dispersion[nb]
        out[nb] = stats.nbinom.ppf(q, n, n / (n + mean[nb]))
    return out


# -- the forecast ---------------------------------------------------------------------


def forecast_hourly(
    history: Sequence[tuple[datetime, float]],
    *,
    start: datetime,
    hours: int,
    interval: float = 0.8,
    country_holidays: Container[date] | None = None,
) -> list[ForecastPoint]:
    """Forecast the contacts of each of ``hours`` hours from ``start``.

    ``history`` holds (hour start, count) pairs, timezone-aware, the empty hours
    as 0 (a time inside an hour counts for that hour; pairs for the same hour add
    up); ``start`` is a whole hour, timezone-aware. ``interval`` is the
    coverage of the prediction interval. ``country_holidays`` defaults to the
    Finnish public holidays.
    """
    first = _utc_hour(start, "start")
    if first != _floor_hour(first):
        raise ValueError(f"start must be on the hour, not {start.isoformat()}")
    if isinstance(hours, bool) or not isinstance(hours, int) or not 0 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be a whole number from 0 to {MAX_HOURS}, not {hours!r}")
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise ValueError(f"interval must be a number, not {interval!r}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, not {interval}")
    counts = _check_history(history)
    if country_holidays is None:
        from routing.availability import finnish_holidays

        country_holidays = finnish_holidays
    if counts:
        span = (max(counts) - min(counts)) / HOUR
        if span > MAX_HOURS * 3:
            raise ValueError(f"the history is too long: {span:.0f} hours")
    future = [first + i * HOUR for i in range(hours)]
    if not future:
        return []
    calendar = _Calendar(country_holidays)
    past = sorted(counts)
    y = np.array([counts[h] for h in past])
    if not past or y.sum() <= 0:
        return [ForecastPoint(h.astimezone(HELSINKI), 0.0, 0.0, 0.0) for h in future]

    end = past[-1] + HOUR
    past_info = calendar.describe(past)
    future_info = calendar.describe(future)
    past_weeks = np.array([(h - end) / timedelta(weeks=1) for h in past])
    # A trend is trusted only so far: beyond TREND_MAX_AHEAD_WEEKS it is held level.
    future_weeks = np.minimum(
        np.array([(h - end) / timedelta(weeks=1) for h in future]), TREND_MAX_AHEAD_WEEKS
    )
    y = _without_outliers(y, past_info)
    trend = _robust_trend(past, y, end)
    holiday_days = {
        h.astimezone(HELSINKI).date() for h, row in zip(past, past_info, strict=True) if row[3]
    }
    use_holiday = len(holiday_days) >= HOLIDAY_MIN_DAYS

    # These matrices are small: BLAS threads only contend with each other (and,
    # on a busy machine, make a fit ten times slower), so one thread does it.
    with threadpool_limits(limits=1, user_api="blas"):
        mean, lower, upper = _fit_and_predict(
            y, past_info, past_weeks, future_info, future_weeks, trend, use_holiday, interval
        )
    if mean is None:
        # Nothing could be fitted (e.g. contacts only in hours the forecast never
        # meets): the average rate, with Poisson bounds.
        rate = float(y.mean())
        mean = np.full(hours, rate)
        lower = stats.poisson.ppf((1 - interval) / 2, mean)
        upper = stats.poisson.ppf((1 + interval) / 2, mean)
    return [
        ForecastPoint(
            hour_start=h.astimezone(HELSINKI),
            mean=float(m),
            lower=float(lo),
            upper=float(hi),
        )
        for h, m, lo, hi in zip(future, mean, lower, upper, strict=True)
    ]


def _fit_and_predict(
    y: np.ndarray,
    past_info: np.ndarray,
    past_weeks: np.ndarray,
    future_info: np.ndarray,
    future_weeks: np.ndarray,
    trend: _Trend,
    use_holiday: bool,
    interval: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[None, None, None]:
    """The first model, from the richest down, that the history supports and that fits."""
    for level in (_FULL, _HOURLY, _FLAT):
        x_past, slot_past, names = _design(past_info, level, use_holiday)
        x_future, slot_future, _ = _design(future_info, level, use_holiday)
        if not set(slot_future.tolist()) <= set(slot_past.tolist()):
            continue  # the history has not seen every hour the forecast needs
        fit = _fit(y, x_past, names, trend.slope * past_weeks)
        if fit is None:
            continue
        return _predict(fit, x_future, trend, future_weeks, interval)
    return None, None, None


def _predict(
    fit: _Fit, x_future: np.ndarray, trend: _Trend, future_weeks: np.ndarray, interval: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    zero = (x_future[:, fit.zero_columns] > 0).any(axis=1)
    xk = x_future[:, fit.columns]
    eta = xk @ fit.params + trend.slope * future_weeks
    variance = np.einsum("ij,jk,ik->i", xk, fit.cov, xk) + trend.variance(future_weeks)
    variance = np.clip(variance, 0.0, 25.0)
    mean = np.exp(np.clip(eta, -50.0, 50.0))
    dispersion = (1.0 + fit.alpha) * np.exp(variance) - 1.0
    lower = _quantiles(mean, dispersion, (1 - interval) / 2)
    upper = _quantiles(mean, dispersion, (1 + interval) / 2)
    mean[zero] = lower[zero] = upper[zero] = 0.0
    return mean, lower, upper
