"""Figures from hourly buckets: sums, merged wait percentiles, small-cell suppression.

Pure functions over plain rows (dicts with HourlyBucket's field names), so
that the dashboard, the exports and the API compute every figure the same
way. A row of output (a day, a region, a heat-map cell) whose contacts are
fewer than SMALL_CELL_MIN is suppressed unless the reader may see every
contact behind it (a coordinator looking at their own regions): all its
figures become None and `suppressed` True.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from helpdesk.stats.models import WAIT_BIN_EDGES_S, WAIT_BINS

HELSINKI = ZoneInfo("Europe/Helsinki")
SMALL_CELL_MIN = 5
SERVICE_LEVEL_ANSWER_S = 60
OUTCOMES = ("solved", "partly", "referred", "not_solved", "message_left")
SUM_FIELDS = (
    "arrivals",
    "answered",
    "abandoned",
    "wait_sum_s",
    "abandon_wait_sum_s",
    "first_response_n",
    "first_response_sum_s",
    "handle_n",
    "handle_sum_s",
    "transfers",
    "escalations",
    *OUTCOMES,
    "can_do_alone",
)
# Columns of every figure row, in the order of tables and exports.
FIGURE_COLUMNS = (
    "arrivals",
    "answered",
    "abandoned",
    "abandon_rate",
    "service_level_60s",
    "wait_mean_s",
    "wait_p50_s",
    "wait_p90_s",
    "abandon_wait_mean_s",
    "first_response_mean_s",
    "handle_mean_s",
    "transfers",
    "escalations",
    *OUTCOMES,
    "can_do_alone",
    "feedback_n",
    "rating_mean",
)


def percentile_from_hist(hist: list[int], q: float) -> float | None:
    """The q-quantile of waits binned by WAIT_BIN_EDGES_S, linear within a bin."""
    total = sum(hist)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(hist):
        if count and seen + count >= rank:
            low = 0.0 if i == 0 else float(WAIT_BIN_EDGES_S[i - 1])
            if i >= len(WAIT_BIN_EDGES_S):
                return low  # the open last bin: "at least this long"
            high = float(WAIT_BIN_EDGES_S[i])
            return low + (high - low) * ((rank - seen) / count)
        seen += count
    return float(WAIT_BIN_EDGES_S[-1])


def answered_within(hist: list[int], seconds: int) -> int:
    """How many waits were at most `seconds` (which must be a bin edge)."""
    return sum(hist[: WAIT_BIN_EDGES_S.index(seconds) + 1])


class Totals:
    """The sum of any number of buckets."""

    __slots__ = (*SUM_FIELDS, "wait_hist", "abandon_wait_hist", "ratings", "regions")

    def __init__(self) -> None:
        for name in SUM_FIELDS:
            setattr(self, name, 0)
        self.wait_hist = [0] * WAIT_BINS
        self.abandon_wait_hist = [0] * WAIT_BINS
        self.ratings = [0] * 5
        self.regions: set[int | None] = set()

    def add(self, row: Mapping) -> None:
        for name in SUM_FIELDS:
            setattr(self, name, getattr(self, name) + row[name])
        for name in ("wait_hist", "abandon_wait_hist", "ratings"):
            mine = getattr(self, name)
            for i, value in enumerate(row[name] or ()):
                if i < len(mine):
                    mine[i] += value
        self.regions.add(row.get("region_id"))

    def figures(self, *, suppress: bool) -> dict:
        out: dict = {"suppressed": suppress}
        if suppress:
            out.update(dict.fromkeys(FIGURE_COLUMNS))
            return out

        def mean(total: float, n: int) -> float | None:
            return round(total / n, 1) if n else None

        feedback_n = sum(self.ratings)
        p50 = percentile_from_hist(self.wait_hist, 0.5)
        p90 = percentile_from_hist(self.wait_hist, 0.9)
        offered = self.answered + self.abandoned
        out.update(
            arrivals=self.arrivals,
            answered=self.answered,
            abandoned=self.abandoned,
            abandon_rate=round(self.abandoned / offered, 4) if offered else None,
            service_level_60s=(
                round(answered_within(self.wait_hist, SERVICE_LEVEL_ANSWER_S) / offered, 4)
                if offered
                else None
            ),
            wait_mean_s=mean(self.wait_sum_s, self.answered),
            wait_p50_s=round(p50, 1) if p50 is not None else None,
            wait_p90_s=round(p90, 1) if p90 is not None else None,
            abandon_wait_mean_s=mean(self.abandon_wait_sum_s, self.abandoned),
            first_response_mean_s=mean(self.first_response_sum_s, self.first_response_n),
            handle_mean_s=mean(self.handle_sum_s, self.handle_n),
            transfers=self.transfers,
            escalations=self.escalations,
            **{name: getattr(self, name) for name in OUTCOMES},
            can_do_alone=self.can_do_alone,
            feedback_n=feedback_n,
            rating_mean=(
                round(sum((i + 1) * n for i, n in enumerate(self.ratings)) / feedback_n, 2)
                if feedback_n
                else None
            ),
        )
        return out


_local_cache: dict[datetime, datetime] = {}


def local_hour(hour_start: datetime) -> datetime:
    """The bucket's hour in Helsinki time."""
    found = _local_cache.get(hour_start)
    if found is None:
        found = hour_start.astimezone(HELSINKI)
        if len(_local_cache) > 200_000:
            _local_cache.clear()
        _local_cache[hour_start] = found
    return found


def group(rows: Iterable[Mapping], key: Callable[[Mapping], Hashable]) -> dict[Hashable, Totals]:
    groups: dict[Hashable, Totals] = defaultdict(Totals)
    for row in rows:
        groups[key(row)].add(row)
    return groups


class Suppressor:
    """Decides, for a group of buckets, whether its figures may be shown."""

    def __init__(self, unsuppressed_region_ids: frozenset[int]):
        self.free = unsuppressed_region_ids

    def __call__(self, totals: Totals) -> bool:
        if totals.arrivals >= SMALL_CELL_MIN or totals.arrivals == 0:
            return False
        return not (totals.regions and totals.regions <= self.free)


def by_day(rows: Iterable[Mapping], suppress: Suppressor) -> list[dict]:
    groups = group(rows, lambda r: local_hour(r["hour_start"]).date())
    return [
        {"date": day.isoformat(), **t.figures(suppress=suppress(t))}
        for day, t in sorted(groups.items())
    ]


def heatmap(rows: Iterable[Mapping], suppress: Suppressor) -> list[dict]:
    """Arrivals by weekday (0 = Monday) and hour of day, Helsinki time."""
    groups = group(
        rows, lambda r: (local_hour(r["hour_start"]).weekday(), local_hour(r["hour_start"]).hour)
    )
    cells = []
    for weekday in range(7):
        for hour in range(24):
            t = groups.get((weekday, hour)) or Totals()
            hidden = suppress(t)
            cells.append(
                {
                    "weekday": weekday,
                    "hour": hour,
                    "arrivals": None if hidden else t.arrivals,
                    "suppressed": hidden,
                }
            )
    return cells


def by_key(
    rows: Iterable[Mapping], field: str, suppress: Suppressor, labels: Mapping
) -> list[dict]:
    groups = group(rows, lambda r: r[field])
    total = sum(t.arrivals for t in groups.values())
    out = []
    for key, t in sorted(groups.items(), key=lambda kv: -kv[1].arrivals):
        hidden = suppress(t)
        figures = t.figures(suppress=hidden)
        figures["share"] = None if hidden or not total else round(t.arrivals / total, 4)
        out.append({"key": key, "label": str(labels.get(key, "—")), **figures})
    return out


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC bounds of the Helsinki days start..end (end exclusive)."""
    lo = datetime(start.year, start.month, start.day, tzinfo=HELSINKI).astimezone(UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=HELSINKI).astimezone(UTC)
    return lo, hi
