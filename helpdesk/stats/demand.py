"""Demand, staffing need and supply for one region: what the dashboard's planning part shows.

For a region (and optionally one channel) this reads the hourly arrivals of
the last HISTORY_WEEKS weeks from the buckets, forecasts the next weeks with
helpdesk/stats/forecast.py (intervals included), turns each forecast hour
into supporters needed with Erlang C, or Erlang A when abandonment has been
seen (helpdesk/stats/erlang.py), checks that plan by simulating it with the
routing engine (helpdesk/stats/staffing_sim.py), and sets the planned supply
(helpdesk/stats/supply.py) beside the need.

A back-test shows how good the forecast is: the last BACKTEST_DAYS days are
forecast from the weeks before them and drawn against what happened.

Hourly actual counts are small; outside a coordinator's own regions an hour
with fewer than five contacts is suppressed like every other cell.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from helpdesk.models import Region
from helpdesk.stats import erlang
from helpdesk.stats.figures import SMALL_CELL_MIN
from helpdesk.stats.models import HourlyBucket
from helpdesk.stats.presence import online_hours
from helpdesk.stats.selectors import StatsScope
from helpdesk.stats.supply import planned_supply

log = logging.getLogger(__name__)

HELSINKI = ZoneInfo("Europe/Helsinki")
HISTORY_WEEKS = 8
HORIZON_HOURS = 4 * 7 * 24
STAFFING_HOURS = 7 * 24
# The simulation check covers the first two days of the plan: a simulated
# week costs seconds, and the formula is compared over the same hours.
SIMULATION_HOURS = 48
BACKTEST_DAYS = 7
TARGET_SL = 0.8
ANSWER_S = 60.0
DEFAULT_AHT_S = 600.0


@dataclass
class DemandPlan:
    region_code: str
    channel: str | None
    history_hours: int
    history_contacts: int
    aht_s: float
    patience_s: float | None
    concurrency: int
    model: str  # "erlang_c" | "erlang_a"
    forecast: list[dict] = field(default_factory=list)
    backtest: list[dict] = field(default_factory=list)
    staffing: list[dict] = field(default_factory=list)
    supporter_hours_week: int = 0
    planned_hours_week: float = 0.0
    online_hours_last_week: float = 0.0
    # Both over the first SIMULATION_HOURS of the plan, weighted by arrivals.
    formula_service_level: float | None = None
    simulated_service_level: float | None = None
    unavailable: str | None = None


def _history(
    scope: StatsScope, region: Region, channel: str | None, start: datetime, end: datetime
) -> tuple[list[tuple[datetime, float]], dict]:
    qs = HourlyBucket.objects.filter(region=region, hour_start__gte=start, hour_start__lt=end)
    if scope.provider_ids is not None:
        qs = qs.filter(provider_id__in=scope.provider_ids)
    if channel:
        qs = qs.filter(channel=channel)
    counts: dict[datetime, float] = defaultdict(float)
    for hour, arrivals in qs.values_list("hour_start").annotate(n=Sum("arrivals")):
        counts[hour] = float(arrivals)
    totals = qs.aggregate(
        handle_n=Sum("handle_n"),
        handle_sum_s=Sum("handle_sum_s"),
        abandoned=Sum("abandoned"),
        wait_sum_s=Sum("wait_sum_s"),
        abandon_wait_sum_s=Sum("abandon_wait_sum_s"),
    )
    series = []
    hour = start
    while hour < end:
        series.append((hour.astimezone(HELSINKI), counts.get(hour, 0.0)))
        hour += timedelta(hours=1)
    return series, totals


def _point(p) -> dict:
    return {
        "hour_start": p.hour_start.astimezone(HELSINKI).isoformat(),
        "mean": round(float(p.mean), 3),
        "lower": round(float(p.lower), 3),
        "upper": round(float(p.upper), 3),
    }


def region_plan(
    *,
    scope: StatsScope,
    region: Region,
    channel: str | None = None,
    now: datetime | None = None,
    simulate: bool = True,
    backtest: bool = True,
) -> DemandPlan:
    """Forecast, staffing and supply of one region, from the next full hour on.

    `backtest` also forecasts the last BACKTEST_DAYS from the weeks before
    them (a second model fit); `simulate` checks the staffing by simulation.
    """
    now = (now or timezone.now()).astimezone(UTC)
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    end = next_hour - timedelta(hours=1)  # the current hour is not complete
    start = end - timedelta(weeks=HISTORY_WEEKS)
    history, totals = _history(scope, region, channel, start, end)
    contacts = int(sum(v for _h, v in history))
    aht = (
        max(1.0, totals["handle_sum_s"] / totals["handle_n"])
        if totals["handle_n"]
        else DEFAULT_AHT_S
    )
    abandoned = totals["abandoned"] or 0
    # Exponential patience, answered waits censored: total waiting / abandonments.
    patience = (
        max(1.0, ((totals["wait_sum_s"] or 0) + (totals["abandon_wait_sum_s"] or 0)) / abandoned)
        if abandoned
        else None
    )
    concurrency = int(getattr(settings, "STATS_CHAT_CONCURRENCY", 2)) if channel == "chat" else 1
    plan = DemandPlan(
        region_code=region.code,
        channel=channel,
        history_hours=len(history),
        history_contacts=contacts,
        aht_s=round(aht, 1),
        patience_s=round(patience, 1) if patience else None,
        concurrency=concurrency,
        model="erlang_a" if patience else "erlang_c",
    )
    if contacts == 0:
        plan.unavailable = "no_history"
        return plan
    try:
        from helpdesk.stats import forecast
    except ImportError:  # the forecasting module ships separately
        plan.unavailable = "no_forecast_module"
        return plan
    try:
        points = forecast.forecast_hourly(
            history, start=next_hour.astimezone(HELSINKI), hours=HORIZON_HOURS
        )
        cut = len(history) - BACKTEST_DAYS * 24
        back = (
            forecast.forecast_hourly(history[:cut], start=history[cut][0], hours=BACKTEST_DAYS * 24)
            if backtest
            else []
        )
    except Exception:  # a model that fails to fit must not take the page down
        log.exception("forecast of region %s failed", region.code)
        plan.unavailable = "forecast_failed"
        return plan
    plan.forecast = [_point(p) for p in points]
    free = region.pk in scope.unsuppressed_region_ids
    online = online_hours(region_id=region.pk, start=history[cut][0], end=next_hour)
    plan.online_hours_last_week = round(sum(online.values()), 1)
    for p, (hour, actual) in zip(back, history[cut:], strict=False):
        row = _point(p)
        hidden = not free and 0 < actual < SMALL_CELL_MIN
        row["actual"] = None if hidden else actual
        row["suppressed"] = hidden
        row["online"] = online.get(hour.astimezone(UTC), 0.0)
        plan.backtest.append(row)

    week = points[:STAFFING_HOURS]
    hours = [p.hour_start for p in week]
    supply = planned_supply(region_id=region.pk, hours=hours, channel=channel)
    agents = []
    for p, planned in zip(week, supply, strict=True):
        result = erlang.staffing(
            arrivals=max(0.0, float(p.mean)),
            interval_s=3600.0,
            aht_s=aht,
            target_sl=TARGET_SL,
            answer_s=ANSWER_S,
            concurrency=concurrency,
            patience_s=patience,
        )
        agents.append(result.agents)
        plan.staffing.append(
            {
                "hour_start": p.hour_start.astimezone(HELSINKI).isoformat(),
                "arrivals": round(float(p.mean), 3),
                "agents": result.agents,
                "service_level": round(result.service_level, 4),
                "planned": planned,
                "gap": round(planned - result.agents, 3),
            }
        )
    plan.supporter_hours_week = sum(agents)
    plan.planned_hours_week = round(sum(supply), 1)
    arrivals = [max(0.0, float(p.mean)) for p in week][:SIMULATION_HOURS]
    checked = agents[:SIMULATION_HOURS]
    total = sum(arrivals)
    if total:
        plan.formula_service_level = round(
            sum(a * s["service_level"] for a, s in zip(arrivals, plan.staffing, strict=False))
            / total,
            4,
        )
    if simulate and total:
        from helpdesk.stats import staffing_sim

        plan.simulated_service_level = round(
            staffing_sim.simulated_service_level(
                arrivals_per_hour=arrivals,
                aht_s=aht,
                agents=checked,
                answer_s=ANSWER_S,
                concurrency=concurrency,
                patience_s=patience,
                seed=0,
            ),
            4,
        )
    return plan


PLAN_CACHE_S = 600


def cached_region_plan(
    *, scope: StatsScope, region: Region, channel: str | None = None, light: bool = False
) -> DemandPlan:
    """region_plan, kept for ten minutes or until the next rollup changes the history.

    Fitting the forecast takes about a second per region; the dashboard and
    the API ask for the same plan again and again.
    """
    from helpdesk.stats.models import RollupCursor

    finished = (
        RollupCursor.objects.filter(name="contacts")
        .values_list("last_run_finished", flat=True)
        .first()
    )
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    key = ":".join(
        str(part)
        for part in (
            "stats-plan",
            scope.kind,
            sorted(scope.region_ids or ()),
            sorted(scope.provider_ids or ()),
            sorted(scope.unsuppressed_region_ids),
            region.pk,
            channel,
            "light" if light else "full",
            finished.isoformat() if finished else "-",
            hour.isoformat(),
        )
    ).replace(" ", "")
    plan = cache.get(key)
    if plan is None:
        plan = region_plan(
            scope=scope, region=region, channel=channel, simulate=not light, backtest=not light
        )
        cache.set(key, plan, PLAN_CACHE_S)
    return plan


def need_and_supply(
    *, scope: StatsScope, regions: list[Region], channel: str | None = None
) -> list[dict]:
    """Next week's need against planned supply, one row per region (no simulation)."""
    rows = []
    for region in regions:
        plan = cached_region_plan(scope=scope, region=region, channel=channel, light=True)
        forecast_week = sum(p["mean"] for p in plan.forecast[:STAFFING_HOURS])
        short = sum(1 for r in plan.staffing if r["gap"] < 0)
        rows.append(
            {
                "code": region.code,
                "label": f"{region.code} {region.localized_name()}",
                "forecast_contacts_week": round(forecast_week, 1) if plan.forecast else None,
                "supporter_hours_needed": plan.supporter_hours_week if plan.staffing else None,
                "supporter_hours_planned": plan.planned_hours_week,
                "gap_hours": (
                    round(plan.planned_hours_week - plan.supporter_hours_week, 1)
                    if plan.staffing
                    else None
                ),
                "hours_short": short if plan.staffing else None,
                "model": plan.model,
                "unavailable": plan.unavailable,
            }
        )
    return rows
