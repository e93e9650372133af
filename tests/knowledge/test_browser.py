"""Real Chromium against a live server: search in Finnish, open a guide, switch to Swedish."""

import pytest
from django.core.management import call_command

import knowledge

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def imported(asgi_server):
    # Before Playwright starts: its sync API runs an event loop in this thread,
    # and Django refuses ORM calls while one runs.
    call_command("import_articles", str(knowledge.content_dir()), stdout=open("/dev/null", "w"))
    return asgi_server


def test_search_open_and_switch_language(imported, chromium, artifacts_dir):
    asgi_server = imported
    page = chromium.new_page(locale="fi-FI")
    try:
        page.goto(f"{asgi_server.url}/kb/")
        assert page.locator("html").get_attribute("lang") == "fi"
        page.locator("#kb-q").fill("uusi puhelin pankkitunnukset")
        page.keyboard.press("Enter")
        page.wait_for_url("**/kb/?q=*")
        first = page.locator(".kb-results h3 a").first
        assert "Pankkitunnukset" in first.inner_text()
        assert page.locator(".kb-results mark").count() > 0
        first.click()
        page.wait_for_url("**/kb/pankkitunnukset-uuteen-puhelimeen/**")
        assert page.locator("article").get_attribute("lang") == "fi"
        page.locator('.kb-langs a[lang="sv"]').click()
        page.wait_for_url("**lang=sv")
        assert page.locator("article").get_attribute("lang") == "sv"
        assert "telefon" in page.locator("article h1").inner_text()
        page.locator('button[value="yes"]').click()
        page.wait_for_url("**#helpful")
        assert page.locator('button[value="yes"]').count() == 0
        page.screenshot(path=str(artifacts_dir / "kb-article-sv.png"), full_page=True)
    finally:
        page.close()
