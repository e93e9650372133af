"""In real Chromium: a supporter's status survives a reload of the console.

A reload closes the tab's last socket and the server takes that for leaving
(offline); the console brings back the status chosen in the tab, so that a
volunteer who reloads is not silently left out of the offers."""

from __future__ import annotations

import time

import pytest

from tests.browser.sign_in import sign_in
from tests.factories import PASSWORD, make_provider, make_supporter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _presence_becomes(supporter, value: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        supporter.refresh_from_db(fields=["presence"])
        if supporter.presence == value:
            return
        assert time.monotonic() < deadline, f"presence stayed {supporter.presence}, not {value}"
        time.sleep(0.1)


def test_a_reloaded_console_keeps_the_chosen_status(asgi_servers, chromium, reference_data):
    provider = make_provider(regions=["12"], name="Joensuun kirjasto")
    supporter = make_supporter(providers=[provider], kind="volunteer", username="eero")
    (server,) = asgi_servers(1)
    context = chromium.new_context(locale="fi-FI")
    page = context.new_page()
    sign_in(page, server.url, "eero", PASSWORD)
    busy = page.locator("input[name=presence][value=busy]")
    # Chosen once the console has its welcome (the status line says it is connected).
    page.wait_for_function(
        "() => document.getElementById('console-status')?.textContent.trim()", timeout=TIMEOUT_MS
    )
    # Offline is nobody's choice: no status is checked, and the console says
    # what that means and what to do.
    offline = page.locator("#presence-offline")
    offline.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert "Paikalla" in offline.inner_text()
    assert page.locator("#presence input:checked").count() == 0
    busy.check()
    _presence_becomes(supporter, "busy")
    offline.wait_for(state="hidden", timeout=TIMEOUT_MS)

    # Leaving the console closes the tab's socket: offline, as for any leaving.
    # Coming back in the same tab (a reload is the same, faster) brings the status back.
    page.goto(f"{server.url}/privacy/")
    _presence_becomes(supporter, "offline")
    page.goto(f"{server.url}/console/")
    _presence_becomes(supporter, "busy")
    page.wait_for_function(
        "() => document.querySelector('#presence input[value=busy]').checked",
        timeout=TIMEOUT_MS,
    )
    context.close()
