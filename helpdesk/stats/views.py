"""The statistics dashboard and its exports: thin adapters over the stats selectors.

Each view parses the filters, finds the reader's scope (NotAllowed: 403),
reads the figures once and renders them as a page, a CSV file or an XLSX
workbook.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from helpdesk.models import Region, Topic
from helpdesk.models.providers import CHANNEL_CHOICES
from helpdesk.services import audit
from helpdesk.services.errors import InvalidInput, NotAllowed
from helpdesk.stats import charts, exports, selectors
from helpdesk.stats.demand import cached_region_plan, need_and_supply
from helpdesk.stats.supply import coverage

# Tables that need the region's forecast (an empty name: the whole workbook).
PLAN_TABLES = ("staffing", "forecast", "backtest", None, "")


def _weekday_labels() -> list[str]:
    return [str(WEEKDAYS_ABBR[d]) for d in range(7)]


def _plan_region(scope, filters) -> Region | None:
    regions = selectors.visible_regions(scope)
    if filters.region_codes:
        regions = [r for r in regions if r.code in filters.region_codes]
    return regions[0] if regions else None


def _read(request, *, with_plan: bool):
    scope = selectors.scope_for_user(request.user)
    filters = selectors.parse_filters(request.GET)
    figures = selectors.dashboard_figures(scope, filters)
    region_ids = scope.region_ids
    if filters.region_codes:
        region_ids = {r.pk for r in Region.objects.filter(code__in=filters.region_codes)}
    cover = coverage(region_ids=region_ids)
    plan = None
    region = _plan_region(scope, filters)
    if with_plan and region is not None:
        plan = cached_region_plan(scope=scope, region=region, channel=filters.channel)
    need = None
    if request.GET.get("plans") == "all":
        regions = selectors.visible_regions(scope)
        if filters.region_codes:
            regions = [r for r in regions if r.code in filters.region_codes]
        need = need_and_supply(scope=scope, regions=regions, channel=filters.channel)
    return scope, filters, figures, cover, plan, region, need


def _error_page(request, exc, status: int):
    return render(request, "stats/error.html", {"message": exc.message}, status=status)


@require_safe
@login_required
def dashboard(request):
    try:
        scope, filters, figures, cover, plan, region, need = _read(request, with_plan=True)
    except NotAllowed as exc:
        return _error_page(request, exc, 403)
    except InvalidInput as exc:
        return _error_page(request, exc, 400)
    tables = exports.tables(figures, cover, plan, need)
    volume = figures["volume"]
    context = {
        "scope": scope,
        "filters": filters,
        "query": filters.as_query(),
        "query_string": urlencode(filters.as_query()),
        "figures": figures,
        "summary": figures["summary"],
        "tables": tables,
        "plan": plan,
        "plan_region": region,
        "coverage_regions": cover["regions"],
        "coverage_findings": [
            m for m in cover["municipalities"] if m["swedish_gap"] or m["missing_channels"]
        ],
        "regions": selectors.visible_regions(scope),
        "topics": Topic.objects.filter(parent__isnull=False).order_by("order", "slug"),
        "channels": CHANNEL_CHOICES,
        "weekday_labels": _weekday_labels(),
        "charts": _charts(figures, volume, plan),
        "figure_keys": exports.FIGURES,
        "figure_labels": exports.FIGURE_LABELS,
    }
    return render(request, "stats/dashboard.html", context)


def _charts(figures: dict, volume: list[dict], plan) -> dict:
    labels = [date.fromisoformat(v["date"]).strftime("%d.%m.") for v in volume]
    out = {
        "volume": charts.line_chart(
            title=_("Contacts per day"),
            chart_id="chart-volume",
            labels=labels,
            series=[
                (_("Contacts"), "s-arrivals", [v["arrivals"] for v in volume]),
                (_("Answered"), "s-answered", [v["answered"] for v in volume]),
                (_("Abandoned"), "s-abandoned", [v["abandoned"] for v in volume]),
            ],
            bars=True,
        ),
        "waits": charts.line_chart(
            title=_("Waits per day: median and 90th percentile (s)"),
            chart_id="chart-waits",
            labels=labels,
            series=[
                (_("Median wait"), "s-answered", [v["wait_p50_s"] for v in volume]),
                (_("90th percentile"), "s-abandoned", [v["wait_p90_s"] for v in volume]),
            ],
        ),
        "heatmap": charts.heatmap(
            title=_("Contacts by weekday and hour"),
            chart_id="chart-heatmap",
            day_labels=_weekday_labels(),
            cells=figures["heatmap"],
        ),
        "topics": charts.bar_list(
            title=_("Topic mix"),
            chart_id="chart-topics",
            rows=[(t["label"], t["arrivals"]) for t in figures["topics"]],
        ),
    }
    if plan is not None and plan.backtest:
        out["forecast"] = charts.line_chart(
            title=_("Forecast with its 80% interval against what happened, last 7 days"),
            chart_id="chart-forecast",
            labels=[p["hour_start"][5:13].replace("T", " ") for p in plan.backtest],
            series=[
                (_("Actual"), "s-arrivals", [p["actual"] for p in plan.backtest]),
                (_("Forecast"), "s-answered", [p["mean"] for p in plan.backtest]),
            ],
            band=([p["lower"] for p in plan.backtest], [p["upper"] for p in plan.backtest]),
        )
    if plan is not None and plan.staffing:
        out["need_supply"] = charts.line_chart(
            title=_("Supporters needed and planned, next 7 days"),
            chart_id="chart-need",
            labels=[p["hour_start"][5:13].replace("T", " ") for p in plan.staffing],
            series=[
                (_("Needed"), "s-abandoned", [p["agents"] for p in plan.staffing]),
                (_("Planned"), "s-answered", [p["planned"] for p in plan.staffing]),
            ],
        )
    return out


@require_safe
@login_required
def export(request, fmt: str):
    if fmt not in ("csv", "xlsx"):
        return _error_page(request, InvalidInput(_("Export as csv or xlsx.")), 404)
    try:
        _scope, _filters, figures, cover, plan, _region, need = _read(
            request, with_plan=request.GET.get("table") in PLAN_TABLES
        )
    except NotAllowed as exc:
        return _error_page(request, exc, 403)
    except InvalidInput as exc:
        return _error_page(request, exc, 400)
    tables = exports.tables(figures, cover, plan, need)
    name = request.GET.get("table") or ""
    stamp = date.today().isoformat()
    audit.record_export(
        user_id=request.user.pk,
        what=f"stats.{fmt}",
        detail={"query": {k: v[:100] for k, v in request.GET.items()}},
    )
    if fmt == "xlsx":
        chosen = [tables[name]] if name in tables else list(tables.values())
        response = HttpResponse(
            exports.to_xlsx(chosen),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="digituki-stats-{stamp}.xlsx"'
        return response
    if name not in tables:
        return _error_page(request, InvalidInput(_("Choose a table to export.")), 400)
    response = HttpResponse(exports.to_csv(tables[name]), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="digituki-{name}-{stamp}.csv"'
    return response
