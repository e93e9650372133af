"""The planning part: forecast from buckets, Erlang staffing per hour, supply beside it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from helpdesk.models import Region, Role, RoleGrant
from helpdesk.stats.demand import HORIZON_HOURS, STAFFING_HOURS, TARGET_SL, region_plan
from helpdesk.stats.models import ShiftPattern
from helpdesk.stats.rollup import rollup
from helpdesk.stats.selectors import StatsScope
from helpdesk.stats.simulator import simulate_traffic
from tests.factories import make_provider, make_supporter, make_user

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


@pytest.fixture
def history(reference_data):
    provider = make_provider(regions=["21"], channels=["chat", "phone", "video"])
    supporter = make_supporter(providers=[provider])
    for weekday in range(5):
        ShiftPattern.objects.create(
            supporter=supporter, provider=provider, weekday=weekday, start=time(9), end=time(15)
        )
    simulate_traffic(weeks=8, seed=11, region_codes=["21"], rate_scale=6, end=NOW.replace(minute=0))
    rollup()
    return Region.objects.get(code="21")


def test_plan_forecasts_staffs_and_sets_supply_beside_need(history):
    scope = StatsScope(kind="national")
    plan = region_plan(scope=scope, region=history, now=NOW, simulate=False)
    assert plan.unavailable is None
    assert plan.history_contacts > 1000
    assert len(plan.forecast) == HORIZON_HOURS
    assert len(plan.staffing) == STAFFING_HOURS
    assert len(plan.backtest) == 7 * 24
    assert plan.model == "erlang_a" and plan.patience_s > 0
    assert plan.forecast[0]["hour_start"].startswith("2026-11-30T15:00")  # next hour, Helsinki
    for row in plan.staffing:
        if row["arrivals"] > 0.05:
            assert row["agents"] >= 1 and row["service_level"] >= TARGET_SL
    assert plan.supporter_hours_week == sum(r["agents"] for r in plan.staffing)
    # One supporter planned Mon-Fri 9-15: 30 hours in the week ahead.
    assert plan.planned_hours_week == 30
    assert {r["planned"] for r in plan.staffing} == {0.0, 1.0}
    busy = [r for r in plan.staffing if r["hour_start"][11:13] == "11"]
    assert max(r["arrivals"] for r in busy) > max(
        r["arrivals"] for r in plan.staffing if r["hour_start"][11:13] == "03"
    )


def test_small_hourly_actuals_are_hidden_outside_own_region(history):
    national = region_plan(
        scope=StatsScope(kind="national"), region=history, now=NOW, simulate=False
    )
    own = region_plan(
        scope=StatsScope(
            kind="coordinator",
            region_ids=frozenset({history.pk}),
            unsuppressed_region_ids=frozenset({history.pk}),
        ),
        region=history,
        now=NOW,
        simulate=False,
    )
    assert all(p["actual"] is not None for p in own.backtest)
    hidden = [p for p in national.backtest if p["suppressed"]]
    assert hidden and all(p["actual"] is None for p in hidden)
    shown = [p for p in national.backtest if not p["suppressed"]]
    assert all(p["actual"] == 0 or p["actual"] >= 5 for p in shown)


def test_no_history_no_forecast(reference_data):
    plan = region_plan(
        scope=StatsScope(kind="national"), region=Region.objects.get(code="19"), now=NOW
    )
    assert plan.unavailable == "no_history" and plan.forecast == []


def test_demand_api_for_own_region_only(client, history):
    user = make_user()
    RoleGrant.objects.create(user=user, role=Role.COORDINATOR, region=history)
    client.force_login(user)
    body = client.get("/api/stats/demand", {"region": "21", "channel": "chat"}).json()
    assert body["region_code"] == "21" and body["concurrency"] == 2
    assert client.get("/api/stats/demand", {"region": "12"}).status_code == 403
    assert client.get("/api/stats/demand").status_code == 400


def test_the_plan_is_checked_by_simulation(history):
    plan = region_plan(
        scope=StatsScope(kind="national"), region=history, now=NOW, channel="chat", backtest=False
    )
    assert plan.concurrency == 2
    assert 0 < plan.simulated_service_level <= 1
    # The plan meets the target by the formula; the simulation of it comes close.
    assert plan.formula_service_level >= TARGET_SL
    assert abs(plan.simulated_service_level - plan.formula_service_level) < 0.15


def test_need_and_supply_for_every_region_on_request(client, history):
    user = make_user()
    RoleGrant.objects.create(user=user, role=Role.NATIONAL_ADMIN)
    client.force_login(user)
    page = client.get("/stats/", {"region": "21", "plans": "all"})
    assert page.status_code == 200
    response = client.get(
        "/stats/export.csv", {"region": "21", "plans": "all", "table": "need_supply"}
    )
    lines = response.content.decode().splitlines()
    assert len(lines) == 2 and lines[1].startswith("21,")
    needed, planned = (float(x) for x in lines[1].split(",")[3:5])
    assert needed > 0 and planned == 30
    assert "plans=all" in client.get("/stats/", {"region": "21"}).content.decode()
    for table in ("staffing", "forecast", "backtest"):
        response = client.get("/stats/export.csv", {"region": "21", "table": table})
        assert response.status_code == 200, table
        assert len(response.content.decode().splitlines()) > 24, table


def test_a_forecast_that_fails_leaves_the_page_working(client, reference_data, monkeypatch):
    from helpdesk.stats import forecast

    from .conftest import make_contact

    region = Region.objects.get(code="12")
    for i in range(6):
        make_contact(created=NOW - timedelta(days=2, minutes=i), region=region)
    rollup()

    def broken(*args, **kwargs):
        raise RuntimeError("singular matrix")

    monkeypatch.setattr(forecast, "forecast_hourly", broken)
    plan = region_plan(scope=StatsScope(kind="national"), region=region, now=NOW)
    assert plan.unavailable == "forecast_failed" and plan.history_contacts == 6
    user = make_user()
    RoleGrant.objects.create(user=user, role=Role.COORDINATOR, region=region)
    client.force_login(user)
    assert client.get("/stats/").status_code == 200
