"""Video and screen sharing in real Chromium with fake media devices.

A customer starts a video contact from the start page; a volunteer (so
relay-only, through the session's throwaway coturn) accepts it; video starts,
the customer turns the camera on, then shares the screen; the supporter's
page receives frames of both. Screenshots of both sides go to test-artifacts.
"""

import re

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.sign_in import sign_in
from tests.conftest import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    # The TURN relay and the pages are on loopback in tests.
    "--allow-loopback-in-peer-connection",
]


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def media_chromium():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + MEDIA_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_network(reference_data):
    from helpdesk.demo import load_demo_network

    load_demo_network(always_open=True)


# Keeps every rtc.* frame a page receives, for the test to read (no page code changes).
RECORD_FRAMES = """
window.rtcFrames = [];
document.addEventListener("helpdesk:frame", (event) => {
  const frame = event.detail.frame;
  const ref = typeof frame.ref === "string" ? frame.ref : "";
  if (frame.type.startsWith("rtc.") || ref.startsWith("rtc.")) window.rtcFrames.push(frame);
});
"""


def check_relay_only(page, turn_url: str) -> None:
    """What the page was given and told: the relay policy, our TURN only, relay candidates only."""
    frames = page.evaluate("() => window.rtcFrames")
    # A page that offered a host or server-reflexive candidate would have got not_allowed.
    assert not [f for f in frames if f["type"] == "error"], frames
    starts = [f for f in frames if f["type"] == "rtc.start" and f.get("here")]
    assert starts and all(f["ice_transport_policy"] == "relay" for f in starts)
    assert all([s["urls"] for s in f["ice_servers"]] == [[turn_url]] for f in starts)
    candidates = [f["candidate"]["candidate"] for f in frames if f["type"] == "rtc.candidate"]
    sdps = [f["sdp"] for f in frames if f["type"] in ("rtc.offer", "rtc.answer")]
    assert candidates or any("a=candidate" in sdp for sdp in sdps)
    assert all(" typ relay" in line for line in candidates), candidates
    for sdp in sdps:
        assert " typ host" not in sdp and " typ srflx" not in sdp


def receiving(page, selector: str) -> bool:
    """The <video> shows decoded frames: a size, and its frame count grows."""
    return page.wait_for_function(
        """async (selector) => {
            const video = document.querySelector(selector);
            if (!video || !video.srcObject || video.videoWidth === 0) return false;
            const before = video.getVideoPlaybackQuality().totalVideoFrames;
            await new Promise((resolve) => setTimeout(resolve, 500));
            return video.getVideoPlaybackQuality().totalVideoFrames > before;
        }""",
        arg=selector,
        timeout=TIMEOUT_MS,
    )


def test_customer_and_volunteer_video_then_screen_sharing(
    asgi_servers, media_chromium, coturn, artifacts_dir, open_network
):
    from helpdesk.models import Contact, ContactEvent

    (server,) = asgi_servers(1, STUN_URL="", TURN_URL=coturn.url, TURN_SECRET=coturn.secret)
    supporter = media_chromium.new_context(locale="fi-FI", viewport={"width": 1400, "height": 1000})
    supporter.add_init_script(RECORD_FRAMES)
    console = supporter.new_page()
    sign_in(console, server.url, "uusimaa-volunteer")
    console.locator("#console-status").filter(has_text=re.compile(".+")).wait_for(
        timeout=TIMEOUT_MS
    )
    console.locator("#presence input[value=available]").check()

    customer = media_chromium.new_context(locale="fi-FI", viewport={"width": 1000, "height": 1000})
    customer.add_init_script(RECORD_FRAMES)
    page = customer.new_page()
    page.goto(f"{server.url}/")
    page.locator("#municipality-input").fill("Helsin")
    page.get_by_role("option", name=re.compile(r"^Helsinki")).wait_for(timeout=TIMEOUT_MS)
    page.locator("#municipality-input").press("ArrowDown")
    page.locator("#municipality-input").press("Enter")
    page.locator("#channel-choice input[value=video]").check()
    page.locator("#consent").check()
    page.locator("#start-submit").click()
    page.wait_for_url(re.compile(r"/chat/$"), timeout=TIMEOUT_MS)
    contact = Contact.objects.get()
    assert contact.channel == "video"

    console.locator("#offers .offer button.accept").first.click(timeout=TIMEOUT_MS)
    panel = console.locator(".chat-panel:not([hidden])")
    panel.wait_for(timeout=TIMEOUT_MS)
    page.locator("#video-area").wait_for(state="visible", timeout=TIMEOUT_MS)
    # The privacy promise is on the page.
    assert re.search("tallenneta", page.locator("#video-area .video-note").inner_text())

    # The supporter proposes video; the customer accepts; the camera stays off until turned on.
    panel.locator(".video-start").click()
    page.locator("#video-prompt").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.locator("#video-accept").click()
    panel.locator(".video-hangup").wait_for(state="visible", timeout=TIMEOUT_MS)
    receiving(page, "#video-remote")  # the supporter's camera reaches the customer
    assert page.locator("#video-local").is_hidden()
    page.locator("#video-camera").click()
    receiving(console, ".chat-panel:not([hidden]) .video-remote")

    # The customer shares the screen; the supporter accepts and sees it.
    page.locator("#video-screen").click()
    panel.locator(".video-prompt").wait_for(state="visible", timeout=TIMEOUT_MS)
    panel.locator(".video-accept").click()
    receiving(console, ".chat-panel:not([hidden]) .video-remote-screen")
    page.locator("#video-screen-stop").wait_for(state="visible", timeout=TIMEOUT_MS)
    console.screenshot(path=str(artifacts_dir / "video-console-screen.png"), full_page=True)
    page.screenshot(path=str(artifacts_dir / "video-customer-screen.png"), full_page=True)

    # A volunteer serves: each side was given only the relay and saw only relay candidates.
    check_relay_only(page, coturn.url)
    check_relay_only(console, coturn.url)

    # The customer stops sharing, then ends the video.
    page.locator("#video-screen-stop").click()
    panel.locator(".video-remote-screen").wait_for(state="hidden", timeout=TIMEOUT_MS)
    page.locator("#video-hangup").click()
    panel.locator(".video-start").wait_for(state="visible", timeout=TIMEOUT_MS)
    kinds = list(
        ContactEvent.objects.filter(contact=contact, kind__regex=r"^(video|screen)\.")
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == [
        "video.proposed",
        "video.started",
        "screen.proposed",
        "screen.started",
        "screen.stopped",
        "video.stopped",
    ]
    started = ContactEvent.objects.get(contact=contact, kind="video.started")
    assert started.data["relay_only"] is True
    customer.close()
    supporter.close()


PHONE = {"width": 390, "height": 844}


def in_viewport(page, selector: str) -> bool:
    """The element is on screen in full, without the customer scrolling."""
    return page.evaluate(
        """(selector) => {
            const box = document.querySelector(selector).getBoundingClientRect();
            return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight
                && box.left >= 0 && box.right <= window.innerWidth;
        }""",
        selector,
    )


def no_sideways_scroll(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_on_a_phone_the_video_leaves_the_conversation_in_sight(
    asgi_servers, media_chromium, coturn, artifacts_dir, open_network
):
    (server,) = asgi_servers(1, STUN_URL="", TURN_URL=coturn.url, TURN_SECRET=coturn.secret)
    supporter = media_chromium.new_context(locale="fi-FI", viewport=PHONE)
    console = supporter.new_page()
    sign_in(console, server.url, "uusimaa-volunteer")
    console.locator("#console-status").filter(has_text=re.compile(".+")).wait_for(
        timeout=TIMEOUT_MS
    )
    console.locator("#presence input[value=available]").check()

    customer = media_chromium.new_context(locale="fi-FI", viewport=PHONE)
    page = customer.new_page()
    page.goto(f"{server.url}/")
    page.locator("#municipality-input").fill("Helsin")
    page.get_by_role("option", name=re.compile(r"^Helsinki")).wait_for(timeout=TIMEOUT_MS)
    page.locator("#municipality-input").press("ArrowDown")
    page.locator("#municipality-input").press("Enter")
    page.locator("#channel-choice input[value=video]").check()
    page.locator("#consent").check()
    page.locator("#start-submit").click()
    page.wait_for_url(re.compile(r"/chat/$"), timeout=TIMEOUT_MS)

    console.locator("#offers .offer button.accept").first.click(timeout=TIMEOUT_MS)
    panel = console.locator(".chat-panel:not([hidden])")
    panel.wait_for(timeout=TIMEOUT_MS)
    panel.locator(".composer textarea").fill("Hei! Aloitetaan video.")
    panel.locator(".composer textarea").press("Enter")
    page.locator("#messages li.supporter").first.wait_for(timeout=TIMEOUT_MS)

    # Video on, camera on: the supporter's picture, the latest messages and
    # the message box are all on the phone's screen at once.
    panel.locator(".video-start").click()
    page.locator("#video-prompt").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.locator("#video-accept").click()
    receiving(page, "#video-remote")
    page.locator("#video-camera").click()
    receiving(console, ".chat-panel:not([hidden]) .video-remote")
    page.locator("#message-input").fill("Näen sinut!")
    page.locator("#composer button[type=submit]").click()
    panel.locator(".messages li").filter(has_text="Näen sinut!").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)  # the last message scrolls into view
    for selector in ("#message-input", "#composer button[type=submit]", "#video-remote"):
        assert in_viewport(page, selector), selector
    assert page.locator("#messages li.customer").last.is_visible()
    # The part of the message list neither the video strip nor the box covers,
    # and the text of the latest message in it.
    room = page.evaluate(
        """() => { const box = (s) => document.querySelector(s).getBoundingClientRect();
            const list = box('#messages'), video = box('#video-area'), form = box('#composer');
            const last = [...document.querySelectorAll('#messages li .body')].pop()
              .getBoundingClientRect();
            const top = Math.max(list.top, video.bottom, 0);
            const bottom = Math.min(list.bottom, form.top, window.innerHeight);
            const lastShown = last.top >= top - 1 && last.bottom <= bottom + 1;
            return {room: bottom - top, lastShown};
        }"""
    )
    page.screenshot(path=str(artifacts_dir / "video-customer-phone.png"))
    assert room["room"] >= 150 and room["lastShown"], room
    assert no_sideways_scroll(page)

    # Scrolled up to read older messages, the video and the box stay in sight.
    page.mouse.wheel(0, -2000)
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(200)
    assert in_viewport(page, "#message-input")

    # The picture folds away and comes back; the call goes on meanwhile.
    fold = page.locator("#video-fold")
    assert fold.get_attribute("aria-expanded") == "true"
    fold.click()
    assert page.locator("#video-remote").is_hidden()
    assert fold.get_attribute("aria-expanded") == "false"
    assert in_viewport(page, "#message-input")
    page.screenshot(path=str(artifacts_dir / "video-customer-phone-folded.png"))
    fold.click()
    receiving(page, "#video-remote")

    # The console on a phone: the video sits below the messages and the message box.
    console.locator(".chat-panel:not([hidden]) .composer textarea").scroll_into_view_if_needed()
    boxes = console.evaluate(
        """() => { const p = document.querySelector('.chat-panel:not([hidden])');
            const top = (s) => p.querySelector(s).getBoundingClientRect().top;
            return {messages: top('.messages'), composer: top('.composer'),
                    video: top('.video-area')}; }"""
    )
    assert boxes["messages"] < boxes["composer"] < boxes["video"], boxes
    assert no_sideways_scroll(console)
    console.screenshot(path=str(artifacts_dir / "video-console-phone.png"), full_page=True)
    customer.close()
    supporter.close()
