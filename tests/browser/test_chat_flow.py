"""End to end in real Chromium: a customer asks for help, a supporter answers.

Runs against a live uvicorn process (tests/conftest.py `asgi_server`) on the
test database, with the routing ticker on, the real channel layer and two
browser contexts: the customer's and the signed-in supporter's.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.sign_in import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own
    # ORM reads are plain blocking reads of committed rows.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def open_network(reference_data):
    from helpdesk.demo import load_demo_network

    # Always open, so the test does not depend on the hour it runs at.
    load_demo_network(always_open=True)


def start_chat(page, base_url: str, artifacts_dir) -> None:
    page.goto(f"{base_url}/")
    page.locator("#municipality-input").fill("Helsin")
    option = page.get_by_role("option", name=re.compile(r"^Helsinki"))
    option.wait_for(timeout=TIMEOUT_MS)
    page.locator("#municipality-input").press("ArrowDown")
    page.locator("#municipality-input").press("Enter")
    assert page.locator("#municipality-code").input_value() == "091"
    page.locator("#topic-select").select_option("banking")
    page.locator("#description").fill("En osaa maksaa laskua verkkopankissa")
    page.locator("#consent").check()
    page.screenshot(path=str(artifacts_dir / "customer-start.png"), full_page=True)
    page.locator("#start-submit").click()
    page.wait_for_url(re.compile(r"/chat/$"), timeout=TIMEOUT_MS)


def test_start_form_creates_a_contact_and_the_console_loads(
    asgi_server, chromium, artifacts_dir, open_network
):
    from helpdesk.models import Contact

    customer = chromium.new_context(locale="fi-FI")
    page = customer.new_page()
    # Submitting without consent or municipality is stopped with a clear message.
    page.goto(f"{asgi_server.url}/")
    page.locator("#start-submit").click()
    errors = page.locator("#form-errors")
    errors.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert errors.locator("p").count() == 2
    start_chat(page, asgi_server.url, artifacts_dir)
    contact = Contact.objects.get()
    assert contact.channel == "chat" and contact.municipality.code == "091"
    assert contact.topic.slug == "banking"
    stored = page.evaluate("() => JSON.parse(localStorage.getItem('digituki.contact'))")
    assert stored["id"] == str(contact.public_id) and stored["token"]
    page.locator("#conversation").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "customer-chat-waiting.png"), full_page=True)

    supporter = chromium.new_context(locale="fi-FI", viewport={"width": 1400, "height": 900})
    console = supporter.new_page()
    sign_in(console, asgi_server.url, "uusimaa-staff")
    assert console.locator("#console").is_visible()
    console.screenshot(path=str(artifacts_dir / "console-loaded.png"), full_page=True)
    customer.close()
    supporter.close()


def test_customer_and_supporter_chat_end_to_end(asgi_server, chromium, artifacts_dir, open_network):
    from helpdesk.models import Contact, Feedback

    supporter = chromium.new_context(locale="fi-FI", viewport={"width": 1400, "height": 900})
    console = supporter.new_page()
    sign_in(console, asgi_server.url, "uusimaa-staff")
    console.locator("#console-status").filter(has_text=re.compile(".+")).wait_for(
        timeout=TIMEOUT_MS
    )
    console.locator("#presence input[value=available]").check()

    customer = chromium.new_context(locale="fi-FI")
    page = customer.new_page()
    start_chat(page, asgi_server.url, artifacts_dir)
    page.locator("#waiting, #supporter-line:not(:empty)").first.wait_for(timeout=TIMEOUT_MS)

    # The offer arrives with a countdown; the supporter accepts it.
    offer = console.locator("#offers .offer").first
    offer.wait_for(timeout=TIMEOUT_MS)
    assert re.search(r"\d+ s", offer.locator(".countdown").inner_text())
    console.screenshot(path=str(artifacts_dir / "console-offer.png"), full_page=True)
    offer.locator("button.accept").click()
    panel = console.locator(".chat-panel:not([hidden])")
    panel.wait_for(timeout=TIMEOUT_MS)
    page.locator("#supporter-line").filter(has_text="Laura").wait_for(timeout=TIMEOUT_MS)

    # Both sides write; each sees the other's message.
    panel.locator("textarea[name=body]").fill("Hei! Olen Laura. Autan sinua laskun kanssa.")
    panel.locator(".composer button[type=submit]").click()
    page.locator("#messages li.supporter").filter(has_text="Autan sinua").wait_for(
        timeout=TIMEOUT_MS
    )
    page.locator("#message-input").fill("Kiitos! Mistä aloitan?")
    page.locator("#composer button[type=submit]").click()
    panel.locator(".messages li.customer").filter(has_text="Mistä aloitan").wait_for(
        timeout=TIMEOUT_MS
    )
    # The customer's own message is shown once, acknowledged and echoed alike.
    page.locator("#messages li.customer[data-seq]:not(.pending)").first.wait_for()
    expect(page.locator("#messages li.customer")).to_have_count(1)
    # An internal note never reaches the customer.
    panel.locator("textarea[name=body]").fill("Asiakas tarvitsee e-laskuohjeen")
    panel.locator("input[name=note]").check()
    panel.locator(".composer button[type=submit]").click()
    panel.locator(".messages li.kind-note").wait_for(timeout=TIMEOUT_MS)
    expect(panel.locator(".messages li.supporter .receipt").first).to_have_text(
        re.compile("Read|Luettu|Läst"), timeout=TIMEOUT_MS
    )
    console.screenshot(path=str(artifacts_dir / "console-chat.png"), full_page=True)
    page.screenshot(path=str(artifacts_dir / "customer-chat.png"), full_page=True)
    assert "e-laskuohjeen" not in page.locator("#messages").inner_text()

    # A reload resumes the same contact with every message in order.
    page.reload()
    page.locator("#messages li[data-seq]").nth(1).wait_for(timeout=TIMEOUT_MS)
    seqs = [
        int(x)
        for x in page.locator("#messages li[data-seq]").evaluate_all(
            "items => items.map(li => li.dataset.seq)"
        )
    ]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) == 2
    page.locator("#supporter-line").filter(has_text="Laura").wait_for(timeout=TIMEOUT_MS)

    # The supporter ends with an outcome; the customer gives feedback.
    panel.locator("details.chat-actions summary").click()
    panel.locator(".end-form select[name=outcome]").select_option("solved")
    panel.locator(".end-form button[type=submit]").click()
    page.locator("#ended").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.locator("#feedback-form input[name=rating][value='5']").check()
    page.locator("#feedback-form input[name=can_do_myself][value=true]").check()
    page.locator("#feedback-comment").fill("Selkeä apu, kiitos")
    page.locator("#feedback-form button[type=submit]").click()
    page.locator("#feedback-thanks").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "customer-ended.png"), full_page=True)
    console.screenshot(path=str(artifacts_dir / "console-ended.png"), full_page=True)

    contact = Contact.objects.get()
    assert contact.state == "ended" and contact.outcome == "solved"
    feedback = Feedback.objects.get(contact=contact)
    assert feedback.rating == 5 and feedback.can_do_myself is True
    customer.close()
    supporter.close()


@pytest.fixture
def closed_today(open_network):
    """Every provider closed for the whole of today (an exception date): nobody answers."""
    from django.utils import timezone

    from helpdesk.models import ExceptionDate, Provider

    today = timezone.localdate()
    ExceptionDate.objects.bulk_create(
        ExceptionDate(provider=provider, date=today, closed=True)
        for provider in Provider.objects.all()
    )


def test_waiting_customer_sees_help_points_and_asks_for_a_callback(
    asgi_server, chromium, artifacts_dir, closed_today
):
    from helpdesk.models import Contact

    customer = chromium.new_context(locale="fi-FI")
    page = customer.new_page()
    start_chat(page, asgi_server.url, artifacts_dir)
    page.locator("#waiting").wait_for(state="visible", timeout=TIMEOUT_MS)
    # No provider is open today: the server's routing round tells the page so
    # (queue.closed), with the link to help nearby for the customer's municipality.
    page.locator("#closed-box").wait_for(state="visible", timeout=TIMEOUT_MS)
    chat = Contact.objects.get(channel="chat")
    assert chat.events.filter(kind="closed_notice").count() == 1
    # The page may write the link relative or resolved against its origin.
    link = page.locator("#help-points-link").evaluate("a => a.pathname + a.search")
    assert link == "/near/?municipality=091"
    page.locator("#help-points li").filter(has_text="Helmet").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#options-box").is_visible()
    # A reload still shows it: the server repeats the notice after the welcome.
    page.reload()
    page.locator("#closed-box").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "customer-closed.png"), full_page=True)

    page.locator("#callback-number").fill("abc")
    page.locator("#callback-form button[type=submit]").click()
    page.locator("#callback-result").filter(has_text=re.compile(".+")).wait_for()
    assert Contact.objects.filter(is_callback=True).count() == 0

    page.locator("#callback-number").fill("040 123 4567")
    page.locator("#callback-form button[type=submit]").click()
    page.locator("#callback-done").wait_for(timeout=TIMEOUT_MS)
    callback = Contact.objects.get(is_callback=True)
    assert callback.callback_number == "+358401234567" and callback.channel == "phone"
    assert Contact.objects.get(channel="chat").state == "abandoned"
    assert page.evaluate("() => localStorage.getItem('digituki.contact')") is None
    customer.close()


def test_widget_button_opens_the_framed_chat(asgi_server, chromium, artifacts_dir, open_network):
    context = chromium.new_context(locale="fi-FI")
    page = context.new_page()
    page.goto(f"{asgi_server.url}/widget-demo/?provider=helmet-digituki")
    button = page.locator("button.dgw-button")
    button.wait_for(timeout=TIMEOUT_MS)
    assert button.get_attribute("aria-expanded") == "false"
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    frame = page.frame_locator("iframe.dgw-frame")
    frame.locator("#start-form").wait_for(timeout=TIMEOUT_MS)
    assert frame.locator("#start-form").get_attribute("data-provider") == "helmet-digituki"
    page.screenshot(path=str(artifacts_dir / "widget-open.png"))
    page.keyboard.press("Escape")
    assert page.locator("#digituki-widget-panel").is_hidden()
    assert page.evaluate("() => document.activeElement.className") == "dgw-button"
    context.close()
