"""What every benchmark here needs: free ports, admin SQL, percentiles, servers.

Each benchmark starts its own uvicorn processes on loopback and stops them
again; this module is the one place that knows how.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin_sql(pg_url: str, sql: str) -> list[tuple]:
    """Run one statement on the cluster's `postgres` database, in autocommit."""
    import psycopg

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def database_pids(name: str) -> list[int]:
    """The local PostgreSQL backends serving database `name` (their titles name it).

    Found in /proc without a query of their own (the local server, as
    BENCH_PG is by default).
    """
    found: list[int] = []
    if not name:
        return found
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if title.startswith(b"postgres:") and f" {name} ".encode() in title:
            found.append(int(pid))
    return found


def database_cpu(name: str) -> dict[int, float]:
    """CPU seconds of each backend serving database `name`, by pid.

    A backend that starts during a measurement counts from nothing.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for pid in database_pids(name):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that just ended
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def database_cpu_since(name: str, before: dict[int, float]) -> float:
    return sum(now - before.get(pid, 0.0) for pid, now in database_cpu(name).items())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# Production mode needs a key of its own and named hosts: a throwaway key per
# bench, the loopback names and plain HTTP, unless the caller's environment gives them.
_PRODUCTION_ON_LOOPBACK = {
    "SECRET_KEY": "bench-" + secrets.token_hex(32),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
}


def start_uvicorn(
    port: int,
    env: dict[str, str],
    *,
    log_name: str,
    extra_args: tuple[str, ...] = (),
    timeout_s: float = 60.0,
) -> subprocess.Popen:
    """Start helpdesk.asgi on 127.0.0.1:port and wait until /healthz answers.

    `env` is laid over this process's environment. The server's output goes to
    var/<log_name>-<port>.log, named in the error if it does not come up.
    """
    VAR.mkdir(exist_ok=True)
    log_path = VAR / f"{log_name}-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "helpdesk.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--backlog",
        "4096",
        "--lifespan",
        "on",
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            # Servers run in production mode (DEBUG off) unless told otherwise.
            env={**_PRODUCTION_ON_LOOPBACK, **os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited, see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"server did not become healthy, see {log_path}")


def stop_servers(procs: list[subprocess.Popen], timeout_s: float = 15.0) -> None:
    """SIGTERM all (lifespan shutdown runs), then wait; kill what does not stop."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- databases -------------------------------------------------------------------

_TEMPLATE_PREFIX = "helpdesk_bench_template_"


def _schema_fingerprint() -> str:
    """Changes whenever migrating would give another schema: our migrations or a package's."""
    import hashlib
    import sysconfig

    digest = hashlib.sha256()
    for base in (ROOT, Path(sysconfig.get_paths()["purelib"])):
        for depth in ("*", "*/*", "*/*/*"):
            for path in sorted(base.glob(f"{depth}/migrations/*.py")):
                if ".venv" not in path.relative_to(base).parts:
                    digest.update(str(path.relative_to(base)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def analyze() -> None:
    """Give PostgreSQL's planner statistics of the rows a bench just seeded.

    A deployment's autovacuum analyses a table once enough of it changed; a
    bench seeds thousands of rows and starts measuring seconds later, and some
    PostgreSQL installations run with autovacuum off (this machine's kind
    does). Analysing once after seeding gives the plans a deployment would
    have, whatever the installation's autovacuum setting.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def create_database(pg_url: str, name: str) -> None:
    """CREATE DATABASE `name`, migrated, as a copy of a template migrated once.

    Migrating an empty database takes 20-30 s here, most of it PostgreSQL
    committing DDL; copying a template takes half a second. The template is
    named after a fingerprint of the schema, so changed migrations make a new
    one and the old ones are dropped. An advisory lock keeps two benches from
    building the same template at once.
    """
    import psycopg

    template = _TEMPLATE_PREFIX + _schema_fingerprint()
    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('helpdesk-bench-template'))")
        have = {
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (_TEMPLATE_PREFIX + "%",),
            )
        }
        if template not in have:
            building = f"{template}_build_{os.getpid()}"
            conn.execute(f'DROP DATABASE IF EXISTS "{building}"')
            conn.execute(f'CREATE DATABASE "{building}"')
            env = {
                **os.environ,
                "DATABASE_URL": f"{pg_url}/{building}",
                "REDIS_URL": "",
                "DEBUG": "1",
                "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
            }
            done = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--verbosity", "0", "--no-input"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                raise RuntimeError(f"migrating the bench template failed:\n{done.stderr[-4000:]}")
            conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
            for old in have:
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        conn.execute("SELECT pg_advisory_unlock(hashtext('helpdesk-bench-template'))")
