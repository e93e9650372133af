"""In real Chromium: the CSP header on every page and no violation while people chat.

Every page load is checked for the Content-Security-Policy header; Chromium's
console and `securitypolicyviolation` events are collected on every page and
frame while a customer and a supporter chat, and on the other pages a visitor,
a supporter and an admin meet (API docs, widget in its frame, admin).
"""

import re

import pytest

from tests.browser.sign_in import sign_in
from tests.browser.test_chat_flow import TIMEOUT_MS, start_chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """
document.addEventListener("securitypolicyviolation", (e) => {
  (window.__cspViolations = window.__cspViolations || []).push(
    e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def open_network(reference_data):
    from helpdesk.demo import load_demo_network

    load_demo_network(always_open=True)


class Watch:
    """Collects CSP headers of documents and every violation Chromium reports."""

    def __init__(self):
        self.violations: list[str] = []
        self.documents: list[tuple[str, str | None]] = []

    def attach(self, context):
        context.add_init_script(LISTEN)
        context.on("page", self._page)
        return context

    def _page(self, page):
        page.on("console", lambda message: self._console(message, page))
        page.on("response", self._response)

    def _console(self, message, page):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.violations.append(f"{page.url} {message.location}: {message.text}")

    def _response(self, response):
        if response.request.resource_type == "document":
            self.documents.append((response.url, response.headers.get("content-security-policy")))

    def collect(self, page):
        for frame in page.frames:
            try:
                found = frame.evaluate("() => window.__cspViolations || []")
            except Exception:  # a frame that navigated away meanwhile
                continue
            self.violations.extend(found)


def test_no_csp_violation_while_a_customer_and_a_supporter_chat(
    asgi_server, chromium, artifacts_dir, open_network
):
    watch = Watch()
    supporter = watch.attach(chromium.new_context(locale="fi-FI"))
    console = supporter.new_page()
    watch._page(console)
    sign_in(console, asgi_server.url, "uusimaa-staff")
    # Available only once the console's socket is up.
    console.locator("#console-status").filter(has_text=re.compile(".+")).wait_for(
        timeout=TIMEOUT_MS
    )
    console.locator("#presence input[value=available]").check()

    customer = watch.attach(chromium.new_context(locale="fi-FI"))
    page = customer.new_page()
    watch._page(page)
    start_chat(page, asgi_server.url, artifacts_dir)
    offer = console.locator("#offers .offer").first
    offer.wait_for(timeout=TIMEOUT_MS)
    offer.locator("button.accept").click()
    panel = console.locator(".chat-panel:not([hidden])")
    panel.wait_for(timeout=TIMEOUT_MS)
    panel.locator("textarea[name=body]").fill("Hei! Autan sinua.")
    panel.locator(".composer button[type=submit]").click()
    page.locator("#messages li.supporter").filter(has_text="Autan sinua").wait_for(
        timeout=TIMEOUT_MS
    )
    page.locator("#message-input").fill("Kiitos!")
    page.locator("#composer button[type=submit]").click()
    panel.locator(".messages li.customer").filter(has_text="Kiitos").wait_for(timeout=TIMEOUT_MS)
    # The language menu works without an inline handler.
    page.locator("#lang-select").select_option("en")
    # The switch reloads the page: wait for the English one, not the old one's "load".
    page.wait_for_selector('html[lang="en"]', state="attached", timeout=TIMEOUT_MS)
    watch.collect(page)
    watch.collect(console)

    # The rest of the site: guides, help near me, privacy, API docs, the widget
    # framed on the demo page, the admin.
    visitor = customer.new_page()
    watch._page(visitor)
    for path in ("/kb/", "/near/", "/privacy/"):
        visitor.goto(f"{asgi_server.url}{path}")
        watch.collect(visitor)
    icon = visitor.request.get(f"{asgi_server.url}/favicon.ico")
    assert icon.ok and icon.headers["content-type"].startswith("image/")
    visitor.goto(f"{asgi_server.url}/api/docs/")
    visitor.locator(".swagger-ui .info .title").wait_for(timeout=TIMEOUT_MS)
    visitor.locator(".opblock").first.wait_for(timeout=TIMEOUT_MS)
    visitor.screenshot(path=str(artifacts_dir / "api-docs.png"))
    watch.collect(visitor)
    visitor.goto(f"{asgi_server.url}/widget-demo/")
    visitor.locator(".dgw-button").click()
    frame = visitor.frame_locator(".dgw-frame")
    frame.locator("#start-submit").wait_for(timeout=TIMEOUT_MS)
    watch.collect(visitor)
    admin_context = watch.attach(chromium.new_context(locale="fi-FI"))
    admin_page = admin_context.new_page()
    watch._page(admin_page)
    admin_page.goto(f"{asgi_server.url}/admin/")
    admin_page.locator("#id_username").fill("coord-uusimaa")
    from helpdesk.demo import demo_password

    admin_page.locator("#id_password").fill(demo_password())
    admin_page.locator("input[type=submit]").click()
    admin_page.wait_for_url(re.compile(r"/admin/$"), timeout=TIMEOUT_MS)
    admin_page.goto(f"{asgi_server.url}/admin/helpdesk/provider/")
    admin_page.locator("#result_list tbody th a").first.click()
    admin_page.locator("#provider_form").wait_for(timeout=TIMEOUT_MS)
    watch.collect(admin_page)

    assert not watch.violations, watch.violations
    pages = [(url, csp) for url, csp in watch.documents if "favicon" not in url]
    assert len(pages) >= 8
    for url, csp in pages:
        assert csp and "script-src 'self'" in csp and "unsafe-inline" not in csp, url
    customer.close()
    supporter.close()
    admin_context.close()
