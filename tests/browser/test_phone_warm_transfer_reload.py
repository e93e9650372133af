"""In real Chromium: both consoles of a warm transfer are reloaded while it is open
(asking, then joined) and show the same cards again (state text, take the call or
hand over and cancel); then the transfer is handed over from the reloaded page.
Screenshots at desktop and phone size, and axe on the restored pages."""

from __future__ import annotations

import time

import pytest

from tests.browser.test_customer_story import axe_ok
from tests.browser.test_phone_warm_transfer import (
    DESKTOP,
    PHONE,
    TIMEOUT_MS,
    _console,
    answer_in_browser,
    two_volunteers,
)
from tests.realtime.telephony.conftest import live_phone_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _reload(page) -> None:
    page.reload()
    page.wait_for_function(
        "() => document.getElementById('phone-panel')?.dataset.state === 'ready'",
        timeout=TIMEOUT_MS,
    )


def test_a_reloaded_console_shows_the_warm_transfer_again(
    asgi_servers, chromium, artifacts_dir, reference_data
):
    from helpdesk.models import Contact
    from realtime.telephony.models import PhoneCall, WarmTransfer

    target = two_volunteers()
    with live_phone_server(asgi_servers, answer_placed_calls=True) as (server, driver, stand_in):
        first_context, page = _console(chromium, server, "eero", DESKTOP)
        target_context, other = _console(chromium, server, "aino", PHONE)
        call, card, talking = answer_in_browser(page, driver, talk_s=120)
        # A warm transfer starts from a live call: wait until the caller is bridged.
        deadline = time.monotonic() + 30
        while not PhoneCall.objects.filter(stage="bridged").exists():
            assert time.monotonic() < deadline, "the call was never bridged"
            time.sleep(0.1)

        card.locator("details.warm-transfer summary").click()
        card.locator("select.warm-target").select_option(f"to_supporter:{target.pk}")
        card.locator("input.warm-note").fill("Pankkitunnukset eivät toimi")
        card.locator("button.warm-start").click()
        state = card.locator(".warm-state")
        state.filter(has_text="Soitetaan").wait_for(timeout=TIMEOUT_MS)
        other.locator("#phone-requests li").wait_for(timeout=TIMEOUT_MS)

        # 1. Asking: both pages reloaded show the same cards.
        _reload(page)
        _reload(other)
        card.locator("details.warm-transfer summary").click()
        state.filter(has_text="Soitetaan").wait_for(timeout=TIMEOUT_MS)
        assert card.locator("button.warm-cancel").is_visible()
        assert not card.locator("button.warm-complete").is_visible()
        assert not card.locator("button.warm-start").is_visible()
        request = other.locator("#phone-requests li")
        request.wait_for(timeout=TIMEOUT_MS)
        assert "Eero pyytää sinua ottamaan puhelun: Asiakas" in request.inner_text()
        assert "Pankkitunnukset" in request.inner_text()
        take = request.locator("button.request-browser")
        take.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert request.locator("button.request-decline").is_visible()
        page.screenshot(path=str(artifacts_dir / "console-warm-reload-asking.png"), full_page=True)
        other.screenshot(
            path=str(artifacts_dir / "console-warm-reload-request-phone.png"), full_page=True
        )
        axe_ok(page, artifacts_dir, "console-warm-reload-asking")
        axe_ok(other, artifacts_dir, "console-warm-reload-request-phone")

        # 2. Joined: reloaded again, the first supporter can still hand over or cancel.
        # The softphone answers at once, so the frame saying the target joined may
        # come before the answer to "take the call" (which says "connecting"). Held
        # back here until the transfer has joined, that answer must not take the
        # request back to "joining".
        def late_answer(route) -> None:
            response = route.fetch()
            deadline = time.monotonic() + 30
            while not WarmTransfer.objects.filter(state="joined").exists():
                assert time.monotonic() < deadline, "the target never joined"
                time.sleep(0.1)
            time.sleep(1.5)  # the frame reaches the page
            route.fulfill(response=response)

        accept_url = "**/telephony/transfers/*/accept"
        other.route(accept_url, late_answer)
        with other.expect_response(accept_url):
            take.click()
        other.wait_for_timeout(500)  # the page has read the late answer
        other.unroute(accept_url)
        card.locator("button.warm-complete").wait_for(timeout=TIMEOUT_MS)
        request.filter(has_text="Olet puhelussa").wait_for(timeout=TIMEOUT_MS)
        _reload(page)
        _reload(other)
        card.locator("details.warm-transfer summary").click()
        card.locator("button.warm-complete").wait_for(timeout=TIMEOUT_MS)
        assert "liittyi" in state.inner_text()
        assert card.locator("button.warm-cancel").is_visible()
        request.filter(has_text="Olet puhelussa").wait_for(timeout=TIMEOUT_MS)
        assert not request.locator("button.request-browser").is_visible()
        page.screenshot(path=str(artifacts_dir / "console-warm-reload-joined.png"), full_page=True)
        other.screenshot(
            path=str(artifacts_dir / "console-warm-reload-joined-target-phone.png"),
            full_page=True,
        )
        axe_ok(page, artifacts_dir, "console-warm-reload-joined")
        page.set_viewport_size(PHONE)
        page.screenshot(
            path=str(artifacts_dir / "console-warm-reload-joined-phone.png"), full_page=True
        )
        axe_ok(page, artifacts_dir, "console-warm-reload-joined-phone")
        page.set_viewport_size(DESKTOP)

        # 3. Handed over from the reloaded page.
        card.locator("button.warm-complete").click()
        other.locator("#phone-calls li").wait_for(timeout=TIMEOUT_MS)
        page.locator("#phone-calls li").wait_for(state="detached", timeout=TIMEOUT_MS)
        contact = Contact.objects.get()
        assert contact.supporter_id == target.pk and contact.state == "active"
        for shown in ("131234567", "13 123 4567", "013 1234567"):
            assert shown not in page.content() and shown not in other.content()
        call.hang_up()
        call.redirect_event.set()
        talking.join(20)
        first_context.close()
        target_context.close()
