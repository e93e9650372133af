"""Who sees what: dashboard, exports and API by role; suppression in what leaves a region."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from helpdesk.models import Region, Role, RoleGrant
from helpdesk.stats.rollup import rollup
from tests.factories import make_provider, make_user

from .conftest import make_contact

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 10, 5, 7, tzinfo=UTC)
PERIOD = {"start": "2026-10-01", "end": "2026-10-10"}


@pytest.fixture
def data(reference_data):
    """Region 12 with 7 contacts (two of them abandoned), region 11 with 3."""
    pk = Region.objects.get(code="12")
    ps = Region.objects.get(code="11")
    for i in range(5):
        make_contact(created=DAY + timedelta(minutes=i), region=pk)
    for i in range(2):
        make_contact(created=DAY + timedelta(minutes=10 + i), region=pk, abandoned_after_s=90)
    for i in range(3):
        make_contact(created=DAY + timedelta(minutes=i), region=ps)
    rollup()
    return pk, ps


def login(client, role, *, region=None, provider=None):
    user = make_user()
    RoleGrant.objects.create(user=user, role=role, region=region, provider=provider)
    client.force_login(user)
    return user


def regions_in(response_json):
    return {r["code"]: r for r in response_json["regions"]}


def test_coordinator_sees_only_own_region_unsuppressed(client, data):
    pk, ps = data
    login(client, Role.COORDINATOR, region=ps)
    body = client.get("/api/stats/figures", PERIOD).json()
    regions = regions_in(body)
    assert set(regions) == {"11"}
    # Three contacts only, but it is the coordinator's own region: shown.
    assert regions["11"]["arrivals"] == 3 and not regions["11"]["suppressed"]
    assert body["scope"] == "coordinator"


def test_coordinator_asking_for_another_region_is_refused(client, data):
    pk, ps = data
    login(client, Role.COORDINATOR, region=ps)
    response = client.get("/api/stats/figures", {**PERIOD, "region": "12"})
    assert response.status_code == 403
    assert response.json()["error"] == "not_allowed"
    assert client.get("/stats/", {**PERIOD, "region": "12"}).status_code == 403


def test_national_admin_sees_all_with_small_cells_hidden(client, data):
    login(client, Role.NATIONAL_ADMIN)
    body = client.get("/api/stats/figures", PERIOD).json()
    regions = regions_in(body)
    assert regions["12"]["arrivals"] == 7 and regions["12"]["abandoned"] == 2
    assert regions["11"]["suppressed"] and regions["11"]["arrivals"] is None
    assert body["summary"]["arrivals"] == 10


def test_provider_admin_sees_own_provider_only(client, data):
    provider = make_provider(regions=["12"])
    login(client, Role.PROVIDER_ADMIN, provider=provider)
    body = client.get("/api/stats/figures", PERIOD).json()
    assert body["scope"] == "provider"
    assert body["summary"]["arrivals"] in (0, None)  # no contact was answered by it


def test_no_role_no_statistics(client, data):
    client.force_login(make_user())
    assert client.get("/api/stats/figures", PERIOD).status_code == 403
    assert client.get("/stats/").status_code == 403
    client.logout()
    assert client.get("/api/stats/figures").status_code in (401, 403)
    assert client.get("/stats/").status_code == 302


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday"},
        {"start": "2026-02-31"},
        {"start": "2026-10-10", "end": "2026-10-01"},
        {"start": "2020-01-01", "end": "2026-01-01"},
        {"region": "99"},
        {"channel": "fax"},
        {"topic": "no-such-topic"},
        {"start": "2026-10-01\x00"},
        {"region": "12\x00"},
        {"topic": "banking\x00"},
        {"channel": "chat\x00"},
        {"region": ",".join(["12"] * 40) + ",1"},
    ],
)
def test_bad_filters_are_a_clear_400(client, data, params):
    login(client, Role.NATIONAL_ADMIN)
    response = client.get("/api/stats/figures", params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert client.get("/stats/", params).status_code == 400


def test_csv_export_suppresses_outside_own_region(client, data):
    login(client, Role.NATIONAL_ADMIN)
    response = client.get("/stats/export.csv", {**PERIOD, "table": "regions"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code["12"][4] == "7"
    assert by_code["11"][4] == ""  # hidden: three contacts


def test_xlsx_export_has_every_table(client, data):
    login(client, Role.COORDINATOR, region=Region.objects.get(code="12"))
    response = client.get("/stats/export.xlsx", PERIOD)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert {"regions", "volume", "heatmap", "topics", "coverage"} <= set(book.sheetnames)
    sheet = book["regions"]
    assert sheet.cell(row=2, column=1).value == "12"
    assert sheet.cell(row=2, column=5).value == 7


def test_export_needs_a_known_format_and_table(client, data):
    login(client, Role.NATIONAL_ADMIN)
    assert client.get("/stats/export.pdf", PERIOD).status_code == 404
    assert client.get("/stats/export.csv", {**PERIOD, "table": "nope"}).status_code == 400


def test_dashboard_renders_for_coordinator(client, data):
    login(client, Role.COORDINATOR, region=Region.objects.get(code="12"))
    response = client.get("/stats/", PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and 'role="img"' in html
    assert "<script" not in html.split("</header>")[1]
    assert ' style="' not in html


def test_schema_documents_the_stats_endpoints(client, data):
    login(client, Role.NATIONAL_ADMIN)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/stats/figures", "/api/stats/demand", "/api/stats/coverage"):
        assert path in schema


def test_every_export_is_audit_logged(client, data):
    from helpdesk.models import AuditLogEntry

    user = login(client, Role.NATIONAL_ADMIN)
    client.get("/stats/export.csv", {**PERIOD, "table": "regions"})
    client.get("/stats/export.xlsx", PERIOD)
    entries = AuditLogEntry.objects.filter(action="export", actor=user).order_by("at")
    assert [e.detail["what"] for e in entries] == ["stats.csv", "stats.xlsx"]
