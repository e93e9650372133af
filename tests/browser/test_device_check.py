"""The device check in real Chromium with fake camera and microphone.

Chromium's fake devices send a moving test picture and a beeping tone. The
live server answers with its measuring peer; loopback only, on both sides
(WEBRTC_LOOPBACK_ONLY on the server, --allow-loopback-in-peer-connection in
the browser, which otherwise leaves 127.0.0.1 out of its candidates).
"""

import json
import re

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


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
def device_check_server(asgi_servers):
    return asgi_servers(
        1,
        WEBRTC_LOOPBACK_ONLY="1",
        DEVICE_CHECK_DURATION_S="3",
        DEVICE_CHECK_RATE_LIMIT="100/minute",
    )[0]


@pytest.mark.parametrize("locale", ["en-GB", "fi-FI"])
def test_customer_runs_the_device_check_and_sees_camera_and_microphone(
    device_check_server, media_chromium, artifacts_dir, locale
):
    context = media_chromium.new_context(locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{device_check_server.url}/")
    page.locator("a.device-check-link, .device-check-link a").first.click()
    page.wait_for_url(re.compile(r"/device-check/$"), timeout=TIMEOUT_MS)
    page.locator("#dc-start").click()
    result = page.locator("#dc-result")
    result.wait_for(state="visible", timeout=TIMEOUT_MS)
    lines = page.locator("#dc-lines li").all_inner_texts()
    page.screenshot(path=str(artifacts_dir / f"device-check-{locale}.png"), full_page=True)
    report = json.loads(page.locator("#device-check").get_attribute("data-report"))
    assert report["video"]["width"] >= 320 and report["video"]["frames"] > 0, report
    assert report["audio"]["frames"] > 0 and report["audio"]["peak_dbfs"] > -60, report
    assert report["connection"]["rtt_ms"] is not None, report
    camera_line = {"en-GB": "Camera works", "fi-FI": "Kamera toimii"}[locale]
    microphone_line = {"en-GB": "Microphone: we hear you", "fi-FI": "Mikrofoni: kuulemme"}[locale]
    size = f"{report['video']['width']}×{report['video']['height']}"
    assert any(line.startswith(camera_line) and size in line for line in lines), lines
    assert any(line.startswith(microphone_line) for line in lines), lines
    level = page.locator("#dc-level-text").inner_text()
    assert re.search(r"-?\d+ dB", level), level
    # The page closes the peer and offers the check again a moment after the report.
    page.wait_for_selector("#dc-start:enabled", timeout=TIMEOUT_MS)
    assert errors == []
    context.close()


def test_refused_permission_is_explained_before_anything_is_sent(device_check_server):
    # Without --use-fake-ui-for-media-stream nobody clicks "Allow": refused.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=CHROMIUM_ARGS + ["--use-fake-device-for-media-stream"],
        )
        try:
            page = browser.new_context(locale="en-GB").new_page()
            posts: list[str] = []
            page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
            page.goto(f"{device_check_server.url}/device-check/")
            page.locator("#dc-start").click()
            advice = page.locator("#dc-advice-box")
            advice.wait_for(state="visible", timeout=TIMEOUT_MS)
            assert "did not allow" in page.locator("#dc-status").inner_text()
            assert "Allow" in advice.inner_text()
            assert posts == [] and page.locator("#dc-result").is_hidden()
            assert page.locator("#dc-start").is_enabled()
        finally:
            browser.close()


def test_a_busy_worker_asks_to_try_again_in_a_moment(asgi_servers, media_chromium):
    server = asgi_servers(1, WEBRTC_LOOPBACK_ONLY="1", DEVICE_CHECK_MAX_CONCURRENT="0")[0]
    page = media_chromium.new_context(locale="sv-SE").new_page()
    page.goto(f"{server.url}/device-check/")
    page.locator("#dc-start").click()
    status = page.locator("#dc-status")
    status.filter(has_text="upptagen").wait_for(timeout=TIMEOUT_MS)
    assert "Försök igen om en stund" in status.inner_text()
    assert page.locator("#dc-start").is_enabled()
