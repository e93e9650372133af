"""The admin a regional coordinator uses, in real Chromium: axe, screenshots, scope.

A coordinator of Pohjois-Karjala signs in to the admin and opens the index,
the change lists and change forms of what they run (providers, supporters,
opening hours, exception dates, canned replies, workflows) at desktop
(1280×800) and phone (390×844) size. axe-core finds no serious or critical
violation on any of them, each page is screenshotted into test-artifacts, and
the provider change list holds exactly the providers serving the region. The
policy stays strict: no CSP bypass, so a page that needed an inline script or
style would show it here.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from helpdesk.demo import demo_password
from tests.browser.test_customer_story import AXE, SIZES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000
COORDINATOR = "coord-pohjois-karjala"
REGION = "12"


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def network(reference_data):
    from helpdesk.demo import load_demo_network
    from helpdesk.models import ExceptionDate, Provider, Region
    from routing.models import StepTarget, Workflow

    load_demo_network(always_open=False)
    # An exception date and a regional workflow to open (the demo has neither).
    provider = Provider.objects.get(slug="joensuun-kirjasto")
    ExceptionDate.objects.get_or_create(
        provider=provider, date="2026-12-24", defaults={"closed": True, "note": "Jouluaatto"}
    )
    workflow, _ = Workflow.objects.get_or_create(
        region=Region.objects.get(code=REGION), defaults={"name": "Pohjois-Karjala"}
    )
    for order, target in enumerate((StepTarget.REGION, StepTarget.NATIONAL)):
        workflow.steps.get_or_create(order=order, defaults={"target": target, "timeout_s": 300})


def in_scope_ids(model) -> dict[str, int]:
    """What the coordinator may open, by model: the first object of their scope."""
    from django.contrib.auth import get_user_model

    from helpdesk.admin_scope import scoped
    from helpdesk.permissions import Actor

    actor = Actor.for_user(get_user_model().objects.get(username=COORDINATOR))
    return scoped(model.objects.order_by("pk"), actor)


def admin_pages() -> list[tuple[str, str]]:
    """(name, path) of every page checked, the change forms on objects in scope."""
    from helpdesk.models import CannedReply, ExceptionDate, OpeningHours, Provider, Supporter
    from routing.models import Workflow

    pages = [("index", "/admin/")]
    for name, model in (
        ("provider", Provider),
        ("supporter", Supporter),
        ("openinghours", OpeningHours),
        ("exceptiondate", ExceptionDate),
        ("cannedreply", CannedReply),
        ("workflow", Workflow),
    ):
        app = model._meta.app_label
        pages.append((f"{name}-list", f"/admin/{app}/{name}/"))
        first = in_scope_ids(model).first()
        assert first is not None, f"the demo network has no {name} in the coordinator's scope"
        pages.append((f"{name}-change", f"/admin/{app}/{name}/{first.pk}/change/"))
    pages.append(("exceptiondate-add", "/admin/helpdesk/exceptiondate/add/"))
    return pages


def axe_violations(page) -> list[dict]:
    assert AXE.exists(), f"axe-core is missing at {AXE}: run scripts/browser_libs.sh"
    # Evaluated through the DevTools protocol: the page's own CSP stays in force.
    page.evaluate(AXE.read_text())
    return page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
        ".then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map((n) => n.target)})))"
    )


def sign_in_to_admin(page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill(COORDINATOR)
    page.locator("#id_password").fill(demo_password())
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/$"), timeout=TIMEOUT_MS)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_coordinators_admin_pages_pass_axe(asgi_server, chromium, artifacts_dir, network, size):
    from helpdesk.models import Provider

    context = chromium.new_context(locale="fi-FI", viewport=SIZES[size])
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: (
            violations.append(f"{page.url} {m.location}: {m.text[:60]}")
            if "Content Security Policy" in m.text
            else None
        ),
    )
    sign_in_to_admin(page, asgi_server.url)

    # First the pages as people get them: each one loads without a CSP
    # violation (axe, run afterwards, sets inline styles of its own as it measures).
    pages = admin_pages()
    for name, path in pages:
        response = page.goto(f"{asgi_server.url}{path}")
        assert response.status == 200, (path, response.status)
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)  # the admin's own scripts run on load
        page.screenshot(path=str(artifacts_dir / f"admin-{name}-{size}.png"), full_page=True)
    assert not violations, "\n".join(violations)

    found = {}
    for name, path in pages:
        page.goto(f"{asgi_server.url}{path}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)
        result = axe_violations(page)
        (artifacts_dir / f"admin-{name}-{size}-axe.json").write_text(json.dumps(result, indent=2))
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        if serious:
            found[path] = serious
    assert not found, json.dumps(found, indent=2)

    # The provider change list holds exactly the providers serving the region.
    page.goto(f"{asgi_server.url}/admin/helpdesk/provider/")
    shown = sorted(page.locator("#result_list tbody th a").all_inner_texts())
    expected = sorted(
        Provider.objects.filter(service_regions__code=REGION)
        .union(Provider.objects.filter(service_municipalities__region__code=REGION))
        .values_list("name", flat=True)
    )
    assert shown == expected and shown, (shown, expected)
    assert "Joensuun kaupunginkirjasto" in shown
    assert not Provider.objects.filter(name__in=shown).exclude(
        pk__in=in_scope_ids(Provider).values("pk")
    )
    outside = Provider.objects.get(slug="kuopion-kirjasto")
    assert outside.name not in shown
    # And a provider outside the scope cannot be opened by its address.
    response = page.goto(f"{asgi_server.url}/admin/helpdesk/provider/{outside.pk}/change/")
    assert response.status in (302, 403, 404) or "/admin/" in page.url
    expect(page.locator("#provider_form")).to_have_count(0)
    context.close()
