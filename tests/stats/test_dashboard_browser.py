"""The coordinator dashboard in real Chromium, on simulated history; axe-core checks it.

axe-core comes from the npm registry through scripts/browser_libs.sh (run by
scripts/test.sh) into var/npm; it is never committed.
"""

from __future__ import annotations

import json

import pytest

from tests.browser.sign_in import sign_in
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000
AXE = ROOT / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def simulated(reference_data):
    from helpdesk.demo import load_demo_network
    from helpdesk.stats.rollup import rollup
    from helpdesk.stats.simulator import simulate_traffic

    load_demo_network(always_open=True)
    summary = simulate_traffic(weeks=3, seed=5, region_codes=["11", "12"])
    rollup()
    return summary


def test_coordinator_dashboard_shows_own_region_and_passes_axe(
    simulated, asgi_server, chromium, artifacts_dir
):
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/browser_libs.sh")
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="fi-FI")
    page = context.new_page()
    sign_in(page, asgi_server.url, "coord-pohjois-karjala", then="/stats/")

    assert page.locator("#stats-scope").get_attribute("data-scope") == "coordinator"
    options = page.locator("#f-region option").evaluate_all(
        "(els) => els.map((e) => e.value).filter(Boolean)"
    )
    assert options == ["12"]
    region_rows = page.locator("section[aria-labelledby=h-regions] tbody tr")
    assert region_rows.count() == 1
    assert region_rows.first.locator("td").first.inner_text().strip() == "12"
    arrivals = int(page.locator("#summary-arrivals").inner_text())
    assert 0 < arrivals < simulated.contacts  # region 11's contacts are not counted
    assert page.locator("svg.chart").count() >= 4
    page.screenshot(path=str(artifacts_dir / "stats-coordinator-dashboard.png"), full_page=True)

    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
        ".then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.slice(0, 3).map((n) => n.target)})))"
    )
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    (artifacts_dir / "stats-coordinator-axe.json").write_text(json.dumps(result, indent=2))
    assert not serious, json.dumps(serious, indent=2)

    # Asking for a region that is not one's own is refused.
    response = page.goto(f"{asgi_server.url}/stats/?region=11")
    assert response.status == 403
    context.close()
