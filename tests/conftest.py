"""Shared fixtures: reference data, the demo network, live ASGI server processes.

The test command (scripts/test.sh) points DATABASE_URL and REDIS_URL at the
real PostgreSQL and Redis; the header of every run says which were used.

The suite runs on PostgreSQL and Redis or not at all: a session whose
settings fell back to SQLite or the in-memory channel layer stops at once with
a message naming what is missing. HELPDESK_TESTS_ALLOW_EMBEDDED=1 is the one
way round, for a quick local run: the tests marked `postgres` or `redis` then
do not run, and the summary says how many and why. Outside that opt-out a
skipped test fails the session: nothing skips in silence.
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


ALLOW_EMBEDDED = "HELPDESK_TESTS_ALLOW_EMBEDDED"


def _allow_embedded() -> bool:
    return os.environ.get(ALLOW_EMBEDDED, "").strip().lower() in {"1", "true", "yes", "on"}


def _missing_services() -> dict[str, str]:
    """Marker name -> what is missing, for each real service this session lacks."""
    from django.conf import settings

    missing = {}
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        missing["postgres"] = (
            "PostgreSQL: DATABASE_URL is unset or not a postgres:// URL, so the settings fell"
            " back to SQLite"
        )
    if not settings.REDIS_URL:
        missing["redis"] = (
            "Redis: REDIS_URL is unset, so the settings fell back to the in-memory channel layer"
            " (one process only)"
        )
    else:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            missing["redis"] = f"Redis: nothing answers at REDIS_URL={settings.REDIS_URL} ({exc})"
        finally:
            client.close()
    return missing


def pytest_configure(config):
    config._helpdesk_missing = {}
    if config.getoption("help", False):
        return
    missing = _missing_services()
    config._helpdesk_missing = missing
    if missing and not _allow_embedded():
        raise pytest.UsageError(
            "the helpdesk tests need PostgreSQL and Redis; missing:\n  - "
            + "\n  - ".join(missing.values())
            + "\nRun them with `make test` (scripts/test.sh starts both when installed), or set"
            " DATABASE_URL=postgres://... and REDIS_URL=redis://...; for a quick local run"
            f" without them set {ALLOW_EMBEDDED}=1 (the tests that need them then do not run,"
            " and the summary says so)."
        )


# The longest files, started first when the suite runs in parallel processes
# (scripts/test.sh: pytest -n 2 --dist loadfile hands out whole files in this
# order), so that no worker is left with a long file at the end.
LONG_FILES_FIRST = (
    "tests/bench/",
    "tests/browser/",
    "tests/stats/test_dashboard_browser.py",
    "tests/knowledge/test_browser.py",
    "tests/helpdesk/test_api_schemathesis.py",
    "tests/routing/test_concurrency.py",
)


def _long_first(item) -> int:
    path = item.nodeid.split("::", 1)[0]
    for rank, prefix in enumerate(LONG_FILES_FIRST):
        if path.startswith(prefix):
            return rank
    return len(LONG_FILES_FIRST)


def pytest_collection_modifyitems(config, items):
    """Mark what needs the real services; under the opt-out, leave it out with the reason."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_long_first)  # stable: within a rank, the collection order stays
    for item in items:
        if {"asgi_servers", "asgi_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)  # live servers share the test database
    missing = config._helpdesk_missing
    if not missing:
        return
    for item in items:
        for marker, what in missing.items():
            if item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=f"{ALLOW_EMBEDDED}=1 and no {what}"))
                break


_SKIPPED: list[tuple[str, str]] = []  # (test id, reason) of every skip in this session


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append((report.nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    skipped = _SKIPPED
    if skipped and not _allow_embedded() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = _SKIPPED
    if not skipped:
        return
    if _allow_embedded():
        terminalreporter.write_sep(
            "!", f"{len(skipped)} tests did not run ({ALLOW_EMBEDDED}=1)", yellow=True
        )
        for missing in config._helpdesk_missing.values():
            terminalreporter.write_line(f"missing: {missing}")
        terminalreporter.write_line("this run proves nothing about them: run `make test`")
        return
    terminalreporter.write_sep("!", f"{len(skipped)} tests skipped: the session fails", red=True)
    for nodeid, reason in skipped:
        terminalreporter.write_line(f"{nodeid}: {reason}")
    terminalreporter.write_line(
        "a test that cannot run must fail and say what it needs; skips are allowed only"
        f" under {ALLOW_EMBEDDED}=1"
    )


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
                "TWO_FACTOR_REQUIRED": "0",
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
def _two_factor_only_where_tested(request, settings):
    """Tests sign staff in with force_login; the second step is tested on its own.

    Tests marked `two_factor` keep it required (tests/helpdesk/test_two_factor.py,
    the authorisation walk); live servers get TWO_FACTOR_REQUIRED=0 (AsgiServer).
    """
    if request.node.get_closest_marker("two_factor") is None:
        settings.TWO_FACTOR_REQUIRED = False


@pytest.fixture(autouse=True)
def _fresh_routing_hints():
    """Routing's per-process caches must not carry ids from one test to the next.

    The hint cache lives a few seconds; the area index a minute, long enough
    for a transactional test that reloads the reference data (new region and
    municipality ids) to see the previous test's ids.
    """
    from routing import selectors, snapshot

    selectors._hint_cache.clear()
    snapshot.clear_area_cache()
    yield
    selectors._hint_cache.clear()
    snapshot.clear_area_cache()
