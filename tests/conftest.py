"""Shared fixtures: reference data, the demo network, live ASGI server processes.

The test command (scripts/test.sh) points DATABASE_URL and REDIS_URL at the
real PostgreSQL and Redis; the header of every run says which were used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.turn import coturn  # noqa: F401 - the throwaway TURN server fixture

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    where = f"{db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or ''}:{db.get('PORT') or ''}"
    redis = settings.REDIS_URL or "none"
    return [f"helpdesk tests: database={where} channel_layer={layer} redis={redis}"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Lets several people test on one PostgreSQL at once: PYTEST_DB_SUFFIX=name."""
    from django.conf import settings

    suffix = os.environ.get("PYTEST_DB_SUFFIX")
    if suffix:
        db = settings.DATABASES["default"]
        base = db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"
        db.setdefault("TEST", {})["NAME"] = f"{base}_{suffix}"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Reference data once per run, for the tests that roll back."""
    from helpdesk.reference import load_reference_data

    with django_db_blocker.unblock():
        load_reference_data(postal_codes=False)
    yield
    # Worker threads (chat database pools, tickers) keep their connections;
    # end them so the test database can be dropped cleanly.
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture
def reference_data(db):
    """Regions, municipalities, areas and topics, reloaded if a transactional test flushed them."""
    from helpdesk.models import Region
    from helpdesk.reference import load_reference_data

    if not Region.objects.exists():
        load_reference_data(postal_codes=False)


@pytest.fixture
def demo_network(reference_data):
    from django.core.management import call_command

    call_command("load_demo_network", "--quiet", "--force", "--no-articles")


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database the tests are using now (the test database)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("live server processes need PostgreSQL (set DATABASE_URL)")
    user = quote(s.get("USER") or "")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class AsgiServer:
    """One uvicorn worker process serving the test database."""

    def __init__(self, env_extra: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": test_database_url(),
                "DEBUG": "1",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "ROUTING_TICKER_ENABLED": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(env_extra or {})
        self.log_path = ARTIFACTS / f"asgi-{self.port}.log"
        ARTIFACTS.mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "helpdesk.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "on",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early, see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not become healthy, see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def asgi_servers(transactional_db, reference_data):
    """Start n live server processes on the test database: `servers = asgi_servers(2)`."""
    started: list[AsgiServer] = []

    def start(n: int = 1, **env_extra: str) -> list[AsgiServer]:
        servers = [AsgiServer(env_extra) for _ in range(n)]
        started.extend(servers)
        return servers

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def asgi_server(asgi_servers) -> AsgiServer:
    return asgi_servers(1)[0]


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def chromium():
    """Debian's Chromium driven by Playwright (no downloaded browser builds)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _contact_intake_in_the_test_thread(settings):
    """The test's data lives in its own transaction: create contacts in its thread.

    tests/helpdesk/test_intake.py runs the parallel path on committed data.
    """
    settings.CONTACT_INTAKE_THREADS = 0


@pytest.fixture(autouse=True)
def _fresh_routing_hints():
    """Routing's few-second hint cache must not carry ids from one test to the next."""
    from routing import selectors

    selectors._hint_cache.clear()
    yield
    selectors._hint_cache.clear()
