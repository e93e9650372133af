"""The device check's server peer, measured against aiortc peers in this process.

A synthetic 640×480 camera at 15 fps and a sine tone of known level go to the
server peer; its report must say what was sent. Every closing path must leave
no live check behind; the cap answers 503 busy; bad offers answer 400.
"""

from __future__ import annotations

import asyncio
import json
import math
import random

import pytest
from django.test import AsyncClient

from realtime.video import device_check
from realtime.video.device_check import (
    Busy,
    CheckParams,
    DeviceCheckLifespan,
    assess,
    check_offer,
    registry,
)
from tests.realtime.device_check_peers import CheckClient

pytestmark = pytest.mark.timeout(60)

URL = "/api/device-check/"
# Long enough that only the path under test can end the check.
LONG = CheckParams(duration_s=30, timeout_s=60)


@pytest.fixture(autouse=True)
def loopback_checks(settings):
    settings.WEBRTC_LOOPBACK_ONLY = True
    settings.DEVICE_CHECK_DURATION_S = 2.0
    settings.DEVICE_CHECK_TIMEOUT_S = 20.0
    settings.DEVICE_CHECK_MAX_CONCURRENT = 8
    settings.DEVICE_CHECK_RATE_LIMIT = "1000/minute"
    settings.STUN_URL = settings.TURN_URL = ""
    device_check.use_loopback_only()  # the client peers too
    yield
    assert len(registry) == 0, "a test left a live check behind"


async def until(condition) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - polls aiortc state that has no event
            await asyncio.sleep(0.05)


async def connected_check(client: CheckClient, params: CheckParams | None = None):
    check = await registry.start(offer_sdp=await client.offer(), params=params)
    await client.accept(check.answer_sdp)
    return check


def candidate_addresses(sdp: str) -> set[str]:
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


async def test_report_has_the_resolution_frame_rate_and_level_that_were_sent():
    client = CheckClient(amplitude=0.1)
    check = await connected_check(client)
    try:
        report = await asyncio.wait_for(client.report, 20)
    finally:
        client.channel.send(json.dumps({"type": "done"}))
        await asyncio.wait_for(check.closed.wait(), 10)
        await client.close()
    video, audio, connection = report["video"], report["audio"], report["connection"]
    assert (video["width"], video["height"]) == (640, 480)
    assert 12.0 <= video["fps"] <= 18.0, video
    assert 0 < video["frames"] <= client.camera.sent
    # A sine of amplitude 0.1: RMS 0.1/√2 = -23.0 dBFS, peak -20.0 dBFS (Opus in between).
    expected_rms = 20 * math.log10(0.1 / math.sqrt(2))
    assert abs(audio["rms_dbfs"] - expected_rms) <= 2.0, audio
    assert abs(audio["peak_dbfs"] - (-20.0)) <= 2.0, audio
    assert audio["frames"] > 50
    # Loopback on a busy shared machine: the event loops' delays are in the RTT.
    assert connection["rtt_ms"] is not None and connection["rtt_ms"] < 400, report
    assert connection["pings"] >= 3 and client.pings >= connection["pings"], report
    assert connection["packets_received"] > 0 and connection["loss_pct"] <= 2.0, report
    verdict = report["verdict"]
    assert (verdict["camera"], verdict["microphone"]) == ("ok", "ok"), report
    assert verdict["connection"] in {"good", "fair"}, report
    assert check.close_reason == "done"


async def test_a_muted_microphone_and_no_camera_are_reported_as_such():
    client = CheckClient(video=False, amplitude=0.0)
    check = await connected_check(client)
    try:
        report = await asyncio.wait_for(client.report, 20)
    finally:
        await client.close()
        await asyncio.wait_for(check.closed.wait(), 10)
    assert report["video"] is None
    assert report["audio"]["peak_dbfs"] == -100.0
    assert report["verdict"]["camera"] == "none"
    assert report["verdict"]["microphone"] == "silent"


async def test_garbage_on_the_data_channel_is_ignored():
    client = CheckClient(video=False)
    check = await connected_check(client)
    await until(lambda: client.channel.readyState == "open")
    for junk in ("not json", "[" * 1000, "[1, 2]", '{"type": "pong", "id": "x"}', b"\x00\xff"):
        client.channel.send(junk)
    client.channel.send("x" * 5000)
    report = await asyncio.wait_for(client.report, 20)
    assert report["verdict"]["microphone"] == "ok" and not check.closed.is_set()
    await client.close()
    await asyncio.wait_for(check.closed.wait(), 10)


async def test_the_answer_carries_loopback_candidates_only():
    client = CheckClient()
    check = await registry.start(offer_sdp=await client.offer())
    try:
        assert candidate_addresses(check.answer_sdp) == {"127.0.0.1"}
        assert "a=recvonly" in check.answer_sdp
    finally:
        await check.close("test")
        await client.close()


# --- every closing path leaves nothing behind ----------------------------------


async def test_the_check_closes_itself_after_reporting():
    client = CheckClient()
    check = await connected_check(client)
    await asyncio.wait_for(client.report, 20)
    # The client neither says done nor closes: the grace period ends it.
    await asyncio.wait_for(check.closed.wait(), 10)
    assert check.close_reason == "reported" and len(registry) == 0
    assert check.pc.connectionState == "closed"
    await client.close()


async def test_client_closing_the_peer_closes_the_check():
    client = CheckClient()
    check = await connected_check(client, LONG)
    await until(lambda: check.channel is not None)
    await client.close()
    await asyncio.wait_for(check.closed.wait(), 10)
    assert check.close_reason in {"channel", "connection-closed", "connection-failed"}
    assert len(registry) == 0 and not check._tasks


async def test_closing_the_data_channel_closes_the_check():
    client = CheckClient()
    check = await connected_check(client, LONG)
    await until(lambda: check.channel is not None and client.channel.readyState == "open")
    client.channel.close()
    await asyncio.wait_for(check.closed.wait(), 10)
    assert check.close_reason == "channel" and len(registry) == 0
    await client.close()


async def test_losing_ice_closes_the_check():
    client = CheckClient()
    check = await connected_check(client, LONG)
    await until(lambda: check.pc.connectionState == "connected")
    # What aioice does when consent freshness fails (RFC 7675): it closes the
    # ICE connection; aiortc then fails and shuts the peer down.
    ice = check.pc.getTransceivers()[0].receiver.transport.transport
    await ice._connection.close()
    await asyncio.wait_for(check.closed.wait(), 10)
    assert check.close_reason in {"connection-failed", "connection-closed"}
    assert len(registry) == 0
    await client.close()


async def test_connection_state_failed_closes_the_check():
    client = CheckClient()
    check = await connected_check(client, LONG)
    await until(lambda: check.pc.connectionState == "connected")
    check.pc._RTCPeerConnection__connectionState = "failed"
    check.pc.emit("connectionstatechange")
    await asyncio.wait_for(check.closed.wait(), 10)
    assert check.close_reason == "connection-failed" and len(registry) == 0
    await client.close()


async def test_a_client_that_never_connects_is_closed_by_the_timeout():
    client = CheckClient()
    check = await registry.start(
        offer_sdp=await client.offer(), params=CheckParams(duration_s=2, timeout_s=0.5)
    )
    await asyncio.wait_for(check.closed.wait(), 10)
    assert check.close_reason == "timeout" and len(registry) == 0
    await client.close()


async def test_a_check_running_past_its_timeout_is_closed():
    client = CheckClient()
    check = await connected_check(client, CheckParams(duration_s=30, timeout_s=1.5))
    await asyncio.wait_for(check.closed.wait(), 10)
    assert check.close_reason == "timeout" and not client.report.done()
    await client.close()


async def test_a_request_cancelled_while_answering_leaves_no_check():
    client = CheckClient()
    task = asyncio.create_task(registry.start(offer_sdp=await client.offer()))
    await asyncio.sleep(0)  # the task runs up to its first await: negotiating
    assert len(registry) == 1 and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(registry) == 0
    await client.close()


async def test_worker_shutdown_closes_every_live_check():
    clients = [CheckClient(), CheckClient()]
    checks = [await connected_check(c, LONG) for c in clients]
    await until(lambda: all(c.channel is not None for c in checks))
    assert len(registry) == 2
    await DeviceCheckLifespan().stop()
    assert len(registry) == 0
    assert {c.close_reason for c in checks} == {"shutdown"}
    assert all(c.pc.connectionState == "closed" for c in checks)
    for client in clients:
        await client.close()


async def test_the_cap_refuses_a_check_beyond_it(settings):
    settings.DEVICE_CHECK_MAX_CONCURRENT = 1
    first, second = CheckClient(), CheckClient()
    check = await registry.start(offer_sdp=await first.offer())
    try:
        with pytest.raises(Busy):
            await registry.start(offer_sdp=await second.offer())
        assert len(registry) == 1
    finally:
        await check.close("test")
        await first.close()
        await second.close()


# --- the endpoint -----------------------------------------------------------


class AddressedClient(AsyncClient):
    """The ASGI request takes REMOTE_ADDR from the scope's client; extras become headers."""

    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def _base_scope(self, **request):
        return {**super()._base_scope(**request), "client": [self.address, 40000]}


async def post(body, *, content_type="application/json", remote="127.0.0.1"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return await AddressedClient(remote).post(URL, data, content_type=content_type)


async def test_the_endpoint_answers_an_offer():
    client = CheckClient()
    response = await post({"type": "offer", "sdp": await client.offer()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "answer" and body["sdp"].startswith("v=0")
    assert body["duration_s"] == 2.0 and response["Cache-Control"] == "no-store"
    await client.accept(body["sdp"])
    report = await asyncio.wait_for(client.report, 20)
    assert report["video"]["width"] == 640
    await client.close()
    await until(lambda: len(registry) == 0)


async def test_beyond_the_cap_the_endpoint_answers_503_busy(settings):
    settings.DEVICE_CHECK_MAX_CONCURRENT = 1
    first, second = CheckClient(), CheckClient()
    ok = await post({"type": "offer", "sdp": await first.offer()})
    busy = await post({"type": "offer", "sdp": await second.offer()})
    await registry.close_all("test")
    await first.close()
    await second.close()
    assert ok.status_code == 200
    assert busy.status_code == 503 and busy["Retry-After"] == "5"
    assert busy.json()["error"] == "busy"
    assert "try again in a moment" in busy.json()["detail"]


VALID_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("not json", "application/json", "not valid JSON"),
        ("[" * 100_000, "application/json", "too long"),
        ("[" * 5_000 + "]" * 5_000, "application/json", "not valid JSON"),
        ({"type": "offer", "sdp": "v=0"}, "text/plain", "Content-Type"),
        ({"type": "answer", "sdp": "v=0"}, "application/json", "offer"),
        ({"type": "offer"}, "application/json", "non-empty SDP"),
        ({"type": "offer", "sdp": 42}, "application/json", "non-empty SDP"),
        ({"type": "offer", "sdp": "hello"}, "application/json", "v=0"),
        ({"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 20_000}, "application/json", "too long"),
        ({"type": "offer", "sdp": VALID_HEAD + "a=\x00\r\n"}, "application/json", "characters"),
        ({"type": "offer", "sdp": VALID_HEAD + "a=\ud800\r\n"}, "application/json", "characters"),
        ({"type": "offer", "sdp": VALID_HEAD}, "application/json", "data channel"),
        (
            {"type": "offer", "sdp": VALID_HEAD + "m=text 9 UDP 0\r\n"},
            "application/json",
            "Unsupported",
        ),
        (
            {
                "type": "offer",
                "sdp": VALID_HEAD + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
            },
            "application/json",
            "could not be used",
        ),
    ],
)
async def test_malformed_offers_get_400_invalid(body, content_type, message):
    if isinstance(body, dict):
        body = json.dumps(body)
    response = await post(body, content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert message in response.json()["detail"]


async def test_mangled_real_offers_never_give_a_500():
    client = CheckClient()
    offer = await client.offer()
    await client.close()
    rng = random.Random(17)
    lines = offer.split("\r\n")
    for _ in range(25):
        mangled = list(lines)
        for _ in range(3):
            i = rng.randrange(1, len(mangled))
            mangled[i] = mangled[i][: rng.randrange(0, len(mangled[i]) + 1)]
        response = await post({"type": "offer", "sdp": "\r\n".join(mangled)})
        assert response.status_code in (200, 400), response.content
        await registry.close_all("test")


async def test_the_endpoint_is_rate_limited_per_address(settings):
    settings.DEVICE_CHECK_RATE_LIMIT = "2/minute"

    def random_address() -> str:  # runs on one Redis must not share a window
        return f"127.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"

    remote = random_address()
    statuses = [(await post("not json", remote=remote)).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    limited = await post("not json", remote=remote)
    assert limited.json()["error"] == "rate_limited" and int(limited["Retry-After"]) >= 1
    other = await post("not json", remote=random_address())
    assert other.status_code == 400


async def test_get_is_not_allowed():
    response = await AsyncClient().get(URL)
    assert response.status_code == 405


# --- pure parts ----------------------------------------------------------------


def test_loopback_mode_strips_other_candidates():
    sdp = (
        VALID_HEAD + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n"
        "a=candidate:2 1 udp 1 192.0.2.9 5000 typ host\r\n"
        "a=candidate:3 1 udp 1 abcd.local 5000 typ host\r\n"
    )
    assert candidate_addresses(check_offer(sdp, loopback_only=True)) == {"127.0.0.1"}
    assert len(candidate_addresses(check_offer(sdp))) == 3


def _report(*, video=None, audio=None, rtt=40.0, loss=0.0):
    return {"video": video, "audio": audio, "connection": {"rtt_ms": rtt, "loss_pct": loss}}


@pytest.mark.parametrize(
    ("report", "verdict"),
    [
        (_report(), {"camera": "none", "microphone": "none", "connection": "good"}),
        (
            _report(video={"frames": 0, "fps": 0.0}, audio={"frames": 0, "peak_dbfs": -100.0}),
            {"camera": "no_frames", "microphone": "silent", "connection": "good"},
        ),
        (
            _report(
                video={"frames": 9, "fps": 2.0},
                audio={"frames": 99, "peak_dbfs": -55.0, "loudest_dbfs": -58.0},
                rtt=300.0,
            ),
            {"camera": "slow", "microphone": "quiet", "connection": "fair"},
        ),
        (
            _report(
                video={"frames": 75, "fps": 15.0},
                audio={"frames": 99, "peak_dbfs": -6.0, "loudest_dbfs": -12.0},
                loss=20.0,
            ),
            {"camera": "ok", "microphone": "ok", "connection": "poor"},
        ),
        (
            _report(rtt=None, loss=None),
            {"camera": "none", "microphone": "none", "connection": "unknown"},
        ),
    ],
)
def test_assess_turns_measurements_into_verdicts(report, verdict):
    assert assess(report) == verdict


# --- the page --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "heading"),
    [
        ("fi", "Tarkista kamera ja mikrofoni"),
        ("sv", "Kontrollera kameran och mikrofonen"),
        ("en", "Check your camera and microphone"),
    ],
)
def test_the_page_has_its_texts_and_no_inline_script(client, language, heading):
    import re
    from pathlib import Path

    response = client.get("/device-check/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    html = response.content.decode()
    assert heading in html
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'type="application/json"' in tag or "src=" in tag, tag
    assert not re.search(r"\son[a-z]+=", html.split("</header>", 1)[1])
    strings = json.loads(re.search(r'id="ui-strings">(.*?)</script>', html, re.S).group(1))
    script = (Path(__file__).parents[2] / "helpdesk/static/helpdesk/device_check.js").read_text()
    used = set(re.findall(r"\bS\.(\w+)", script))
    assert used <= set(strings), used - set(strings)
    if language != "en":
        assert (
            strings["cameraOk"] != "Camera works: %(width)s×%(height)s, %(fps)s frames per second."
        )
    assert "%(width)s" in strings["cameraOk"] and "%(rtt)s" in strings["connGood"]
    assert (
        json.loads(re.search(r'id="dc-ice-servers"[^>]*>(.*?)</script>', html, re.S).group(1)) == []
    )


def test_configured_ice_servers_reach_peer_and_page_but_the_peer_takes_no_turn(client, settings):
    import re

    settings.STUN_URL = "stun:stun.digituki.example:3478"
    settings.TURN_URL = "turn:turn.digituki.example:3478?transport=udp"
    settings.TURN_SECRET = "test-secret"
    servers = device_check.ice_configuration().iceServers
    assert [s.urls for s in servers] == [["stun:stun.digituki.example:3478"]]
    response = client.get("/device-check/", HTTP_ACCEPT_LANGUAGE="en")
    assert response["Cache-Control"] == "no-store"
    ice = re.search(r'id="dc-ice-servers"[^>]*>(.*?)</script>', response.content.decode(), re.S)
    stun, turn = json.loads(ice.group(1))
    assert stun == {"urls": ["stun:stun.digituki.example:3478"]}
    assert turn["urls"] == [settings.TURN_URL] and turn["credential"]
    assert turn["username"].split(":")[1].startswith("device-check-")


def test_start_and_chat_pages_link_to_the_check(client, reference_data):
    for url in ("/", "/chat/"):
        assert 'href="/device-check/"' in client.get(url).content.decode(), url
