"""What one welcome costs: CPU and queries per console and per customer socket.

    .venv/bin/python bench/welcome_cost.py [--sockets 200] [--concurrency 50]
                                           [--two-factor] [--statements]
                                           [--profile PATH [--profile-side customer]]

A reconnect storm is every socket of a worker asking for its welcome at
once; on a shared machine its latency says little, the CPU each welcome takes
says what the storm costs. This seeds a private database like
bench/chat_load.py (one provider, N supporters each serving one active
contact, with login sessions), then, in this one process, drives the real
ASGI application (session cookie, origin check, consumers) through channels'
in-memory communicator: N consoles connect and say hello, --concurrency at a
time, then N customers do the same. For each side it prints the process's
CPU time (time.process_time, client side included: it is small beside the
server's), the database statements per welcome, counted on every
connection the sockets open, and the CPU the local PostgreSQL's backends for
the bench's database spent per welcome.

The supporters are staff: with --two-factor, the second-factor gate is on
and each session carries a confirmed TOTP device, as in production.
--profile PATH writes cProfile stats (CPU time, database threads included)
of the console phase there, or of the customer phase with --profile-side;
--statements breaks each side's statements down by verb and first table.

The last line reads `welcome_cost console_cpu_ms=<n> console_queries=<n>
customer_cpu_ms=<n> customer_queries=<n>`. REDIS_URL (default the local
Redis) carries the channel layer and presence under a prefix of this run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import os
import sys
import threading
import time
import uuid

from _common import admin_sql as _admin_sql
from _common import create_database, database_cpu, database_cpu_since

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ORIGIN = (b"origin", b"http://127.0.0.1")
DB_NAME = [""]  # the private database of this run


class StatementCount:
    """Statements run on any database connection of this process, from any thread."""

    def __init__(self) -> None:
        self.count = 0
        self.kinds: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
            self.kinds[_shape(sql)] += 1
        return execute(sql, params, many, context)

    def install(self) -> None:
        from django.db.backends.signals import connection_created

        connection_created.connect(self._created, weak=False)

    def _created(self, sender, connection, **kwargs) -> None:
        connection.execute_wrappers.append(self)


def _shape(sql: str) -> str:
    """A statement's verb and first table, for the --statements breakdown."""
    words = sql.split()
    table = next((w for w in words if w.startswith('"')), "")
    return f"{words[0] if words else '?'} {table.split('.')[0]}"


def configure(db_name: str, *, two_factor: bool) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"{PG}/{db_name}",
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "TWO_FACTOR_REQUIRED": "1" if two_factor else "0",
            "ROUTING_TICKER_ENABLED": "0",
            "CHAT_RATE_LIMIT": "1000/10second",
            "CHANNEL_LAYER_PREFIX": os.environ.get(
                "CHANNEL_LAYER_PREFIX", f"bench-welcome-{os.getpid()}"
            ),
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    sys.path.insert(0, str(_root()))
    import django

    django.setup()


def _root():
    from _common import ROOT

    return ROOT


def seed(count: int, *, two_factor: bool) -> list[dict]:
    from chat_load import seed as chat_seed
    from django.contrib.sessions.models import Session

    pairs = chat_seed(count)
    if two_factor:
        from django.contrib.sessions.backends.db import SessionStore
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        for pair in pairs:
            store = SessionStore(session_key=pair["session"])
            user_id = int(store["_auth_user_id"])
            device = TOTPDevice.objects.create(user_id=user_id, name="bench", confirmed=True)
            store[DEVICE_ID_SESSION_KEY] = device.persistent_id
            Session.objects.filter(session_key=pair["session"]).update(
                session_data=store.encode(dict(store.items()))
            )
    return pairs


async def console(app, pair: dict) -> None:
    from channels.testing import WebsocketCommunicator

    cookie = (b"cookie", f"sessionid={pair['session']}".encode())
    ws = WebsocketCommunicator(
        app, "/ws/console/", headers=[ORIGIN, (b"host", b"127.0.0.1"), cookie]
    )
    connected, code = await ws.connect(timeout=30)
    if not connected:
        raise RuntimeError(f"console refused ({code})")
    await ws.send_json_to({"type": "hello", "contacts": {}})
    await _until_welcome(ws)
    pair["console"] = ws


async def customer(app, pair: dict) -> None:
    from channels.testing import WebsocketCommunicator

    ws = WebsocketCommunicator(
        app, f"/ws/contact/?token={pair['token']}", headers=[ORIGIN, (b"host", b"127.0.0.1")]
    )
    connected, code = await ws.connect(timeout=30)
    if not connected:
        raise RuntimeError(f"customer refused ({code})")
    await ws.send_json_to({"type": "hello", "last_seq": 0})
    await _until_welcome(ws)
    pair["customer"] = ws


async def _until_welcome(ws) -> dict:
    while True:
        frame = await ws.receive_json_from(timeout=30)
        if frame.get("type") == "welcome":
            return frame
        if frame.get("type") == "error":
            raise RuntimeError(f"error before welcome: {frame}")


async def phase(
    side, app, pairs, concurrency: int, counter: StatementCount, profile=None, show=False
):
    gate = asyncio.Semaphore(concurrency)

    async def one(pair):
        async with gate:
            await side(app, pair)

    statements, kinds = counter.count, collections.Counter(counter.kinds)
    database = database_cpu(DB_NAME[0])
    cpu = time.process_time()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(one(p) for p in pairs))
    if profile is not None:
        profile.disable()
    cpu = time.process_time() - cpu
    # The heartbeat UPDATEs asked for during the phase finish after the last welcome.
    await asyncio.sleep(0.5)
    database = database_cpu_since(DB_NAME[0], database)
    if show:
        for kind, n in (counter.kinds - kinds).most_common():
            print(f"  {side.__name__}: {n / len(pairs):6.2f} x {kind}")
    return cpu, counter.count - statements, database


class ThreadProfiles:
    """cProfile in the database threads too: each runs its own, merged at the end."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self.local = threading.local()
        self.on = False

    def install(self) -> None:
        from realtime.consumers import base

        inner = base._in_thread

        def profiled(fn, args, kwargs):
            if not self.on:
                return inner(fn, args, kwargs)
            profile = getattr(self.local, "profile", None)
            if profile is None:
                profile = self.local.profile = cProfile.Profile(time.thread_time)
                self.profiles.append(profile)
            profile.enable()
            try:
                return inner(fn, args, kwargs)
            finally:
                profile.disable()

        base._in_thread = profiled

    def dump(self, main: cProfile.Profile, path: str) -> None:
        import pstats

        stats = pstats.Stats(main)
        for profile in self.profiles:
            stats.add(profile)
        stats.dump_stats(path)


async def run(args, pairs: list[dict]) -> tuple[float, float, float, float]:
    from helpdesk.asgi import application

    counter = StatementCount()
    counter.install()
    # Imports, per-process caches and pools are filled by a few sockets first.
    warm, timed = pairs[: args.warm], pairs[args.warm :]
    await phase(console, application, warm, args.concurrency, counter)
    await phase(customer, application, warm, args.concurrency, counter)
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    threads = ThreadProfiles()
    if profile is not None:
        threads.install()
    on_console = profile if args.profile_side == "console" else None
    on_customer = profile if args.profile_side == "customer" else None
    threads.on = on_console is not None
    console_cpu, console_q, console_db = await phase(
        console, application, timed, args.concurrency, counter, on_console, args.statements
    )
    threads.on = on_customer is not None
    customer_cpu, customer_q, customer_db = await phase(
        customer, application, timed, args.concurrency, counter, on_customer, args.statements
    )
    threads.on = False
    if profile is not None:
        threads.dump(profile, args.profile)
    for pair in pairs:
        for side in ("console", "customer"):
            ws = pair.pop(side, None)
            if ws is not None:
                await ws.disconnect()
    n = len(timed)
    print(
        f"database CPU per welcome: console {console_db / n * 1000:.2f} ms, "
        f"customer {customer_db / n * 1000:.2f} ms (PostgreSQL's backends for this database)"
    )
    return console_cpu / n, console_q / n, customer_cpu / n, customer_q / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=200, help="consoles (and customers) timed")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warm", type=int, default=20, help="sockets opened first, not timed")
    parser.add_argument("--two-factor", action="store_true")
    parser.add_argument("--profile", default="")
    parser.add_argument("--profile-side", choices=("console", "customer"), default="console")
    parser.add_argument(
        "--statements", action="store_true", help="break the statements down by verb and table"
    )
    args = parser.parse_args()
    if args.sockets < 1 or args.concurrency < 1 or args.warm < 0:
        parser.error("--sockets and --concurrency must be positive, --warm not negative")

    db_name = f"helpdesk_bench_welcome_{uuid.uuid4().hex[:8]}"
    create_database(PG, db_name)
    DB_NAME[0] = db_name
    try:
        configure(db_name, two_factor=args.two_factor)
        pairs = seed(args.sockets + args.warm, two_factor=args.two_factor)
        console_cpu, console_q, customer_cpu, customer_q = asyncio.run(run(args, pairs))
        from django.db import connections

        connections.close_all()
    finally:
        _admin_sql(PG, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    print(
        f"per console welcome: {console_cpu * 1000:.2f} ms CPU, {console_q:.1f} statements; "
        f"per customer welcome: {customer_cpu * 1000:.2f} ms CPU, {customer_q:.1f} statements "
        f"({args.sockets} of each, {args.concurrency} at a time)"
    )
    print(
        f"welcome_cost console_cpu_ms={console_cpu * 1000:.2f} console_queries={console_q:.1f} "
        f"customer_cpu_ms={customer_cpu * 1000:.2f} customer_queries={customer_q:.1f}"
    )


if __name__ == "__main__":
    main()
