"""The supporter console through a volunteer's day, in real Chromium (issue 11 items 3 and 6).

Desktop (1280x800) and phone (390x844) screenshots go to test-artifacts/;
axe-core (scripts/browser_libs.sh puts it in var/npm) checks the console
with no chat, with an offer, with an open chat and after a transfer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser.sign_in import sign_in
from tests.browser.test_chat_flow import TIMEOUT_MS, start_chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
RAW_CODES = re.compile(r"(?:^|· )(?:chat|fi|sv|en|banking|active|waiting|on_hold)(?: ·|$)")


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def open_network(reference_data):
    from helpdesk.demo import load_demo_network

    load_demo_network(always_open=True)


def check_axe(page, artifacts_dir: Path, name: str) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/browser_libs.sh")
    page.evaluate(AXE.read_text())
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    (artifacts_dir / f"axe-{name}.json").write_text(json.dumps(result["violations"], indent=2))
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad


def no_sideways_scroll(page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_console_day_in_swedish_at_desktop_and_phone(
    asgi_server, chromium, artifacts_dir, open_network
):
    from helpdesk.models import CannedReply, Contact, Provider

    supporter = chromium.new_context(locale="sv-SE", viewport=DESKTOP)
    console = supporter.new_page()
    sign_in(console, asgi_server.url, "uusimaa-staff")
    console.locator("#console-status").filter(has_text=re.compile(".+")).wait_for(
        timeout=TIMEOUT_MS
    )
    assert console.evaluate("() => document.documentElement.lang") == "sv"
    console.screenshot(path=str(artifacts_dir / "console-day-empty-desktop.png"))
    check_axe(console, artifacts_dir, "console-empty")
    console.locator("#presence input[value=available]").check()

    customer = chromium.new_context(locale="fi-FI")
    page = customer.new_page()
    start_chat(page, asgi_server.url, artifacts_dir)

    offer = console.locator("#offers .offer").first
    offer.wait_for(timeout=TIMEOUT_MS)
    summary = offer.locator(".offer-summary").inner_text()
    # Labels, not codes; the pseudonym and the place in Swedish.
    assert "Chatt" in summary and "Finska" in summary and "Helsingfors" in summary, summary
    assert summary.startswith("Kund "), summary
    assert not RAW_CODES.search(summary), summary
    console.screenshot(path=str(artifacts_dir / "console-day-offer-desktop.png"))
    check_axe(console, artifacts_dir, "console-offer")
    offer.locator("button.accept").click()

    panel = console.locator(".chat-panel:not([hidden])")
    panel.wait_for(timeout=TIMEOUT_MS)
    meta = panel.locator(".chat-meta").inner_text()
    assert "Aktiv" in meta and "Chatt" in meta and "Bank" in meta, meta
    assert not RAW_CODES.search(meta), meta

    console.screenshot(path=str(artifacts_dir / "console-day-chat-desktop.png"))
    # The message box is in view at 1280x800 without scrolling the page.
    box = panel.locator("textarea[name=body]").bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"], box
    send = panel.locator(".composer button[type=submit]").bounding_box()
    assert send["y"] + send["height"] <= DESKTOP["height"], send

    # Canned replies in the customer's language (Finnish) only.
    contact = Contact.objects.get()
    finnish = list(
        CannedReply.objects.filter(
            provider__supporters__user__username="uusimaa-staff", language="fi"
        ).values_list("title", flat=True)
    )
    assert finnish
    options = panel.locator("select[name=canned] option").all_inner_texts()
    assert sorted(options[1:]) == sorted(finnish), options
    # The "/" shortcut lists them in the message box and puts one in.
    body = panel.locator("textarea[name=body]")
    body.fill("")
    body.press_sequentially("/")
    panel.locator(".slash-list li").first.wait_for(timeout=TIMEOUT_MS)
    assert panel.locator(".slash-list li").count() == len(finnish)
    console.screenshot(path=str(artifacts_dir / "console-day-slash-desktop.png"))
    body.press("Enter")
    chosen = body.input_value()
    assert chosen and chosen in set(
        CannedReply.objects.filter(language="fi").values_list("body", flat=True)
    )
    body.press("Enter")
    panel.locator(".messages li.supporter").first.wait_for(timeout=TIMEOUT_MS)
    check_axe(console, artifacts_dir, "console-chat")

    # Transfer targets: grouped by provider, nothing preselected, offline disabled.
    panel.locator("details.chat-actions summary").click()
    target = panel.locator(".transfer-form select[name=target]")
    assert target.input_value() == ""
    groups = target.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert groups[0].startswith("Helmet-kirjastojen digituki"), groups
    ahmed = target.locator("option", has_text="Ahmed")
    assert ahmed.get_attribute("disabled") is not None  # Ahmed is offline
    console.screenshot(path=str(artifacts_dir / "console-day-transfer-desktop.png"))

    # Typing, then a transfer that succeeds: no false error afterwards, even
    # once the typing timer has fired for the chat that left.
    body.fill("Siirrän sinut Kansalaisneuvontaan")
    body.press_sequentially(" ok")
    national_id = Provider.objects.get(is_national=True).pk
    target.select_option(f"to_provider:{national_id}")
    panel.locator(".transfer-form button[type=submit]").click()
    console.locator(".chat-panel p.notice").first.wait_for(timeout=TIMEOUT_MS)
    console.wait_for_timeout(4000)
    errors = console.locator(".chat-error").all_inner_texts()
    assert all(not text.strip() for text in errors), errors
    assert console.locator("#offer-alert").inner_text().strip() == ""
    contact.refresh_from_db()
    assert contact.state == "transferred" and contact.pinned_provider_id == national_id
    console.screenshot(path=str(artifacts_dir / "console-day-transferred-desktop.png"))
    check_axe(console, artifacts_dir, "console-transferred")

    # The same console on a phone: no sideways scroll.
    console.set_viewport_size(PHONE)
    console.wait_for_timeout(300)
    no_sideways_scroll(console)
    console.screenshot(
        path=str(artifacts_dir / "console-day-transferred-phone.png"), full_page=True
    )
    customer.close()
    supporter.close()


def test_idle_supporter_of_a_later_step_sees_and_picks_the_waiting_customer(
    asgi_server, chromium, artifacts_dir, open_network
):
    """Issue 11 item 3, in the browser: Kansalaisneuvonta (the last step of the
    default workflow) sees the Helsinki customer whose own region is busy,
    marked as from another area's queue, and picks it."""
    from helpdesk.models import Contact

    customer = chromium.new_context(locale="fi-FI")
    page = customer.new_page()
    start_chat(page, asgi_server.url, artifacts_dir)
    contact = Contact.objects.get()

    phone = chromium.new_context(locale="fi-FI", viewport=PHONE)
    console = phone.new_page()
    sign_in(console, asgi_server.url, "kn-agent")
    item = console.locator("#queue .queue-item").first
    item.wait_for(timeout=TIMEOUT_MS)
    assert console.locator("#queue-count").inner_text() == "1"
    assert "toisen alueen jonosta" in item.inner_text()
    no_sideways_scroll(console)
    console.screenshot(path=str(artifacts_dir / "console-day-overflow-phone.png"), full_page=True)
    check_axe(console, artifacts_dir, "console-overflow-phone")
    item.locator("button.pick").click()
    console.locator(".chat-panel:not([hidden])").wait_for(timeout=TIMEOUT_MS)
    contact.refresh_from_db()
    assert contact.state == "active" and contact.supporter.user.username == "kn-agent"
    no_sideways_scroll(console)
    console.screenshot(path=str(artifacts_dir / "console-day-picked-phone.png"), full_page=True)
    customer.close()
    phone.close()
