"""The embedded default of `make serve` (SQLite, in-memory channel layer), end to end.

The rest of the suite runs on PostgreSQL. This sets up a fresh embedded
database as scripts/serve.sh does, serves it, and has a customer open a chat
and a demo supporter open the console over real sockets, so that a break that
only SQLite shows (a UUID stored as text, say) fails here.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from tests.conftest import ROOT, free_port

DEMO_PASSWORD = "digituki-demo-2026"


def _env(var_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            "HELPDESK_VAR_DIR": str(var_dir),
            "DEBUG": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _manage(env, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def _wait_ready(url: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited: {log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the embedded default did not answer within 40 s")


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Origin": url.split("/api/")[0]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _console_cookie(url: str, username: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/console/login/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"csrfmiddlewaretoken": csrf, "username": username, "password": DEMO_PASSWORD}
    request = urllib.request.Request(
        f"{url}/console/login/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": f"{url}/console/login/"},
    )
    response = opener.open(request, timeout=10)
    assert response.url.endswith("/console/"), response.url
    return "; ".join(f"{c.name}={c.value}" for c in jar)


async def _frames_until(ws, kind: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] != "error", frame
        if frame["type"] == kind:
            return frame


async def _chat(url: str, token: str, cookie: str) -> tuple[dict, dict, dict]:
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://")
    async with connect(f"{ws_url}/ws/contact/?token={token}", origin=url) as customer:
        await customer.send(json.dumps({"type": "hello", "last_seq": 0}))
        welcome = await _frames_until(customer, "welcome")
        await customer.send(
            json.dumps({"type": "message.send", "client_msg_id": "m1", "body": "Hei"})
        )
        ack = await _frames_until(customer, "message.ack")
    async with connect(
        f"{ws_url}/ws/console/", origin=url, additional_headers={"Cookie": cookie}
    ) as console:
        await console.send(json.dumps({"type": "hello", "contacts": {}}))
        console_welcome = await _frames_until(console, "welcome")
    return welcome, ack, console_welcome


def test_a_customer_and_a_supporter_use_the_embedded_default(tmp_path):
    env = _env(tmp_path)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "load_reference_data")
    _manage(env, "load_demo_network", "--always-open", "--quiet")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "helpdesk.asgi:application"]
            + ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "on"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, server, log)
        created = _post_json(
            f"{url}/api/contacts/",
            {"channel": "chat", "language": "fi", "municipality": "167", "consent": True},
        )
        cookie = _console_cookie(url, "pk-staff")
        welcome, ack, console_welcome = asyncio.run(_chat(url, created["token"], cookie))
    finally:
        server.terminate()
        server.wait(10)
    assert welcome["contact"]["state"] == "waiting"
    assert ack["seq"] >= 1, ack
    # Joensuu's staff supporter sees the Joensuu customer waiting.
    assert created["contact"]["id"] in [c["id"] for c in console_welcome["queue"]]
    assert "Traceback" not in log.read_text()
