"""Opening hours and presence, as pure functions.

Providers publish weekly opening rules in local wall-clock time
(Europe/Helsinki), exception dates (closed for a training day, open on a
holiday, shorter hours on an eve) and are closed on Finnish public holidays
unless an exception date opens them. The routing snapshot carries only the
result (``ProviderState.is_open`` and ``next_open``); this module computes it.

Wall-clock semantics: a rule 09:00-16:00 means 09:00-16:00 on the clock on the
wall, whatever the UTC offset that day. On the spring-forward night a rule
starting inside the missing hour opens when the clock jumps past it; on the
fall-back night the repeated hour is inside a rule that covers it both times.
A rule whose closing time is not after its opening time runs past midnight
(``closes=00:00`` means "until midnight", ``opens == closes`` means 24 hours).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "HELSINKI",
    "ExceptionDate",
    "OpeningRule",
    "finnish_holidays",
    "is_open",
    "next_opening",
    "presence_after_heartbeat",
]

HELSINKI = ZoneInfo("Europe/Helsinki")


@dataclass(frozen=True, slots=True)
class OpeningRule:
    weekday: int
    """0 = Monday ... 6 = Sunday, as ``date.weekday()``."""
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class ExceptionDate:
    """Replaces the weekly rules (and a holiday) for one local date.

    ``closed=True`` closes the whole day. Otherwise the provider is open from
    ``opens`` to ``closes``; with both ``None`` the ordinary weekly rules apply,
    which is how a provider says it keeps its usual hours on a holiday.
    Several open exceptions for the same date add up.
    """

    date: date
    closed: bool
    opens: time | None = None
    closes: time | None = None

    def __post_init__(self) -> None:
        if (self.opens is None) != (self.closes is None):
            raise ValueError("an exception date needs both opening and closing times, or neither")


@lru_cache(maxsize=64)
def _finnish_holidays_for_year(year: int) -> frozenset[date]:
    import holidays  # imported lazily: only callers that rely on the default pay for it

    return frozenset(holidays.country_holidays("FI", years=year).keys())


class _FinnishHolidays:
    """A container of Finnish public holidays, built lazily and cached per year."""

    __slots__ = ()

    def __contains__(self, day: object) -> bool:
        if isinstance(day, datetime):
            day = day.date()
        if not isinstance(day, date):
            return False
        return day in _finnish_holidays_for_year(day.year)


finnish_holidays: Container[date] = _FinnishHolidays()
"""The default holiday calendar: ``holidays.country_holidays("FI")``, year by year."""


def _intervals_on(
    day: date,
    rules: Sequence[OpeningRule],
    exceptions_by_date: dict[date, list[ExceptionDate]],
    country_holidays: Container[date],
) -> list[tuple[datetime, datetime]]:
    """Naive local (start, end) intervals that start on ``day``."""
    exceptions = exceptions_by_date.get(day)
    if exceptions:
        if any(e.closed for e in exceptions):
            return []
        explicit = [e for e in exceptions if e.opens is not None and e.closes is not None]
        if explicit:
            return [_interval(day, e.opens, e.closes) for e in explicit]
    elif day in country_holidays:
        return []
    weekday = day.weekday()
    return [_interval(day, r.opens, r.closes) for r in rules if r.weekday == weekday]


def _interval(day: date, opens: time, closes: time) -> tuple[datetime, datetime]:
    start = datetime.combine(day, opens)
    end_day = day if closes > opens else day + timedelta(days=1)
    return start, datetime.combine(end_day, closes)


def _index_exceptions(exceptions: Iterable[ExceptionDate]) -> dict[date, list[ExceptionDate]]:
    by_date: dict[date, list[ExceptionDate]] = {}
    for e in exceptions:
        by_date.setdefault(e.date, []).append(e)
    return by_date


def _local_wall_time(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return at.astimezone(HELSINKI).replace(tzinfo=None, fold=0)


def is_open(
    rules: Sequence[OpeningRule],
    exceptions: Iterable[ExceptionDate],
    at: datetime,
    *,
    country_holidays: Container[date] | None = None,
) -> bool:
    """Whether a provider with these hours is open at the aware instant ``at``.

    ``country_holidays`` is anything that answers ``day in country_holidays``
    (e.g. ``holidays.Finland()``); by default the Finnish public holidays.
    """
    calendar = finnish_holidays if country_holidays is None else country_holidays
    local = _local_wall_time(at)
    by_date = _index_exceptions(exceptions)
    today = local.date()
    for day in (today - timedelta(days=1), today):
        for start, end in _intervals_on(day, rules, by_date, calendar):
            if start <= local < end:
                return True
    return False


def next_opening(
    rules: Sequence[OpeningRule],
    exceptions: Iterable[ExceptionDate],
    after: datetime,
    *,
    country_holidays: Container[date] | None = None,
    horizon_days: int = 30,
) -> datetime | None:
    """The first instant at or after ``after`` when the provider is open.

    Returns ``after`` itself (in Helsinki time) when already open, and ``None``
    when the provider does not open within ``horizon_days``.
    """
    calendar = finnish_holidays if country_holidays is None else country_holidays
    local = _local_wall_time(after)
    by_date = _index_exceptions(exceptions)
    first = local.date() - timedelta(days=1)
    intervals = sorted(
        interval
        for offset in range(horizon_days + 2)
        for interval in _intervals_on(first + timedelta(days=offset), rules, by_date, calendar)
    )
    for start, end in intervals:
        if end <= local:
            continue
        if start <= local:
            return after.astimezone(HELSINKI)
        return _first_instant_at_or_after(start)
    return None


def _first_instant_at_or_after(wall: datetime) -> datetime:
    """The earliest aware instant whose Helsinki wall-clock time is >= ``wall``.

    Usually ``wall`` itself (the first occurrence when the hour repeats). When
    ``wall`` falls in the hour skipped in spring, it is the moment the clock
    jumps forward.
    """
    candidate = wall.replace(tzinfo=HELSINKI, fold=0)
    if candidate.astimezone(UTC).astimezone(HELSINKI).replace(tzinfo=None) == wall:
        return candidate
    # In the gap: fold=0 reads the wall time with the offset before the jump,
    # which lands after it; the jump lies within one gap length before that.
    later = candidate.astimezone(UTC)
    gap = candidate.replace(fold=1).utcoffset() - candidate.utcoffset()
    low, high = later - abs(gap), later
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(HELSINKI).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    # Offsets change on whole seconds, so the jump is the whole second in (low, high].
    return high.replace(microsecond=0).astimezone(HELSINKI)


def presence_after_heartbeat(
    presence: str,
    last_heartbeat: datetime | None,
    now: datetime,
    timeout_s: float = 45,
) -> str:
    """The presence to route by: "offline" once the heartbeat is older than ``timeout_s``."""
    if last_heartbeat is None or (now - last_heartbeat).total_seconds() > timeout_s:
        return "offline"
    return presence
