"""The "Your data" box in real Chromium: after a chat the customer downloads and deletes it.

The download must hold this customer's conversation and nothing of anyone
else's; after deleting, the messages are gone from the database and from the
page, and the page says so in its own language. Screenshots at desktop and
phone size go to the test artefacts; axe-core checks the box.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_flow import start_chat
from tests.browser.test_customer_story import SIZES, TIMEOUT_MS, act, axe_ok, supporter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MINE = "Kirjoitin tämän itse"
THEIRS = "Toisen asiakkaan yksityinen asia"
DELETED_FI = "Keskustelu ja kaikki, mitä kirjoitit siihen, poistettiin."


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def server(asgi_servers, reference_data):
    from helpdesk.demo import load_demo_network

    load_demo_network(always_open=True)
    return asgi_servers(1)[0]


def _someone_else():
    """Another customer's chat, in the same region and with the same supporter."""
    from helpdesk.models import Contact
    from helpdesk.services.messages import post_message
    from routing import services
    from tests.realtime.helpers import make_contact

    other = make_contact(state="waiting", description=THEIRS)
    act(services.pick_contact, public_id=other.public_id, supporter=supporter("uusimaa-staff"))
    act(post_message, contact_id=other.pk, client_msg_id="o1", body=THEIRS)
    return Contact.objects.get(pk=other.pk)


def _download(page, button: str) -> str:
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.locator(f"#my-data [{button}]").click()
    return info.value.path().read_text(encoding="utf-8")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_customer_downloads_and_deletes_their_chat(server, chromium, artifacts_dir, size):
    from helpdesk.models import Contact, Message
    from helpdesk.services.messages import post_message
    from routing import services

    other = _someone_else()
    context = chromium.new_context(
        locale="fi-FI", viewport=SIZES[size], bypass_csp=True, accept_downloads=True
    )
    page = context.new_page()
    start_chat(page, server.url, artifacts_dir)
    contact = Contact.objects.exclude(pk=other.pk).get()
    laura = supporter("uusimaa-staff")
    act(services.pick_contact, public_id=contact.public_id, supporter=laura)
    expect(page.locator("#supporter-line")).to_contain_text("Laura", timeout=TIMEOUT_MS)
    page.locator("#message-input").fill(MINE)
    page.locator("#composer button[type=submit]").click()
    expect(page.locator("#messages li.msg.customer")).to_contain_text(MINE, timeout=TIMEOUT_MS)
    act(
        post_message,
        contact_id=contact.pk,
        client_msg_id="s1",
        body="Autan mielelläni.",
        supporter=laura,
    )
    expect(page.locator("#messages")).to_contain_text("Autan mielelläni.", timeout=TIMEOUT_MS)

    box = page.locator("#my-data")
    expect(box).to_be_visible()
    expect(box.get_by_role("heading")).to_have_text("Tietosi")
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"my-data-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"my-data-{size}")

    # The downloads: this chat's own messages, nothing of the other customer.
    exported = json.loads(_download(page, "data-my-data-json"))
    assert exported["contact"]["id"] == str(contact.public_id)
    bodies = [m["body"] for m in exported["messages"]]
    assert MINE in bodies and "Autan mielelläni." in bodies, bodies
    text = _download(page, "data-my-data-text")
    assert MINE in text and "Autan mielelläni." in text
    for download in (json.dumps(exported, ensure_ascii=False), text):
        assert THEIRS not in download and str(other.public_id) not in download

    # Deleting asks first, then the chat is gone, and the page says so in Finnish.
    box.locator("[data-my-data-delete]").click()
    confirm = box.locator("[data-my-data-confirm]")
    expect(confirm).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"my-data-confirm-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"my-data-confirm-{size}")
    confirm.locator("[data-my-data-really]").click()
    expect(box.locator("[data-my-data-status]")).to_have_text(DELETED_FI, timeout=TIMEOUT_MS)
    expect(page.locator("#messages li.msg.customer")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / f"my-data-deleted-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"my-data-deleted-{size}")
    contact.refresh_from_db()
    assert contact.purged_at is not None and contact.state in ("ended", "abandoned")
    assert not Message.objects.filter(contact=contact).exclude(author_kind="system").exists()
    # The other customer's chat is untouched.
    assert Message.objects.filter(contact=other, body=THEIRS).exists()
    other.refresh_from_db()
    assert other.purged_at is None

    # Back on the chat page: no chat in this browser any more.
    page.reload()
    expect(page.locator("#no-chat")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#my-data")).to_be_hidden()
    context.close()


def test_the_waiting_room_says_when_no_guide_fits(server, chromium, artifacts_dir):
    # No guide is published here at all: the waiting room must say so and
    # point to a person, not stay silent or show something unrelated.
    context = chromium.new_context(locale="fi-FI", viewport=SIZES["desktop"], bypass_csp=True)
    page = context.new_page()
    start_chat(page, server.url, artifacts_dir)
    none = page.locator("#self-help-none")
    expect(none).to_be_visible(timeout=TIMEOUT_MS)
    expect(none.get_by_role("heading")).to_have_text("Tähän ei löytynyt ohjetta")
    link = none.locator("a[data-in-person]")
    assert link.get_attribute("href") == "/near/"
    expect(link).to_have_text("Lähitukea lähelläsi")
    expect(page.locator("#self-help")).to_be_hidden()
    page.screenshot(path=str(artifacts_dir / "waiting-no-guide-desktop.png"), full_page=True)
    axe_ok(page, artifacts_dir, "waiting-no-guide-desktop")
    context.close()
