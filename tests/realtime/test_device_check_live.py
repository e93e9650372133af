"""The device check against a live worker: stopping the worker closes its checks.

uvicorn runs the lifespan shutdown on SIGTERM; the device-check hook must
close every live peer then, so that the customer's browser sees the call end
at once instead of waiting for ICE to time out.
"""

import asyncio
import json
import signal
import time
import urllib.request

import pytest

from realtime.video.device_check import use_loopback_only
from tests.realtime.device_check_peers import CheckClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def post_offer(base_url: str, sdp: str) -> dict:
    body = json.dumps({"type": "offer", "sdp": sdp}).encode()
    request = urllib.request.Request(
        f"{base_url}/api/device-check/", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


async def wait_for(condition, seconds: float) -> float:
    started = time.monotonic()
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polls aiortc state that has no event
            await asyncio.sleep(0.05)
    return time.monotonic() - started


def test_stopping_the_worker_closes_a_running_check(asgi_servers):
    server = asgi_servers(
        1,
        WEBRTC_LOOPBACK_ONLY="1",
        DEVICE_CHECK_DURATION_S="60",
        DEVICE_CHECK_TIMEOUT_S="120",
        DEVICE_CHECK_RATE_LIMIT="100/minute",
    )[0]

    async def scenario() -> float:
        use_loopback_only()
        client = CheckClient()
        try:
            answer = await asyncio.to_thread(post_offer, server.url, await client.offer())
            await client.accept(answer["sdp"])
            await wait_for(lambda: client.pings > 0, 15)
            server.process.send_signal(signal.SIGTERM)
            return await wait_for(lambda: client.channel.readyState == "closed", 10)
        finally:
            await client.close()

    closed_after = asyncio.run(scenario())
    server.process.wait(timeout=15)
    log = server.log_path.read_text()
    assert "closing 1 device checks (shutdown)" in log, log[-2000:]
    assert "closed (shutdown)" in log, log[-2000:]
    assert closed_after < 10
