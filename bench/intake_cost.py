"""What one contact creation (POST /api/contacts/) costs the server in CPU.

    .venv/bin/python bench/intake_cost.py [--requests 300] [--concurrency 20]
                                          [--direct] [--profile PATH]

Wall-clock latency on a shared 2-core machine says little about one request;
CPU time does. This creates a database on the local PostgreSQL (reference
data, default workflows, one provider per region), starts one uvicorn server
on loopback with the routing ticker off (so that rounds are not charged to
requests), warms it up, then sends --requests creations, at most
--concurrency at a time, each from its own customer address (the per-address
limit stays on, at a rate the run does not reach). The customers come as in
production, through the reverse proxy of bench/_proxy.py: keep-alive
connections, the address in X-Forwarded-For, TRUSTED_PROXY_COUNT=1.
--direct connects each straight to the server instead, a new connection per
request from that loopback address. The server process's CPU
time (user + system, from /proc) before and after, divided by the number of
creations, is the figure. The last line reads
`intake_cost server_ms=<n> created=<n> refused=<n>`.

--profile PATH samples the server with py-spy (when installed) during the
timed requests, all threads, and writes collapsed stacks there (one line per
stack and its sample count), or a flame graph if PATH ends in .svg.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import uuid

from _common import ROOT, create_database, free_port, start_uvicorn, stop_servers
from _common import admin_sql as _admin_sql
from _proxy import TRUSTED_PROXY_COUNT, UpstreamPool

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TICK = os.sysconf("SC_CLK_TCK")


def _routing_bench():
    # bench/routing.py by path: the name `routing` is the Django app's.
    spec = importlib.util.spec_from_file_location("bench_routing", ROOT / "bench" / "routing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def fire(
    bench, port: int, codes: list[str], count: int, concurrency: int, offset: int, direct: bool
):
    gate = asyncio.Semaphore(concurrency)
    proxy = None if direct else UpstreamPool(keepalive=concurrency)

    async def one(n: int) -> int:
        body = {
            "language": "fi",
            "municipality": codes[n % len(codes)],
            "consent": True,
            "description": "",
            "customer_key": uuid.uuid4().hex,
        }
        k = n + offset
        source = f"127.0.{1 + k // 200 % 250}.{1 + k % 200}"
        async with gate:
            if proxy is None:
                status, _ = await bench.post_contact(port, body, source)
            else:
                status, _ = await proxy.post(port, "/api/contacts/", body, source)
        return status

    try:
        return await asyncio.gather(*(one(n) for n in range(count)))
    finally:
        if proxy is not None:
            await proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument(
        "--direct", action="store_true", help="a new connection per request, no proxy"
    )
    parser.add_argument("--profile", default="", help="py-spy output (collapsed stacks or .svg)")
    args = parser.parse_args()

    bench = _routing_bench()
    db_name = f"helpdesk_bench_intake_{os.getpid()}"
    secret = "bench-" + uuid.uuid4().hex * 2
    bench.admin_sql(f"DROP DATABASE IF EXISTS {db_name}")
    create_database(PG, db_name)
    servers: list[subprocess.Popen] = []
    try:
        bench.setup_django(db_name, secret)
        _sessions, codes = bench.seed(0)
        port = free_port()
        server = _start_quiet_server(db_name, port, secret, behind_proxy=not args.direct)
        servers.append(server)
        asyncio.run(fire(bench, port, codes, args.warmup, args.concurrency, 0, args.direct))
        spy = _start_profile(server.pid, args.profile)
        before = cpu_seconds(server.pid)
        statuses = asyncio.run(
            fire(bench, port, codes, args.requests, args.concurrency, args.warmup, args.direct)
        )
        after = cpu_seconds(server.pid)
        _stop_profile(spy)
    finally:
        stop_servers(servers)
        from django.db import connections

        connections.close_all()
        _admin_sql(PG, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
    created = sum(1 for s in statuses if s == 201)
    per = (after - before) * 1000 / max(1, len(statuses))
    print(
        f"server CPU {after - before:.2f} s for {len(statuses)} creations "
        f"(concurrency {args.concurrency}, "
        f"{'a connection each' if args.direct else 'keep-alive through the proxy'}): "
        f"{per:.2f} ms each"
    )
    print(f"intake_cost server_ms={per:.2f} created={created} refused={len(statuses) - created}")


def _start_quiet_server(
    db_name: str, port: int, secret: str, *, behind_proxy: bool
) -> subprocess.Popen:
    env = {
        "DATABASE_URL": f"{PG}/{db_name}",
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": secret,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "DB_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        "ROUTING_TICKER_ENABLED": "0",
        "CONTACT_CREATE_RATE_LIMIT": "100000/minute",
        "TRUSTED_PROXY_COUNT": TRUSTED_PROXY_COUNT if behind_proxy else "0",
    }
    return start_uvicorn(port, env, log_name="bench-intake", timeout_s=90)


def _start_profile(pid: int, path: str) -> subprocess.Popen | None:
    if not path:
        return None
    spy = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
    if not os.path.exists(spy):
        print("py-spy is not installed; no profile", file=sys.stderr)
        return None
    fmt = "flamegraph" if path.endswith(".svg") else "raw"
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--threads",
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            fmt,
            "-o",
            path,
        ]
    )


def _stop_profile(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


if __name__ == "__main__":
    main()
