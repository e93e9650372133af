"""The customer's side in real Chromium: the story of a chat, honest waiting, cues, pictures.

A live uvicorn process serves the pages (tests/conftest.py `asgi_server`);
the supporters' actions are the routing and message services called from the
test, so the customer's page is checked against what each action publishes.
Screenshots at desktop (1280×800) and phone (390×844) size go to the test
artefacts, and axe-core (var/npm, installed by scripts/browser_libs.sh) checks
the start page and the chat in its waiting, served and ended states.
"""

from __future__ import annotations

import io
import json
import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_flow import start_chat
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000
AXE = ROOT / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def open_network(reference_data):
    from helpdesk.demo import load_demo_network

    load_demo_network(always_open=True)


@pytest.fixture
def server(asgi_servers, tmp_path, open_network, settings):
    settings.ATTACHMENT_ROOT = tmp_path / "attachments"  # the same folder for both processes
    return asgi_servers(1, ATTACHMENT_ROOT=str(settings.ATTACHMENT_ROOT))[0]


def axe_ok(page, artifacts_dir, name: str) -> None:
    if not AXE.exists():
        if shutil.which("npm"):
            pytest.fail(f"axe-core is missing at {AXE}: run scripts/browser_libs.sh")
        pytest.skip("npm is not installed, so axe-core cannot be; the accessibility check is off")
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
        ".then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.slice(0, 3).map((n) => n.target)})))"
    )
    (artifacts_dir / f"{name}-axe.json").write_text(json.dumps(result, indent=2))
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(serious, indent=2)


def supporter(username: str):
    from helpdesk.models import Supporter

    return Supporter.objects.get(user__username=username)


def gps_jpeg() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (120, 80), (20, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (62.0, 36.0, 1.0), 3: "E", 4: (29.0, 45.0, 2.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def act(fn, **kwargs):
    """Run a service as a supporter's request would: in another thread.

    Playwright's sync API keeps an event loop in the test's thread, where the
    services' after-commit publishing (async_to_sync) cannot run.
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run():
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def story_lines(page) -> list[str]:
    return page.locator("#messages li.story .body").all_inner_texts()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_conversation_tells_the_story(server, chromium, artifacts_dir, size):
    from helpdesk.models import Contact, Message
    from helpdesk.services.messages import post_message
    from routing import services

    context = chromium.new_context(locale="fi-FI", viewport=SIZES[size], bypass_csp=True)
    page = context.new_page()
    page.goto(f"{server.url}/")
    axe_ok(page, artifacts_dir, f"customer-start-{size}")
    start_chat(page, server.url, artifacts_dir)
    contact = Contact.objects.get()

    # Waiting: a position or "finding your place", an estimate or an honest
    # statement, who will help, and the other ways of getting help at once.
    status = page.locator("#queue-status")
    expect(status).to_contain_text(re.compile(r"jonossa|Etsimme paikkaasi"), timeout=TIMEOUT_MS)
    expect(status).to_contain_text(re.compile(r"Arvioitu odotus|emme vielä osaa sanoa"))
    expect(status).to_contain_text("Sinua auttavat alueen Uusimaa")
    expect(page.locator("#supporter-line")).to_have_text("Odotat tukihenkilöä.")
    expect(page.locator("#options-box")).to_be_visible()
    expect(page.locator("#leave-message")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"story-waiting-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"customer-waiting-{size}")

    # Joined: a system line and one status line; the tab title changes while
    # the customer looks at another tab.
    page.evaluate("() => { document.hasFocus = () => false; }")
    laura = supporter("uusimaa-staff")
    act(services.pick_contact, public_id=contact.public_id, supporter=laura)
    expect(page.locator("#messages li.story").last).to_have_text(
        re.compile("Laura liittyi keskusteluun"), timeout=TIMEOUT_MS
    )
    expect(page.locator("#supporter-line")).to_have_text("Keskustelet tukihenkilön Laura kanssa.")
    expect(page.locator("#waiting")).to_be_hidden()
    expect(page).to_have_title(re.compile(r"^\(1\) Laura liittyi"))

    # A message and a shared guide: the guide shows its title, summary and a link.
    act(
        post_message, contact_id=contact.pk, client_msg_id="s1", body="Hei! Autan.", supporter=laura
    )
    expect(page).to_have_title(re.compile(r"^\(2\) Uusi viesti: Laura"), timeout=TIMEOUT_MS)
    card = {
        "id": 1,
        "slug": "verkkopankki",
        "title": "Verkkopankin käyttö",
        "summary": "Näin kirjaudut ja maksat laskun.",
        "url": "/kb/verkkopankki/?lang=fi",
        "language": "fi",
    }
    act(
        post_message,
        contact_id=contact.pk,
        client_msg_id="s2",
        body=card["title"],
        supporter=laura,
        kind=Message.Kind.ARTICLE,
        payload={"article": card},
    )
    guide = page.locator("#messages .article-card").last
    expect(guide).to_contain_text("Verkkopankin käyttö", timeout=TIMEOUT_MS)
    expect(guide).to_contain_text("Näin kirjaudut ja maksat laskun.")
    assert guide.locator("a").get_attribute("href").endswith("/kb/verkkopankki/?lang=fi")
    page.evaluate("() => { delete document.hasFocus; }")
    page.screenshot(path=str(artifacts_dir / f"story-served-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"customer-served-{size}")

    # Transferred to a region: said where and what happens next; never
    # "in the queue" and "chatting with Laura" at once.
    act(
        services.transfer_contact, public_id=contact.public_id, supporter=laura, to_region_code="12"
    )
    expect(page.locator("#messages li.story").last).to_contain_text(
        "siirrettiin alueen Pohjois-Karjala tukihenkilöille", timeout=TIMEOUT_MS
    )
    expect(page.locator("#waiting")).to_be_visible()
    expect(page.locator("#queue-status")).to_contain_text("alueen Pohjois-Karjala")
    expect(page.locator("#supporter-line")).to_have_text("Odotat tukihenkilöä.")
    page.screenshot(path=str(artifacts_dir / f"story-transferred-{size}.png"), full_page=True)

    aino = supporter("pk-staff")
    act(services.pick_contact, public_id=contact.public_id, supporter=aino)
    expect(page.locator("#supporter-line")).to_have_text(
        "Keskustelet tukihenkilön Aino kanssa.", timeout=TIMEOUT_MS
    )

    # Escalated to Kansalaisneuvonta: what it is and what happens next.
    act(services.escalate_contact, public_id=contact.public_id, supporter=aino, note="Perukirja")
    expect(page.locator("#messages li.story").last).to_contain_text(
        "Kansalaisneuvontaan, joka on julkishallinnon maksuton", timeout=TIMEOUT_MS
    )
    expect(page.locator("#queue-status")).to_contain_text("Sinua auttaa Kansalaisneuvonta")

    minna = supporter("kn-agent")
    act(services.pick_contact, public_id=contact.public_id, supporter=minna)
    act(services.hold_contact, public_id=contact.public_id, supporter=minna)
    expect(page.locator("#messages li.story").last).to_contain_text(
        "Minna laittoi keskustelun hetkeksi pitoon", timeout=TIMEOUT_MS
    )
    expect(page.locator("#supporter-line")).to_contain_text("pitoon")
    act(services.resume_contact, public_id=contact.public_id, supporter=minna)
    expect(page.locator("#messages li.story").last).to_contain_text(
        "Minna palasi keskusteluun", timeout=TIMEOUT_MS
    )

    # Ended: the supporter line goes.
    act(services.end_contact, public_id=contact.public_id, supporter=minna, outcome="solved")
    expect(page.locator("#messages li.story").last).to_contain_text(
        "Keskustelu päättyi", timeout=TIMEOUT_MS
    )
    expect(page.locator("#supporter-line")).to_be_hidden()
    expect(page.locator("#ended")).to_be_visible()
    lines = story_lines(page)
    assert len(lines) == 8, lines  # joined, transferred, joined, escalated, joined, hold, back, end
    page.screenshot(path=str(artifacts_dir / f"story-ended-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"customer-ended-{size}")
    context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_lost_connection_and_pictures(server, chromium, artifacts_dir, size, tmp_path):
    from helpdesk.models import Attachment, Contact, Message
    from routing import services

    context = chromium.new_context(locale="fi-FI", viewport=SIZES[size], bypass_csp=True)
    page = context.new_page()
    start_chat(page, server.url, artifacts_dir)
    contact = Contact.objects.get()
    act(services.pick_contact, public_id=contact.public_id, supporter=supporter("uusimaa-staff"))
    expect(page.locator("#supporter-line")).to_contain_text("Laura", timeout=TIMEOUT_MS)

    # The connection drops: an announced banner, the message marked unsent.
    context.set_offline(True)
    page.evaluate("() => window.digitukiChat.socket.ws && window.digitukiChat.socket.ws.close()")
    banner = page.locator("#connection-status")
    expect(banner).to_contain_text("Yhteys katkesi", timeout=TIMEOUT_MS)
    assert banner.get_attribute("aria-live") in ("assertive", "polite")
    page.locator("#message-input").fill("Lähtikö tämä?")
    page.locator("#composer button[type=submit]").click()
    pending = page.locator("#messages li.pending.unsent")
    expect(pending).to_have_count(1)
    expect(pending.locator(".receipt")).to_have_text(re.compile("Ei vielä lähetetty"))
    page.screenshot(path=str(artifacts_dir / f"offline-{size}.png"), full_page=True)

    # Back online: sent once, the banner says so and goes.
    context.set_offline(False)
    expect(page.locator("#messages li.pending")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(banner).to_have_text(re.compile("Yhteys palasi|^$"), timeout=TIMEOUT_MS)
    assert Message.objects.filter(contact=contact, body="Lähtikö tämä?").count() == 1

    # A wrong file is refused with a clear message; a photo is sent without its GPS.
    page.set_input_files(
        "#attach-input",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"}],
    )
    expect(page.locator("#attach-status")).to_contain_text("Vain kuvia", timeout=TIMEOUT_MS)
    page.set_input_files(
        "#attach-input",
        files=[{"name": "kuva.jpg", "mimeType": "image/jpeg", "buffer": gps_jpeg()}],
    )
    thumb = page.locator("#messages li.customer img.attachment-thumb")
    expect(thumb).to_have_count(1, timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => { const i = document.querySelector('#messages img.attachment-thumb');"
        " return i && i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT_MS,
    )
    row = Attachment.objects.get(contact=contact)
    with row.file.open("rb") as handle:
        assert b"PhoneMaker" not in handle.read()
    page.screenshot(path=str(artifacts_dir / f"picture-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"customer-picture-{size}")
    context.close()


def test_supporter_sends_a_picture_and_a_pdf(server, chromium, artifacts_dir):
    from PIL import Image

    from helpdesk.models import Attachment
    from tests.browser.sign_in import sign_in

    staff = chromium.new_context(locale="fi-FI", viewport=SIZES["desktop"], bypass_csp=True)
    console = staff.new_page()
    sign_in(console, server.url, "uusimaa-staff")
    console.locator("#console-status").filter(has_text=re.compile(".+")).wait_for(
        timeout=TIMEOUT_MS
    )
    console.locator("#presence input[value=available]").check()

    customer = chromium.new_context(locale="fi-FI", viewport=SIZES["phone"], bypass_csp=True)
    page = customer.new_page()
    start_chat(page, server.url, artifacts_dir)
    offer = console.locator("#offers .offer").first
    offer.wait_for(timeout=TIMEOUT_MS)
    offer.locator("button.accept").click()
    panel = console.locator(".chat-panel:not([hidden])")
    panel.wait_for(timeout=TIMEOUT_MS)
    expect(page.locator("#supporter-line")).to_contain_text("Laura", timeout=TIMEOUT_MS)

    # The customer sends a screenshot: the console shows its thumbnail.
    out = io.BytesIO()
    Image.new("RGB", (200, 120), (240, 240, 240)).save(out, format="PNG")
    page.set_input_files(
        "#attach-input",
        files=[{"name": "ruutu.png", "mimeType": "image/png", "buffer": out.getvalue()}],
    )
    console.wait_for_function(
        "() => { const i = document.querySelector('.chat-panel li.kind-file img.attachment-thumb');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT_MS,
    )

    # The supporter sends a PDF: the customer gets a button that downloads it,
    # and the stored file no longer names its author.
    from tests.helpdesk.test_attachments import PDF_SECRETS, pdf_with_metadata

    pdf = pdf_with_metadata()
    panel.locator(".attach-form input[type=file]").set_input_files(
        files=[{"name": "ohje.pdf", "mimeType": "application/pdf", "buffer": pdf}]
    )
    expect(page.locator("#messages li.supporter .attachment-link")).to_have_text(
        "PDF-asiakirja", timeout=TIMEOUT_MS
    )
    assert set(Attachment.objects.values_list("kind", flat=True)) == {"image", "pdf"}
    with Attachment.objects.get(kind="pdf").file.open("rb") as handle:
        stored = handle.read()
    assert not [secret for secret in PDF_SECRETS if secret in stored]
    console.screenshot(path=str(artifacts_dir / "console-pictures-desktop.png"), full_page=True)
    page.screenshot(path=str(artifacts_dir / "customer-pdf-phone.png"), full_page=True)
    axe_ok(page, artifacts_dir, "customer-pdf-phone")
    staff.close()
    customer.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_story_comes_back_after_a_reload(server, chromium, artifacts_dir, size):
    from helpdesk.models import Contact
    from helpdesk.services.messages import post_message
    from routing import services

    context = chromium.new_context(locale="fi-FI", viewport=SIZES[size], bypass_csp=True)
    page = context.new_page()
    start_chat(page, server.url, artifacts_dir)
    contact = Contact.objects.get()
    laura = supporter("uusimaa-staff")
    act(services.pick_contact, public_id=contact.public_id, supporter=laura)
    expect(page.locator("#supporter-line")).to_contain_text("Laura", timeout=TIMEOUT_MS)
    act(
        post_message, contact_id=contact.pk, client_msg_id="s1", body="Hei! Autan.", supporter=laura
    )
    act(
        services.transfer_contact, public_id=contact.public_id, supporter=laura, to_region_code="12"
    )
    expect(page.locator("#messages li.story").last).to_contain_text(
        "siirrettiin alueen Pohjois-Karjala", timeout=TIMEOUT_MS
    )
    live = story_lines(page)

    # Mid-conversation, after the transfer: the same lines, in the same place.
    page.reload()
    expect(page.locator("#messages li.story")).to_have_count(2, timeout=TIMEOUT_MS)
    assert story_lines(page) == live
    items = page.locator("#messages > li").evaluate_all(
        "(lis) => lis.map((li) => li.classList.contains('story') ? 'story' : li.dataset.seq ?"
        " 'message' : 'other')"
    )
    assert items == ["story", "message", "story"], items  # joined, "Hei! Autan.", transferred
    assert "Laura liittyi keskusteluun" in live[0]
    expect(page.locator("#queue-status")).to_contain_text("alueen Pohjois-Karjala")
    page.screenshot(path=str(artifacts_dir / f"story-reloaded-{size}.png"), full_page=True)

    # The next supporter joins, holds and ends: a second reload keeps all of it.
    aino = supporter("pk-staff")
    act(services.pick_contact, public_id=contact.public_id, supporter=aino)
    act(services.hold_contact, public_id=contact.public_id, supporter=aino)
    act(services.resume_contact, public_id=contact.public_id, supporter=aino)
    act(services.end_contact, public_id=contact.public_id, supporter=aino, outcome="solved")
    expect(page.locator("#messages li.story")).to_have_count(6, timeout=TIMEOUT_MS)
    live = story_lines(page)
    page.reload()
    expect(page.locator("#messages li.story")).to_have_count(6, timeout=TIMEOUT_MS)
    assert story_lines(page) == live
    assert "Aino laittoi keskustelun hetkeksi pitoon" in live[3]
    expect(page.locator("#ended")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"story-reloaded-ended-{size}.png"), full_page=True)
    axe_ok(page, artifacts_dir, f"customer-reloaded-{size}")
    context.close()
