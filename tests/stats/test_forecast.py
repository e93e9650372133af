"""Hourly demand forecasts (helpdesk/stats/forecast.py) on simulated history with known rates."""

from __future__ import annotations

import io
import math
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from helpdesk.stats import forecast_eval
from helpdesk.stats.forecast import ForecastPoint, forecast_hourly, hourly_series
from helpdesk.stats.forecast_eval import evaluate_forecast, synthetic_counts, synthetic_rates
from routing.availability import finnish_holidays

HELSINKI = ZoneInfo("Europe/Helsinki")
HOUR = timedelta(hours=1)


def simulated_history(start: datetime, weeks: float, *, seed: int = 0, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    count = int(weeks * 168)
    hours = [start - (count - i) * HOUR for i in range(count)]
    counts = synthetic_counts(synthetic_rates(hours, scale=scale), rng)
    return list(zip(hours, counts.tolist(), strict=True))


def at(points: list[ForecastPoint], local: datetime) -> ForecastPoint:
    return next(p for p in points if p.hour_start == local)


# -- the acceptance test ----------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_four_week_forecast_recovers_known_rates(seed):
    """8 weeks of history (with All Saints' Day and the end of summer time) -> 4 weeks
    (with Independence Day and Christmas): MAPE under 10 %, the 80 % interval covers
    70-90 % of the simulated actual counts."""
    start = forecast_eval.DEFAULT_START
    history_days = [start.date() - timedelta(days=d) for d in range(1, 57)]
    future_days = [start.date() + timedelta(days=d) for d in range(28)]
    assert any(day in finnish_holidays for day in history_days)
    assert sum(day in finnish_holidays for day in future_days) >= 3
    result = evaluate_forecast(seed=seed, weeks=8)
    assert result.hours > 300
    assert result.mape < 0.10
    assert 0.70 <= result.coverage <= 0.90


def test_forecast_eval_command_last_line():
    out = io.StringIO()
    call_command("forecast_eval", "--seed=1", "--weeks=8", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    expected = evaluate_forecast(seed=1, weeks=8)
    assert last == f"forecast_eval mape={expected.mape:.4f} coverage80={expected.coverage:.4f}"


def test_forecast_eval_command_refuses_bad_weeks():
    with pytest.raises(CommandError, match="weeks"):
        call_command("forecast_eval", "--weeks=0", stdout=io.StringIO())


# -- holidays, trend, calendar ----------------------------------------------------------


def test_a_holiday_in_the_window_is_forecast_like_a_sunday():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    points = forecast_hourly(simulated_history(start, 8, scale=2), start=start, hours=28 * 24)
    christmas = at(points, datetime(2026, 12, 25, 12, tzinfo=HELSINKI))  # a Friday
    sunday = at(points, datetime(2026, 12, 20, 12, tzinfo=HELSINKI))
    friday = at(points, datetime(2026, 12, 18, 12, tzinfo=HELSINKI))
    assert christmas.mean == pytest.approx(sunday.mean, rel=0.1)
    assert friday.mean > 2 * christmas.mean


def test_holiday_effect_is_learnt_from_a_long_history():
    """A year in which holidays are much quieter than Sundays: the forecast follows."""
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    rng = np.random.default_rng(5)
    hours = [start - (52 * 168 - i) * HOUR for i in range(52 * 168)]
    rates = synthetic_rates(hours, scale=2)
    quiet = np.array([h.astimezone(HELSINKI).date() in finnish_holidays for h in hours])
    rates[quiet] *= 0.3
    history = list(zip(hours, synthetic_counts(rates, rng).tolist(), strict=True))
    points = forecast_hourly(history, start=start, hours=28 * 24)
    christmas = at(points, datetime(2026, 12, 25, 12, tzinfo=HELSINKI))
    sunday = at(points, datetime(2026, 12, 20, 12, tzinfo=HELSINKI))
    assert christmas.mean == pytest.approx(0.3 * sunday.mean, rel=0.25)


def test_trend_is_extrapolated():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    rng = np.random.default_rng(2)
    hours = [start - (8 * 168 - i) * HOUR for i in range(8 * 168)]
    weeks = np.array([(h - start) / timedelta(weeks=1) for h in hours])
    rates = synthetic_rates(hours, scale=2) * 1.06**weeks  # +7 % a week in all
    history = list(zip(hours, synthetic_counts(rates, rng).tolist(), strict=True))
    points = forecast_hourly(history, start=start, hours=28 * 24)
    first = sum(p.mean for p in points[: 7 * 24])
    last_history = sum(c for _, c in history[-7 * 24 :])
    assert first > 1.05 * last_history


def test_trend_is_held_level_far_ahead():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    rng = np.random.default_rng(3)
    hours = [start - (8 * 168 - i) * HOUR for i in range(8 * 168)]
    weeks = np.array([(h - start) / timedelta(weeks=1) for h in hours])
    rates = synthetic_rates(hours, scale=2) * 1.10**weeks
    history = list(zip(hours, synthetic_counts(rates, rng).tolist(), strict=True))
    later = start + timedelta(weeks=30)
    points = forecast_hourly(history, start=later, hours=2 * 168)
    first, second = sum(p.mean for p in points[:168]), sum(p.mean for p in points[168:])
    assert first == pytest.approx(second, rel=0.01)
    assert first < 3 * sum(c for _, c in history[-168:])


def test_daylight_saving_changes():
    """Hours run in UTC: the spring-forward day has 23 hours, the fall-back day 25."""
    spring = datetime(2027, 3, 28, tzinfo=HELSINKI)
    points = forecast_hourly(simulated_history(spring, 6), start=spring, hours=23)
    labels = [p.hour_start for p in points]
    assert [h.hour for h in labels] == [0, 1, 2, *range(4, 24)]
    utc = [h.astimezone(UTC) for h in labels]
    assert all(b - a == HOUR for a, b in zip(utc, utc[1:], strict=False))
    autumn = datetime(2026, 10, 25, tzinfo=HELSINKI)
    points = forecast_hourly(simulated_history(autumn, 6), start=autumn, hours=25)
    hours = [p.hour_start.hour for p in points]
    assert hours.count(3) == 2 and len(hours) == 25
    repeated = [p for p in points if p.hour_start.hour == 3]
    assert repeated[0].mean == pytest.approx(repeated[1].mean, rel=1e-3)  # only the trend moves
    assert all(p.hour_start.tzinfo is not None for p in points)
    assert points[0].hour_start.utcoffset() == timedelta(hours=3)
    assert points[-1].hour_start.utcoffset() == timedelta(hours=2)


def test_custom_holiday_calendar():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = simulated_history(start, 8, scale=2)
    wednesday = date(2026, 12, 9)
    points = forecast_hourly(
        history,
        start=start,
        hours=10 * 24,
        country_holidays={date(2026, 10, 31), wednesday},
    )
    noon = at(points, datetime(2026, 12, 9, 12, tzinfo=HELSINKI))
    other = at(points, datetime(2026, 12, 2, 12, tzinfo=HELSINKI))
    assert noon.mean < 0.5 * other.mean


# -- robustness --------------------------------------------------------------------


def test_short_history_falls_back_to_an_hour_of_day_profile():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = simulated_history(start, 3 / 7, scale=2)  # Saturday to Monday
    points = forecast_hourly(history, start=start, hours=7 * 24)
    assert len(points) == 7 * 24
    means = np.array([p.mean for p in points])
    assert np.all(np.isfinite(means)) and np.all(means >= 0)
    noon = at(points, datetime(2026, 12, 3, 12, tzinfo=HELSINKI)).mean
    night = at(points, datetime(2026, 12, 3, 3, tzinfo=HELSINKI)).mean
    assert noon > 5 * night


@pytest.mark.parametrize("length", [1, 5, 23])
def test_a_few_hours_of_history_give_a_flat_rate(length):
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = [(start - (i + 1) * HOUR, 4.0) for i in range(length)]
    points = forecast_hourly(history, start=start, hours=48)
    assert {round(p.mean, 6) for p in points} == {4.0}
    assert all(p.lower <= 4 <= p.upper for p in points)


@pytest.mark.parametrize("history", [[], "zeros"])
def test_no_demand_forecasts_none(history):
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    if history == "zeros":
        history = [(start - (i + 1) * HOUR, 0) for i in range(8 * 168)]
    points = forecast_hourly(history, start=start, hours=24)
    assert [(p.mean, p.lower, p.upper) for p in points] == [(0.0, 0.0, 0.0)] * 24


def test_hours_never_busy_are_forecast_as_none():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = [
        (h, c if 9 <= h.astimezone(HELSINKI).hour < 17 else 0.0)
        for h, c in simulated_history(start, 8, scale=2)
    ]
    points = forecast_hourly(history, start=start, hours=7 * 24)
    for p in points:
        if not 9 <= p.hour_start.hour < 17:
            assert (p.mean, p.lower, p.upper) == (0.0, 0.0, 0.0)
    assert at(points, datetime(2026, 12, 2, 12, tzinfo=HELSINKI)).mean > 10


@pytest.mark.parametrize("burst", [1.0, 1000.0])
def test_a_single_burst_in_an_empty_history(burst):
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = [(start - (i + 1) * HOUR, 0.0) for i in range(8 * 168)]
    history[100] = (history[100][0], burst)
    points = forecast_hourly(history, start=start, hours=168)
    total = sum(p.mean for p in points)
    assert 0 < total <= burst * 1.5
    assert all(math.isfinite(p.upper) and p.lower <= p.upper for p in points)


def test_an_outlier_hour_does_not_swamp_the_rest():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    rng = np.random.default_rng(1)
    history = [(start - (i + 1) * HOUR, float(rng.poisson(3.0))) for i in range(8 * 168)]
    history[100] = (history[100][0], 5000.0)
    points = forecast_hourly(history, start=start, hours=168)
    assert np.median([p.mean for p in points]) == pytest.approx(3.0, rel=0.2)


def test_gaps_in_the_history_are_left_out_not_read_as_zeros():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    full = simulated_history(start, 8, scale=2)
    gap = [
        (h, c) for h, c in full if not start - timedelta(weeks=5) <= h < start - timedelta(weeks=3)
    ]
    a = forecast_hourly(full, start=start, hours=7 * 24)
    b = forecast_hourly(gap, start=start, hours=7 * 24)
    total_a, total_b = sum(p.mean for p in a), sum(p.mean for p in b)
    assert total_b == pytest.approx(total_a, rel=0.08)


def test_a_weekday_never_seen_is_still_forecast():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = [
        (h, c)
        for h, c in simulated_history(start, 8, scale=2)
        if h.astimezone(HELSINKI).weekday() != 2
    ]
    points = forecast_hourly(history, start=start, hours=7 * 24)
    wednesday = at(points, datetime(2026, 12, 2, 11, tzinfo=HELSINKI))
    assert 10 < wednesday.mean < 60


def test_duplicate_hours_add_up_and_any_offset_is_accepted():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = [(start - (i + 1) * HOUR, 2.0) for i in range(10)]
    history += [(h.astimezone(UTC), c) for h, c in history]
    points = forecast_hourly(history, start=start.astimezone(UTC), hours=3)
    assert points[0].mean == pytest.approx(4.0)
    assert points[0].hour_start == start


def test_poisson_counts_get_poisson_width_intervals():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    rng = np.random.default_rng(0)
    hours = [start - (8 * 168 - i) * HOUR for i in range(8 * 168)]
    history = list(zip(hours, rng.poisson(20.0, size=len(hours)).tolist(), strict=True))
    points = forecast_hourly(history, start=start, hours=24)
    for p in points:
        assert p.mean == pytest.approx(20, rel=0.15)
        # No over-dispersion: the width of a Poisson interval, plus the parameters' share.
        poisson = stats.poisson(p.mean)
        assert poisson.ppf(0.1) - 1 <= p.lower <= poisson.ppf(0.1)
        assert poisson.ppf(0.9) <= p.upper <= poisson.ppf(0.9) + 1


def test_52_weeks_fit_fast():
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = simulated_history(start, 52, scale=2)
    forecast_hourly(history[-500:], start=start, hours=24)  # loads statsmodels
    began = time.perf_counter()
    points = forecast_hourly(history, start=start, hours=28 * 24)
    elapsed = time.perf_counter() - began
    assert len(points) == 28 * 24
    assert elapsed < 2.5  # about 0.4 s on an idle core


@settings(max_examples=25, deadline=None)
@given(
    narrow=st.floats(min_value=0.05, max_value=0.6),
    wide=st.floats(min_value=0.65, max_value=0.99),
)
def test_wider_intervals_contain_narrower_ones(narrow, wide):
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    history = _SHORT_HISTORY
    a = forecast_hourly(history, start=start, hours=48, interval=narrow)
    b = forecast_hourly(history, start=start, hours=48, interval=wide)
    for p, q in zip(a, b, strict=True):
        assert p.mean == q.mean
        assert q.lower <= p.lower <= p.upper <= q.upper
        assert p.lower == math.floor(p.lower) and p.upper == math.floor(p.upper)


_SHORT_HISTORY = simulated_history(datetime(2026, 12, 1, tzinfo=HELSINKI), 2, seed=9)


@pytest.mark.parametrize(
    ("history", "kwargs", "message"),
    [
        ([(datetime(2026, 1, 1, 10), 1)], {}, "timezone-aware"),
        ([(datetime(2026, 1, 1, 10, tzinfo=UTC), -1)], {}, "count"),
        ([(datetime(2026, 1, 1, 10, tzinfo=UTC), math.nan)], {}, "count"),
        ([(datetime(2026, 1, 1, 10, tzinfo=UTC), "3")], {}, "count"),
        ([(datetime(2026, 1, 1, 10, tzinfo=UTC),)], {}, "pair"),
        (["2026-01-01"], {}, "pair"),
        ([], {"start": datetime(2026, 1, 1, 10, 30, tzinfo=UTC)}, "on the hour"),
        ([], {"start": datetime(2026, 1, 1, 10)}, "timezone-aware"),
        ([], {"hours": -1}, "hours"),
        ([], {"hours": 1.5}, "hours"),
        ([], {"hours": 10**6}, "hours"),
        ([], {"interval": 1.0}, "interval"),
        ([], {"interval": 0}, "interval"),
        ([], {"interval": "0.8"}, "interval"),
    ],
)
def test_bad_input_is_refused_clearly(history, kwargs, message):
    params = {"start": datetime(2026, 1, 2, tzinfo=UTC), "hours": 24, **kwargs}
    with pytest.raises(ValueError, match=message):
        forecast_hourly(history, **params)


# -- hourly_series ---------------------------------------------------------------


def test_hourly_series_counts_and_fills_zeros():
    start = datetime(2026, 10, 25, 0, 15, tzinfo=HELSINKI)
    events = [
        datetime(2026, 10, 25, 0, 20, tzinfo=HELSINKI),
        datetime(2026, 10, 25, 0, 59, tzinfo=HELSINKI),
        datetime(2026, 10, 25, 3, 30, tzinfo=HELSINKI),  # the first 03:30 (summer time)
        datetime(2026, 10, 25, 3, 30, tzinfo=HELSINKI, fold=1),  # the second
        datetime(2026, 10, 24, 23, 0, tzinfo=HELSINKI),  # before the span
        datetime(2026, 10, 26, 0, 0, tzinfo=HELSINKI),  # after it
    ]
    series = hourly_series(events, start=start, end=datetime(2026, 10, 26, tzinfo=HELSINKI))
    assert len(series) == 25
    assert series[0] == (datetime(2026, 10, 25, 0, tzinfo=HELSINKI), 2.0)
    threes = [c for h, c in series if h.hour == 3]
    assert threes == [1.0, 1.0]
    assert sum(c for _, c in series) == 4.0


def test_hourly_series_rejects_naive_and_reversed():
    with pytest.raises(ValueError, match="timezone-aware"):
        hourly_series(
            [datetime(2026, 1, 1)],
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2026, 1, 2, tzinfo=UTC),
        )
    with pytest.raises(ValueError, match="before start"):
        hourly_series(
            [], start=datetime(2026, 1, 2, tzinfo=UTC), end=datetime(2026, 1, 1, tzinfo=UTC)
        )


def test_intervals_carry_the_uncertainty_of_a_short_history():
    """The same Poisson demand: one week of history gives wider intervals than thirty."""
    start = datetime(2026, 12, 1, tzinfo=HELSINKI)
    rng = np.random.default_rng(11)
    hours = [start - (30 * 168 - i) * HOUR for i in range(30 * 168)]
    history = list(zip(hours, rng.poisson(30.0, size=len(hours)).tolist(), strict=True))

    def width(points):
        return np.mean([p.upper - p.lower for p in points])

    short = forecast_hourly(history[-168:], start=start, hours=168)
    long = forecast_hourly(history, start=start, hours=168)
    assert width(short) > 1.12 * width(long)
    poisson_width = stats.poisson.ppf(0.9, 30) - stats.poisson.ppf(0.1, 30)
    assert width(long) == pytest.approx(poisson_width, abs=1.5)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    days=st.integers(min_value=0, max_value=60),
    first=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)
    ),
)
def test_any_history_gives_a_sane_forecast(data, days, first):
    """Short, sparse, gappy, bursty histories across holidays and DST changes."""
    first = first.replace(minute=0, second=0, microsecond=0)
    hours = days * 24 + data.draw(st.integers(min_value=0, max_value=23))
    level = data.draw(st.sampled_from([0.0, 0.05, 0.5, 3.0, 40.0]))
    keep = data.draw(st.floats(min_value=0.3, max_value=1.0))
    rng = np.random.default_rng(data.draw(st.integers(min_value=0, max_value=2**16)))
    history = [
        (first + i * HOUR, float(rng.poisson(level * (1 + (i % 24 in range(8, 18))))))
        for i in range(hours)
        if rng.random() < keep
    ]
    start = first + (hours + data.draw(st.integers(min_value=0, max_value=200))) * HOUR
    points = forecast_hourly(history, start=start, hours=72)
    assert len(points) == 72
    for p in points:
        assert math.isfinite(p.mean) and p.mean >= 0
        assert 0 <= p.lower <= p.upper and math.isfinite(p.upper)
        assert p.upper <= 1000 * (level + 1)
    if not history or sum(c for _, c in history) == 0:
        assert all(p.mean == p.upper == 0 for p in points)
