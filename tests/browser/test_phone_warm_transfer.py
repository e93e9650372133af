"""In real Chromium, with a stand-in for the Voice SDK: the softphone's mute control,
and the warm-transfer controls on both sides (ask, take the call, hand over), with
screenshots at desktop and phone size."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.sign_in import sign_in
from tests.factories import PASSWORD, make_provider, make_supporter
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE, live_phone_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000
FAKE_SDK = (Path(__file__).parent / "fake_twilio_voice.js").read_text()
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _console(chromium, server, username, viewport):
    context = chromium.new_context(locale="fi-FI", viewport=viewport)
    context.route(
        re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/]).*"), lambda route: route.abort()
    )
    # The Voice SDK is replaced by the stand-in (it would need Twilio's cloud).
    context.route(
        re.compile(r".*/telephony/vendor/twilio-voice/twilio\.min\.js.*"),
        lambda route: route.fulfill(
            status=200, content_type="application/javascript", body=FAKE_SDK
        ),
    )
    page = context.new_page()
    sign_in(page, server.url, username, PASSWORD)
    page.wait_for_function(
        "() => document.getElementById('phone-panel')?.dataset.state === 'ready'",
        timeout=TIMEOUT_MS,
    )
    return context, page


def two_volunteers():
    """Eero (online) and Aino at a Joensuu library, and a national provider; Aino."""
    provider = make_provider(regions=["12"], name="Joensuun kirjasto")
    make_provider(is_national=True)
    make_supporter(
        providers=[provider], kind="volunteer", last_heartbeat=timezone.now(), username="eero"
    )
    return make_supporter(
        providers=[provider], kind="volunteer", username="aino", display_name="Aino"
    )


def answer_in_browser(page, driver, *, talk_s: float):
    """A Joensuu caller offered to `page`'s console, accepted and answered in the
    browser softphone; the caller talks for talk_s. (call, its card, the thread
    that follows the call until the platform redirects it)."""
    page.locator("input[name=presence][value=available]").check()
    call = driver.call(JOENSUU_LANDLINE, digits=["1"])
    call.on_dial = call.talking(talk_s)
    assert call.start() == "queued"
    offer = page.locator("#offers li").first
    offer.wait_for(timeout=TIMEOUT_MS)
    offer.locator("button.accept").click()
    card = page.locator("#phone-calls li")
    answer = card.locator("button.answer-browser")
    answer.wait_for(timeout=TIMEOUT_MS)
    talking = threading.Thread(
        target=call.wait_until_redirected, args=(talk_s + 30.0,), daemon=True
    )
    talking.start()
    answer.click()
    page.wait_for_function(
        "() => document.querySelector('#phone-calls .phone-note')?.textContent.trim()",
        timeout=TIMEOUT_MS,
    )
    # Twilio rings the softphone (<Dial><Client>): the SDK stand-in does it here.
    assert page.evaluate("window.__twilioStandIn.ring()") == 1
    return call, card, talking


def test_mute_and_warm_transfer_controls(asgi_servers, chromium, artifacts_dir, reference_data):
    from helpdesk.models import Contact

    target = two_volunteers()
    with live_phone_server(asgi_servers, answer_placed_calls=True) as (server, driver, stand_in):
        first_context, page = _console(chromium, server, "eero", DESKTOP)
        target_context, other = _console(chromium, server, "aino", PHONE)
        call, card, talking = answer_in_browser(page, driver, talk_s=90)

        # Mute is the SDK's: the console's button mutes the live call and says so.
        mute = page.locator(".phone-controls button").first
        mute.wait_for(timeout=TIMEOUT_MS)
        assert mute.inner_text() == "Mykistä"
        mute.click()
        assert page.evaluate("window.__twilioStandIn.calls[0].isMuted()") is True
        assert mute.inner_text() == "Poista mykistys"
        mute.click()
        assert page.evaluate("window.__twilioStandIn.calls[0].isMuted()") is False
        assert mute.inner_text() == "Mykistä"

        # The card's heading names the caller by pseudonym once the call is live.
        expect(card.locator("p").first).to_have_text(
            re.compile(r"^Puhelu: Asiakas"), timeout=TIMEOUT_MS
        )
        # Warm transfer: ask Aino, staying on the line.
        card.locator("details.warm-transfer summary").click()
        card.locator("select.warm-target").select_option(f"to_supporter:{target.pk}")
        card.locator("input.warm-note").fill("Pankkitunnukset eivät toimi")
        card.locator("button.warm-start").click()
        state = card.locator(".warm-state")
        state.filter(has_text="Soitetaan").wait_for(timeout=TIMEOUT_MS)
        assert card.locator("button.warm-cancel").is_visible()
        assert not card.locator("button.warm-complete").is_visible()
        page.screenshot(
            path=str(artifacts_dir / "console-warm-transfer-asking.png"), full_page=True
        )

        request = other.locator("#phone-requests li")
        request.wait_for(timeout=TIMEOUT_MS)
        assert "Eero pyytää sinua ottamaan puhelun: Asiakas" in request.inner_text()
        assert "Pankkitunnukset" in request.inner_text()
        other.screenshot(
            path=str(artifacts_dir / "console-warm-transfer-request-phone.png"), full_page=True
        )
        request.locator("button.request-browser").click()

        card.locator("button.warm-complete").wait_for(timeout=TIMEOUT_MS)
        assert "liittyi" in state.inner_text()
        page.screenshot(
            path=str(artifacts_dir / "console-warm-transfer-joined.png"), full_page=True
        )
        page.set_viewport_size(PHONE)
        page.screenshot(
            path=str(artifacts_dir / "console-warm-transfer-joined-phone.png"), full_page=True
        )
        page.set_viewport_size(DESKTOP)
        card.locator("button.warm-complete").click()

        # Handed over: the call's card moves to Aino's console, Eero's is gone.
        other.locator("#phone-calls li").wait_for(timeout=TIMEOUT_MS)
        page.locator("#phone-calls li").wait_for(state="detached", timeout=TIMEOUT_MS)
        other.screenshot(
            path=str(artifacts_dir / "console-warm-transfer-handed-over-phone.png"), full_page=True
        )
        contact = Contact.objects.get()
        assert contact.supporter_id == target.pk and contact.state == "active"
        for shown in ("131234567", "13 123 4567", "013 1234567"):
            assert shown not in page.content() and shown not in other.content()
        call.hang_up()
        talking.join(20)
        first_context.close()
        target_context.close()
