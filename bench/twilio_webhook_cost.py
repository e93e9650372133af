"""What each kind of Twilio voice webhook costs: server CPU, queries, client CPU.

    .venv/bin/python bench/twilio_webhook_cost.py [--calls 300] [--servers 1]

Wall-clock latency on a shared 2-core machine says little about one request;
CPU time does. This places --calls simulated calls one after another (the
same script as bench/twilio_webhooks.py: greeting, menus, three wait-loop
turns, hang-up, status callbacks) against one uvicorn server with nothing
else running, and charges the server process's CPU time (user + system, from
/proc) before and after each request to that request's kind. The sender's own
CPU (signing and the HTTP client) is measured the same way, on its thread.
Then it places a few more calls in-process and counts the SQL statements each
kind of webhook runs. It prints one line per kind and, as its last line,
`twilio_webhook_cost server_ms=<mean per request> client_ms=<n> queries=<mean>`.

--profile PATH samples the server with py-spy (when installed) during the
timed calls and writes its stacks there: a flame graph if PATH ends in .svg,
else collapsed stacks (one line per stack and its sample count).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict

import chat_load
import twilio_webhooks
from _common import create_database, free_port, percentile, stop_servers

KINDS_ORDER = [
    "status:ringing",
    "incoming",
    "menu/language",
    "menu/region",
    "menu/topic",
    "wait",
    "queue-done",
    "status:completed",
]


def kind_of(url: str, params: dict) -> str:
    path = url.split("/telephony/voice/", 1)[-1]
    if path == "status":
        return f"status:{params.get('CallStatus', '')}"
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--wait-rounds", type=int, default=3)
    parser.add_argument("--query-calls", type=int, default=8)
    parser.add_argument("--profile", default="", help="write a py-spy flame graph (SVG) here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    db_name = f"helpdesk_bench_{os.getpid()}"
    servers = []
    redis = None
    spy = None
    try:
        create_database(chat_load.PG, db_name)
        redis, redis_url = chat_load.start_redis()
        os.environ.update(twilio_webhooks.PHONE_ENV)
        chat_load.setup_django(db_name, redis_url)
        chat_load.seed(0)
        twilio_webhooks.seed_phone_network()
        from django.db import connections

        connections.close_all()
        port = free_port()
        servers.append(chat_load.start_server(db_name, port, ticker=False))
        pid = servers[0].pid

        from realtime.telephony.driver import CallDriver, HttpTransport, Transport

        server_cpu: dict[str, list[float]] = defaultdict(list)
        client_cpu: dict[str, list[float]] = defaultdict(list)
        wall: dict[str, list[float]] = defaultdict(list)
        errors = 0
        http = HttpTransport(
            twilio_webhooks.PUBLIC, f"http://127.0.0.1:{port}", proxy_proto="https"
        )

        class Measured(Transport):
            def post(self, url, params, headers):
                nonlocal errors
                kind = kind_of(url, params)
                cpu0, own0, t0 = chat_load.cpu_s(pid), time.thread_time(), time.perf_counter()
                status, body = http.post(url, params, headers)
                t1, own1 = time.perf_counter(), time.thread_time()
                # The server may still be finishing (closing the connection):
                # let it settle before reading its clock.
                time.sleep(0.002)
                server_cpu[kind].append(chat_load.cpu_s(pid) - cpu0)
                client_cpu[kind].append(own1 - own0)
                wall[kind].append(t1 - t0)
                if status not in (200, 204):
                    errors += 1
                return status, body

        env = twilio_webhooks.PHONE_ENV
        driver = CallDriver(
            public_base_url=twilio_webhooks.PUBLIC,
            auth_token=env["TWILIO_AUTH_TOKEN"],
            account_sid=env["TWILIO_ACCOUNT_SID"],
            platform_number=env["TWILIO_PHONE_NUMBER"],
            transport=Measured(),
        )
        sign_s = []
        original_sign = driver.sign

        def timed_sign(url, params):
            t0 = time.thread_time()
            try:
                return original_sign(url, params)
            finally:
                sign_s.append(time.thread_time() - t0)

        driver.sign = timed_sign
        # A few calls first: connections, caches and imports warm up.
        for n in range(5):
            call = driver.call(twilio_webhooks.CALLERS[n % 4], digits=["1", "1"])
            _script(call, args.wait_rounds)
        for bucket in (server_cpu, client_cpu, wall):
            bucket.clear()
        sign_s.clear()

        # What the server burns doing nothing (its timers and pools), for reference:
        # the per-request figures below include it.
        idle0 = chat_load.cpu_s(pid)
        time.sleep(5.0)
        idle_ms_per_s = (chat_load.cpu_s(pid) - idle0) / 5.0 * 1000
        spy_bin = shutil.which("py-spy", path=os.path.dirname(sys.executable))
        spy_bin = spy_bin or shutil.which("py-spy")
        if args.profile and spy_bin:
            spy = subprocess.Popen(
                [spy_bin, "record", "-p", str(pid), "-o", args.profile, "-r", "200", "--gil"]
                + (["--format", "raw"] if not args.profile.endswith(".svg") else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        cpu_start = chat_load.cpu_s(pid)
        sys_start = _sys_s(pid)
        started = time.perf_counter()
        for n in range(args.calls):
            call = driver.call(twilio_webhooks.CALLERS[n % 4], digits=["1", "1"])
            _script(call, args.wait_rounds)
            driver.calls.pop(call.sid, None)
            driver.fetched.clear()
        elapsed = time.perf_counter() - started
        total_cpu = chat_load.cpu_s(pid) - cpu_start
        total_sys = _sys_s(pid) - sys_start
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
            spy = None

        queries = count_queries(args.query_calls, args.wait_rounds)

        requests = sum(len(v) for v in server_cpu.values())
        print(
            f"{args.calls} calls, {requests} webhook requests in {elapsed:.1f}s, "
            f"one server, sequential; errors={errors}; the idle server uses "
            f"{idle_ms_per_s:.1f} ms CPU a second",
            flush=True,
        )
        print(
            f"{'kind':<18}{'n':>6}{'server ms':>11}{'client ms':>11}{'wall p50':>10}{'queries':>9}",
            flush=True,
        )
        kinds = [k for k in KINDS_ORDER if k in server_cpu] + sorted(
            k for k in server_cpu if k not in KINDS_ORDER
        )
        for kind in kinds:
            n = len(server_cpu[kind])
            q = queries.get(kind)
            print(
                f"{kind:<18}{n:>6}{sum(server_cpu[kind]) / n * 1000:>11.2f}"
                f"{sum(client_cpu[kind]) / n * 1000:>11.2f}"
                f"{percentile(wall[kind], 0.5) * 1000:>10.1f}"
                f"{'' if q is None else f'{q:.1f}':>9}",
                flush=True,
            )
        client_total = sum(sum(v) for v in client_cpu.values())
        print(
            f"server CPU {total_cpu / requests * 1000:.2f} ms/request over the whole run "
            f"(system {total_sys / requests * 1000:.2f}); "
            f"client {client_total / requests * 1000:.2f} ms/request "
            f"(of which signing {sum(sign_s) / max(1, len(sign_s)) * 1000:.3f} ms)",
            flush=True,
        )
        mean_q = sum(queries.get(k, 0) * len(server_cpu[k]) for k in kinds) / requests
        print(
            f"twilio_webhook_cost server_ms={total_cpu / requests * 1000:.2f} "
            f"client_ms={client_total / requests * 1000:.2f} queries={mean_q:.1f}",
            flush=True,
        )
    finally:
        if spy is not None:
            spy.kill()
        stop_servers(servers)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        try:
            chat_load.admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        finally:
            if redis is not None:
                redis.terminate()
                redis.wait(10)


def _sys_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def _script(call, wait_rounds: int) -> None:
    if call.start() == "queued":
        for _ in range(wait_rounds):
            call.wait_round()
        call.hang_up()


def count_queries(calls: int, wait_rounds: int) -> dict[str, float]:
    """SQL statements per webhook kind, in-process (Django's test client as transport)."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from realtime.telephony.driver import CallDriver, DjangoTransport

    settings.PHONE_WEBHOOK_THREADS = 0  # on this thread, so its connection is the one counted
    settings.ALLOWED_HOSTS = ["*"]
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
    counts: dict[str, list[int]] = defaultdict(list)
    inner = DjangoTransport(twilio_webhooks.PUBLIC)

    class Counted(DjangoTransport):
        def post(self, url, params, headers):
            with CaptureQueriesContext(connection) as captured:
                result = inner.post(url, params, headers)
            counts[kind_of(url, params)].append(len(captured.captured_queries))
            return result

    env = twilio_webhooks.PHONE_ENV
    driver = CallDriver(
        public_base_url=twilio_webhooks.PUBLIC,
        auth_token=env["TWILIO_AUTH_TOKEN"],
        account_sid=env["TWILIO_ACCOUNT_SID"],
        platform_number=env["TWILIO_PHONE_NUMBER"],
        transport=Counted(twilio_webhooks.PUBLIC, inner.client),
    )
    for n in range(calls):
        _script(driver.call(twilio_webhooks.CALLERS[n % 4], digits=["1", "1"]), wait_rounds)
    # The first call fills the menu caches; the steady state is what counts.
    return {k: sum(v[1:] or v) / len(v[1:] or v) for k, v in counts.items()}


if __name__ == "__main__":
    main()
