"""Opening hours in Helsinki wall-clock time, Finnish holidays and presence timeouts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest

from routing.availability import (
    HELSINKI,
    ExceptionDate,
    OpeningRule,
    finnish_holidays,
    is_open,
    next_opening,
    presence_after_heartbeat,
)

# Monday to Friday 9-16, Saturday 10-14: a typical library service point.
WEEK = tuple(OpeningRule(d, time(9), time(16)) for d in range(5)) + (
    OpeningRule(5, time(10), time(14)),
)
FI = holidays.Finland(years=range(2024, 2028))


def hki(*args: int) -> datetime:
    return datetime(*args, tzinfo=HELSINKI)


IS_OPEN = [
    # 2025-03-04 is a Tuesday.
    pytest.param(WEEK, (), hki(2025, 3, 4, 8, 59), False, id="before-opening"),
    pytest.param(WEEK, (), hki(2025, 3, 4, 9, 0), True, id="at-opening"),
    pytest.param(WEEK, (), hki(2025, 3, 4, 15, 59), True, id="before-closing"),
    pytest.param(WEEK, (), hki(2025, 3, 4, 16, 0), False, id="at-closing"),
    pytest.param(WEEK, (), hki(2025, 3, 8, 11, 0), True, id="saturday-hours"),
    pytest.param(WEEK, (), hki(2025, 3, 8, 15, 0), False, id="saturday-after"),
    pytest.param(WEEK, (), hki(2025, 3, 9, 11, 0), False, id="sunday-closed"),
    pytest.param(
        WEEK, (), datetime(2025, 3, 4, 7, 30, tzinfo=UTC), True, id="utc-input-09-30-local"
    ),
    pytest.param(
        WEEK, (), datetime(2025, 3, 4, 6, 30, tzinfo=UTC), False, id="utc-input-08-30-local"
    ),
    # Finnish public holidays close the provider.
    pytest.param(WEEK, (), hki(2025, 12, 6, 11, 0), False, id="itsenaisyyspaiva-saturday"),
    pytest.param(WEEK, (), hki(2024, 12, 6, 11, 0), False, id="itsenaisyyspaiva-friday"),
    pytest.param(WEEK, (), hki(2025, 6, 20, 11, 0), False, id="juhannusaatto"),
    pytest.param(WEEK, (), hki(2025, 6, 21, 11, 0), False, id="juhannuspaiva"),
    pytest.param(WEEK, (), hki(2025, 12, 24, 11, 0), False, id="jouluaatto"),
    pytest.param(WEEK, (), hki(2025, 12, 25, 11, 0), False, id="joulupaiva"),
    pytest.param(WEEK, (), hki(2025, 12, 26, 11, 0), False, id="tapaninpaiva"),
    pytest.param(WEEK, (), hki(2025, 4, 18, 11, 0), False, id="pitkaperjantai"),
    pytest.param(WEEK, (), hki(2025, 5, 1, 11, 0), False, id="vappu"),
    pytest.param(WEEK, (), hki(2025, 12, 23, 11, 0), True, id="day-before-christmas-eve"),
    # Exception dates.
    pytest.param(
        WEEK,
        (ExceptionDate(date(2025, 3, 4), closed=True),),
        hki(2025, 3, 4, 11, 0),
        False,
        id="exception-closed",
    ),
    pytest.param(
        WEEK,
        (ExceptionDate(date(2025, 3, 4), closed=False, opens=time(12), closes=time(14)),),
        hki(2025, 3, 4, 11, 0),
        False,
        id="exception-shorter-hours-before",
    ),
    pytest.param(
        WEEK,
        (ExceptionDate(date(2025, 3, 4), closed=False, opens=time(12), closes=time(14)),),
        hki(2025, 3, 4, 13, 0),
        True,
        id="exception-shorter-hours-inside",
    ),
    pytest.param(
        WEEK,
        (ExceptionDate(date(2025, 12, 6), closed=False, opens=time(10), closes=time(13)),),
        hki(2025, 12, 6, 12, 0),
        True,
        id="exception-opens-a-holiday",
    ),
    pytest.param(
        WEEK,
        (ExceptionDate(date(2025, 12, 24), closed=False),),
        hki(2025, 12, 24, 15, 0),
        True,
        id="exception-usual-hours-on-a-holiday",
    ),
    pytest.param(
        WEEK,
        (
            ExceptionDate(date(2025, 3, 4), closed=False, opens=time(8), closes=time(10)),
            ExceptionDate(date(2025, 3, 4), closed=False, opens=time(18), closes=time(20)),
        ),
        hki(2025, 3, 4, 19, 0),
        True,
        id="two-exception-intervals",
    ),
    # Midnight and overlapping rules.
    pytest.param(
        (OpeningRule(4, time(18), time(2)),),
        (),
        hki(2025, 3, 8, 1, 30),
        True,
        id="friday-night-rule-after-midnight",
    ),
    pytest.param(
        (OpeningRule(4, time(18), time(2)),),
        (),
        hki(2025, 3, 8, 2, 0),
        False,
        id="friday-night-rule-closed-at-2",
    ),
    pytest.param(
        (OpeningRule(1, time(20), time(0)),),
        (),
        hki(2025, 3, 4, 23, 59),
        True,
        id="until-midnight",
    ),
    pytest.param(
        (OpeningRule(1, time(20), time(0)),),
        (),
        hki(2025, 3, 5, 0, 0),
        False,
        id="midnight-closes",
    ),
    pytest.param(
        (OpeningRule(1, time(0), time(0)),),
        (),
        hki(2025, 3, 4, 3, 0),
        True,
        id="round-the-clock",
    ),
    pytest.param(
        (OpeningRule(1, time(9), time(12)), OpeningRule(1, time(11), time(16))),
        (),
        hki(2025, 3, 4, 15, 0),
        True,
        id="overlapping-rules",
    ),
    pytest.param(
        (OpeningRule(1, time(9), time(12)), OpeningRule(1, time(13), time(16))),
        (),
        hki(2025, 3, 4, 12, 30),
        False,
        id="lunch-break",
    ),
    # Daylight saving: 2025-03-30 03:00 -> 04:00, 2025-10-26 04:00 -> 03:00.
    pytest.param(
        (OpeningRule(6, time(9), time(16)),),
        (),
        datetime(2025, 3, 30, 6, 0, tzinfo=UTC),
        True,
        id="spring-forward-09-local",
    ),
    pytest.param(
        (OpeningRule(6, time(9), time(16)),),
        (),
        datetime(2025, 3, 30, 5, 59, tzinfo=UTC),
        False,
        id="spring-forward-08-59-local",
    ),
    pytest.param(
        (OpeningRule(6, time(9), time(16)),),
        (),
        datetime(2025, 10, 26, 7, 0, tzinfo=UTC),
        True,
        id="fall-back-09-local",
    ),
    pytest.param(
        (OpeningRule(6, time(9), time(16)),),
        (),
        datetime(2025, 10, 26, 6, 59, tzinfo=UTC),
        False,
        id="fall-back-08-59-local",
    ),
    pytest.param(
        (OpeningRule(6, time(3), time(4)),),
        (),
        datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
        True,
        id="repeated-hour-second-time",
    ),
    pytest.param(
        (OpeningRule(6, time(3), time(4)),),
        (),
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
        True,
        id="repeated-hour-first-time",
    ),
    pytest.param(
        (OpeningRule(5, time(20), time(6)),),
        (),
        datetime(2025, 3, 30, 2, 30, tzinfo=UTC),
        True,
        id="overnight-across-spring-forward",
    ),
]


@pytest.mark.parametrize(("rules", "exceptions", "at", "expected"), IS_OPEN)
def test_is_open(rules, exceptions, at, expected):
    assert is_open(rules, exceptions, at, country_holidays=FI) is expected


@pytest.mark.parametrize(("rules", "exceptions", "at", "expected"), IS_OPEN)
def test_default_calendar_agrees(rules, exceptions, at, expected):
    assert is_open(rules, exceptions, at) is expected


NEXT_OPENING = [
    pytest.param(WEEK, (), hki(2025, 3, 4, 7, 0), hki(2025, 3, 4, 9, 0), id="later-today"),
    pytest.param(WEEK, (), hki(2025, 3, 4, 12, 0), hki(2025, 3, 4, 12, 0), id="already-open"),
    pytest.param(WEEK, (), hki(2025, 3, 4, 16, 0), hki(2025, 3, 5, 9, 0), id="tomorrow"),
    pytest.param(WEEK, (), hki(2025, 3, 8, 14, 0), hki(2025, 3, 10, 9, 0), id="across-the-weekend"),
    pytest.param(
        WEEK[:5], (), hki(2025, 3, 7, 17, 0), hki(2025, 3, 10, 9, 0), id="friday-to-monday"
    ),
    pytest.param(
        WEEK, (), hki(2025, 12, 5, 16, 30), hki(2025, 12, 8, 9, 0), id="across-independence-day"
    ),
    pytest.param(
        WEEK, (), hki(2025, 12, 23, 17, 0), hki(2025, 12, 27, 10, 0), id="across-christmas"
    ),
    pytest.param(
        WEEK, (), hki(2025, 4, 17, 17, 0), hki(2025, 4, 19, 10, 0), id="easter-saturday-opens"
    ),
    pytest.param(WEEK, (), hki(2025, 6, 19, 16, 0), hki(2025, 6, 23, 9, 0), id="across-juhannus"),
    pytest.param(
        WEEK,
        (ExceptionDate(date(2025, 12, 6), closed=False, opens=time(10), closes=time(13)),),
        hki(2025, 12, 5, 16, 30),
        hki(2025, 12, 6, 10, 0),
        id="holiday-opened-by-exception",
    ),
    pytest.param(
        WEEK,
        (ExceptionDate(date(2025, 3, 5), closed=True),),
        hki(2025, 3, 4, 16, 0),
        hki(2025, 3, 6, 9, 0),
        id="skips-exception-closed",
    ),
    pytest.param(
        (OpeningRule(6, time(3, 30), time(5)),),
        (),
        hki(2025, 3, 29, 12, 0),
        datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
        id="opening-inside-skipped-hour",
    ),
    pytest.param(
        (OpeningRule(6, time(9), time(16)),),
        (),
        hki(2025, 3, 29, 20, 0),
        datetime(2025, 3, 30, 6, 0, tzinfo=UTC),
        id="sunday-after-spring-forward",
    ),
    pytest.param(
        (OpeningRule(6, time(9), time(16)),),
        (),
        hki(2025, 10, 25, 20, 0),
        datetime(2025, 10, 26, 7, 0, tzinfo=UTC),
        id="sunday-after-fall-back",
    ),
    pytest.param(
        (OpeningRule(6, time(3, 30), time(5)),),
        (),
        hki(2025, 10, 25, 20, 0),
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
        id="repeated-hour-first-occurrence",
    ),
    pytest.param((), (), hki(2025, 3, 4, 12, 0), None, id="never"),
]


@pytest.mark.parametrize(("rules", "exceptions", "after", "expected"), NEXT_OPENING)
def test_next_opening(rules, exceptions, after, expected):
    found = next_opening(rules, exceptions, after, country_holidays=FI)
    # Compare instants: Python never equates a Helsinki time in the repeated
    # or skipped hour with a time in another zone.
    assert instant(found) == instant(expected)
    if found is not None:
        assert found.tzinfo is HELSINKI
        assert is_open(rules, exceptions, found, country_holidays=FI)
        if instant(found) > instant(after):
            just_before = instant(found) - timedelta(seconds=1)
            assert not is_open(rules, exceptions, just_before, country_holidays=FI)


def instant(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def test_next_opening_horizon():
    mondays = (OpeningRule(0, time(9), time(10)),)
    closed_for_weeks = tuple(
        ExceptionDate(date(2025, 3, 3) + timedelta(weeks=w), closed=True) for w in range(6)
    )
    after = hki(2025, 3, 1, 12, 0)
    assert next_opening(mondays, closed_for_weeks, after, country_holidays=FI) is None
    assert next_opening(
        mondays, closed_for_weeks, after, country_holidays=FI, horizon_days=60
    ) == hki(2025, 4, 14, 9, 0)


def test_any_holiday_calendar_will_do():
    company_days = {date(2025, 3, 4)}
    assert not is_open(WEEK, (), hki(2025, 3, 4, 12, 0), country_holidays=company_days)
    assert is_open(WEEK, (), hki(2025, 12, 24, 12, 0), country_holidays=set())


def test_default_calendar_is_finnish():
    assert date(2025, 12, 6) in finnish_holidays
    assert date(2026, 6, 19) in finnish_holidays  # juhannusaatto 2026
    assert datetime(2025, 12, 25, 10, 0) in finnish_holidays
    assert date(2025, 12, 23) not in finnish_holidays
    assert "2025-12-06" not in finnish_holidays


def test_half_an_exception_is_refused():
    with pytest.raises(ValueError):
        ExceptionDate(date(2025, 3, 4), closed=False, opens=time(9))


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        is_open(WEEK, (), datetime(2025, 3, 4, 12, 0))
    with pytest.raises(ValueError):
        next_opening(WEEK, (), datetime(2025, 3, 4, 12, 0))


PRESENCE = [
    pytest.param("available", 0, "available", id="fresh"),
    pytest.param("available", 45, "available", id="at-timeout"),
    pytest.param("available", 46, "offline", id="stale"),
    pytest.param("busy", 10, "busy", id="busy-fresh"),
    pytest.param("away", 600, "offline", id="away-stale"),
    pytest.param("offline", 0, "offline", id="offline-stays"),
    pytest.param("available", None, "offline", id="never-seen"),
]


@pytest.mark.parametrize(("presence", "age_s", "expected"), PRESENCE)
def test_presence_after_heartbeat(presence, age_s, expected):
    now = hki(2025, 3, 4, 12, 0)
    last = None if age_s is None else now - timedelta(seconds=age_s)
    assert presence_after_heartbeat(presence, last, now) == expected


def test_presence_timeout_is_configurable():
    now = hki(2025, 3, 4, 12, 0)
    assert presence_after_heartbeat("available", now - timedelta(seconds=20), now, 15) == "offline"
