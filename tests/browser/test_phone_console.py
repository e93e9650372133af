"""In real Chromium: a phone call offered in the console, accepted by a volunteer and
connected to their own phone; the caller's number is never on the page."""

from __future__ import annotations

import re
import threading

import pytest
from django.utils import timezone

from realtime.telephony.driver import DialResult
from tests.browser.sign_in import sign_in
from tests.factories import PASSWORD, make_provider, make_supporter
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE, live_phone_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_volunteer_accepts_a_phone_offer_without_seeing_the_number(
    asgi_servers, chromium, artifacts_dir, reference_data
):
    from helpdesk.models import Contact

    provider = make_provider(regions=["12"], name="Joensuun kirjasto")
    make_provider(is_national=True)
    volunteer = make_supporter(
        providers=[provider], kind="volunteer", last_heartbeat=timezone.now(), username="eero"
    )
    with live_phone_server(asgi_servers) as (server, driver, _stand_in):
        context = chromium.new_context(locale="fi-FI")
        # Nothing leaves the machine: the softphone cannot reach Twilio's cloud here.
        context.route(
            re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/]).*"),
            lambda route: route.abort(),
        )
        page = context.new_page()
        sign_in(page, server.url, "eero", PASSWORD)
        panel = page.locator("#phone-panel")
        panel.wait_for(timeout=TIMEOUT_MS)
        page.locator("input[name=presence][value=available]").check()

        call = driver.call(JOENSUU_LANDLINE, digits=["1"], on_dial=lambda *a: DialResult())
        assert call.start() == "queued"
        offer = page.locator("#offers li").first
        offer.wait_for(timeout=TIMEOUT_MS)
        assert "Puhelin" in offer.inner_text()  # the channel, in the console's Finnish
        page.screenshot(path=str(artifacts_dir / "console-phone-offer.png"), full_page=True)
        offer.locator("button.accept").click()

        card = page.locator("#phone-calls li")
        card.wait_for(timeout=TIMEOUT_MS)
        answer = card.locator("button.answer-phone")
        answer.wait_for(timeout=TIMEOUT_MS)
        # The softphone cannot register (no Twilio here): only the own phone is offered.
        assert card.locator("button.answer-browser").count() == 0
        page.locator("#phone-own-number").fill("040 765 4321")
        result = {}
        waiting = threading.Thread(
            target=lambda: result.setdefault("state", call.wait_until_redirected(20.0))
        )
        waiting.start()
        answer.click()
        waiting.join(25)
        assert result.get("state") == "completed"
        assert call.dialled[0][:2] == ("Number", "+358407654321")
        card.locator(".phone-note").filter(has_text=re.compile(r"\S")).wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(artifacts_dir / "console-phone-connected.png"), full_page=True)

        html = page.content()
        for shown in ("131234567", "13 123 4567", "013 1234567"):
            assert shown not in html
        assert Contact.objects.get().state == "active"
        assert volunteer.pk
        context.close()


def test_console_says_the_phone_is_not_configured_and_works_on(
    asgi_server, chromium, reference_data
):
    provider = make_provider(regions=["12"])
    make_supporter(providers=[provider], username="aino")
    page = chromium.new_context(locale="en-GB").new_page()
    sign_in(page, asgi_server.url, "aino", PASSWORD)
    status = page.locator("#phone-status")
    status.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.getElementById('phone-panel').dataset.state === 'not-configured'",
        timeout=TIMEOUT_MS,
    )
    assert status.inner_text().strip()
    # The rest of the console is unchanged: presence still works.
    page.locator("input[name=presence][value=available]").check()
    page.locator("#console-status").filter(has_text=re.compile(r"\S")).wait_for(timeout=TIMEOUT_MS)
