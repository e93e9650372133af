"""Chat load benchmark: N customer-supporter pairs over real sockets, then the bare relay.

    .venv/bin/python bench/chat_load.py [--pairs 1000] [--duration 60]

What it does, and stops and drops again at the end:
1. creates a database on the local PostgreSQL, migrates it and seeds N active
   contacts, each served by its own supporter (with a login session);
2. starts --servers uvicorn processes (default 2, the two sides of each pair on
   different ones) with the pub/sub channel layer on a private
   redis-server (or BENCH_REDIS_URL, e.g. redis://127.0.0.1:6379/0), and
   beside them the suggestion worker (`manage.py suggestion_worker`);
3. connects the N pairs (customer on /ws/contact/, supporter on /ws/console/)
   from client processes, and each side sends one message per 5 s on average,
   open loop (Poisson arrivals: a slow server does not slow the senders down);
   latency runs from the *intended* send time to delivery at the other side.
   Customers write real questions (tests/knowledge/suggest_eval.tsv) and the
   seed articles are loaded, so the knowledge suggestions work as in
   production; the consoles count the `suggestions` frames they get;
4. once the servers are quiet again (the platform's sockets closing keep
   them busy for a while), runs the same load against the bare relay
   consumer (/ws/bench-echo/, same channel layer, no database) in the same
   server;
5. prints latency percentiles, lost and duplicated messages, the server's
   and the database's CPU, the server's memory per connection, how long each
   customer and console socket took from its handshake to its welcome while
   all of them connected at once, and the same for the bare relay's
   handshakes alone (the floor on these cores: no session, database or
   welcome), and as its last line `chat_load pairs=<n> p99_ms=<n> lost=<n> dup=<n>
   ratio_vs_bare=<x> reconnect_console_p99_ms=<n> suggestions=<n>` (suggestions:
   frames the consoles got during the chat phase).

--suggest chooses where the searches run: `worker` (default, the production
shape), `in-process` (no worker: the ASGI workers search themselves, capped
by CHAT_SUGGEST_MAX_PER_S) or `off` (no searches at all), for A/B runs.

Every message is acknowledged only once its commit is on disk, so the
platform's tail also follows how long the disk under PostgreSQL takes to
flush. A probe writes and flushes 8 KiB next to PostgreSQL's data directory
every 20 ms during each phase and prints what it saw (`disk:` lines): on a
shared virtual disk, flushes that stall for 100-400 ms show up there and in
the platform's p99 at the same seconds. `--pg tmpfs` runs the same load
against a private PostgreSQL cluster in /dev/shm (same durable settings,
storage in memory), to measure the platform without the disk.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import _common
from _common import (
    ROOT,
    create_database,
    database_cpu,
    database_cpu_since,
    free_port,
    percentile,
    start_uvicorn,
    stop_servers,
)
from _common import admin_sql as _admin_sql

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
# Empty: start a private redis-server for the run. Redis pub/sub channels are
# shared by every database number, so on a shared Redis other processes'
# events (queue.changed for "provider 1"...) would reach the bench's sockets.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
CONNECT_CONCURRENCY = 50
_COUNTED = ('{"type":"message.new"', '{"type":"error"')
_SUGGESTIONS = '{"type":"suggestions"'
QUESTIONS = ROOT / "tests" / "knowledge" / "suggest_eval.tsv"
DRAIN_S = 5.0
MAX_DRAIN_S = 120.0


# --- setup -----------------------------------------------------------------------


def admin_sql(sql: str) -> list[tuple]:
    return _admin_sql(PG, sql)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in /dev/shm on a free loopback port.

    Same durability settings as any cluster (fsync and synchronous_commit
    on); only the storage is memory, so flushes cannot stall.
    """

    def __init__(self) -> None:
        self.dir = ""
        self.port = free_port()

    def _run(self, *cmd: str) -> None:
        # PostgreSQL refuses to run as root: drop to its own user where we are root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + list(cmd), check=True, capture_output=True)

    def start(self) -> str:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], check=True, capture_output=True, text=True
        ).stdout.strip()
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="helpdesk-bench-pg-", dir="/dev/shm")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            f"{bindir}/initdb", "-D", self.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self.resume()
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def resume(self) -> None:
        """Start the server (again: bench/faults.py stops and starts it)."""
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        self._run(
            f"{self.bindir}/pg_ctl",
            "-D",
            self.dir,
            "-o",
            options,
            "-w",
            "-l",
            f"{self.dir}/server.log",
            "start",
        )

    def halt(self) -> None:
        """Stop the server, keeping its data (a database outage)."""
        self._run(f"{self.bindir}/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        if not self.dir:
            return
        try:
            self._run(f"{self.bindir}/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop")
        except (subprocess.CalledProcessError, OSError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class DiskProbe(threading.Thread):
    """Write and flush 8 KiB every 20 ms in `directory`; keep (time, seconds) of each flush."""

    def __init__(self, directory: str) -> None:
        super().__init__(daemon=True)
        self.directory = directory
        self.samples: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        fd, path = tempfile.mkstemp(prefix=".helpdesk-bench-fsync-", dir=self.directory)
        block = os.urandom(8192)
        try:
            n = 0
            while not self.stopping.wait(0.02):
                started = time.perf_counter()
                os.pwrite(fd, block, (n % 64) * 8192)
                os.fdatasync(fd)
                self.samples.append((time.time(), time.perf_counter() - started))
                n += 1
        finally:
            os.close(fd)
            os.unlink(path)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)

    def summary(self, start: float, end: float) -> str:
        flushes = sorted(d * 1000 for t, d in self.samples if start <= t <= end)
        if not flushes:
            return "no samples"
        stalls = [d for d in flushes if d > 50]
        return (
            f"flush p50={percentile(flushes, 0.5):.1f}ms p99={percentile(flushes, 0.99):.1f}ms "
            f"max={flushes[-1]:.0f}ms stalls>50ms={len(stalls)} ({sum(stalls):.0f}ms in all)"
        )


def probe_directory() -> str:
    """Beside PostgreSQL's data directory (same disk) when we may write there, else var/."""
    try:
        data = admin_sql("SHOW data_directory")[0][0]
        parent = os.path.dirname(data.rstrip("/"))
        if os.access(parent, os.W_OK):
            return parent
    except Exception:
        pass
    return str(ROOT / "var")


def start_redis() -> tuple[subprocess.Popen | None, str]:
    if REDIS_URL:
        return None, REDIS_URL
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxclients",
            "10000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def setup_django(db_name: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{db_name}"
    os.environ["REDIS_URL"] = redis_url
    # Tokens and sessions are signed here and checked by the server: one key.
    os.environ["SECRET_KEY"] = "bench-" + uuid.uuid4().hex * 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed(pairs: int) -> list[dict]:
    """N providers' worth of nothing fancy: one provider, N supporters, N active contacts."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.utils import timezone

    from helpdesk.models import Assignment, Contact, Provider, Supporter
    from helpdesk.tokens import make_contact_token

    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    provider = Provider.objects.create(
        slug="bench", name="Bench", kind="library", channels=["chat"], languages=["fi"]
    )
    tag = uuid.uuid4().hex[:6]
    users = []
    for i in range(pairs):
        user = User(username=f"bench-{tag}-{i}")
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users)
    supporters = Supporter.objects.bulk_create(
        Supporter(
            user=u,
            kind="staff",
            display_name=f"Tuki {i}",
            languages=["fi"],
            presence="available",
            capacity_chat=3,
        )
        for i, u in enumerate(users)
    )
    Supporter.providers.through.objects.bulk_create(
        Supporter.providers.through(supporter_id=s.pk, provider_id=provider.pk) for s in supporters
    )
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        Contact(
            channel="chat",
            language="fi",
            state="active",
            supporter=s,
            provider=provider,
            accepted_at=now,
            waiting_since=now,
            pseudonym=f"Asiakas {i}",
        )
        for i, s in enumerate(supporters)
    )
    Assignment.objects.bulk_create(
        Assignment(contact=c, supporter=s, provider=provider, started_at=now)
        for c, s in zip(contacts, supporters, strict=True)
    )
    sessions, out = [], []
    expire = now + timezone.timedelta(days=1)
    for user, contact in zip(users, contacts, strict=True):
        key = uuid.uuid4().hex
        data = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
        sessions.append(
            Session(session_key=key, session_data=SessionStore().encode(data), expire_date=expire)
        )
        out.append(
            {
                "index": len(out),
                "contact": str(contact.public_id),
                "token": make_contact_token(contact.public_id),
                "session": key,
            }
        )
    Session.objects.bulk_create(sessions)
    import io

    import knowledge

    # Without the reference data some topics are unknown: left out, said on stderr.
    quiet = io.StringIO()
    call_command("import_articles", str(knowledge.content_dir()), stdout=quiet, stderr=quiet)
    _common.analyze()
    return out


def questions() -> list[str]:
    """What customers write: the suggestion evaluation set's conversation snippets."""
    rows = [line.split("\t") for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    return [r[2] for r in rows if len(r) == 4 and not r[0].startswith("#") and r[0] != "language"]


def start_server(db_name: str, port: int, *, ticker: bool) -> subprocess.Popen:
    env = {
        "DATABASE_URL": f"{PG}/{db_name}",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "BENCH_ECHO": "1",
        "LOG_LEVEL": "WARNING",
        # The bench signs supporters in with seeded sessions, without a second factor.
        "TWO_FACTOR_REQUIRED": "0",
        "CHAT_RATE_LIMIT": "1000/10second",
        "ROUTING_TICKER_ENABLED": "1" if ticker else "0",
    }
    extra = (
        # Chat frames are small: compressing each one costs more than it saves.
        "--ws-per-message-deflate",
        "false",
        # The protocol's own heartbeat (client ping, 90 s idle close) keeps
        # sockets alive and finds dead ones; the server's pings would double it.
        "--ws-ping-interval",
        "0",
    )
    return start_uvicorn(port, env, log_name="bench-server", extra_args=extra)


def start_suggestion_worker(db_name: str) -> tuple[subprocess.Popen, object]:
    """`manage.py suggestion_worker` on the bench database and Redis, until stopped."""
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{db_name}",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(ROOT / "var" / "bench-suggestion-worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "suggestion_worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, log


def wait_for_suggestion_worker(proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Until the worker has marked itself alive in Redis (the servers look for the mark)."""
    import redis as redis_client
    from django.conf import settings

    from realtime import suggest_queue

    client = redis_client.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + timeout_s
    try:
        while not client.exists(suggest_queue.worker_key()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the suggestion worker did not start: var/bench-suggestion-worker.log"
                )
            time.sleep(0.2)
    finally:
        client.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pids: list[int], *, below: float = 0.05, limit_s: float = 60.0) -> float:
    """Wait until the processes use under `below` of a core each; seconds waited.

    The platform's sockets closing (presence going offline, routing rounds,
    the suggestion worker's backlog) go on after its phase; the bare phase
    that follows is the floor to compare with, and must not pay for them.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = [cpu_s(pid) for pid in pids]
        time.sleep(1.0)
        if all(cpu_s(pid) - b < below for pid, b in zip(pids, before, strict=True)):
            break
    return time.monotonic() - started


# --- clients ---------------------------------------------------------------------


class Side:
    """One socket of a pair: sends on a Poisson schedule, records what it receives."""

    def __init__(self, name: str, pair: int, interval: float):
        self.name = name
        self.pair = pair
        self.interval = interval
        self.ws = None
        self.sent: list[str] = []
        self.got_ids: dict[str, int] = {}
        self.got_seqs: dict[int, int] = {}
        self.latencies: list[float] = []
        self.errors = 0
        self.codes: dict[str, int] = {}
        self.connect_s = 0.0  # handshake to welcome (platform) or to open (bare)
        self.suggestions = 0


async def run_client(
    mode: str, ports: list[int], pairs: list[dict], conn, interval: float, asked: list[str]
) -> None:
    from websockets.asyncio.client import connect

    origin = f"http://127.0.0.1:{ports[0]}"
    sides: list[tuple[Side, Side]] = []
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_socket(side: Side, url: str, headers: dict, hello: dict | None) -> None:
        async with limit:
            opened = time.monotonic()
            for attempt in range(5):
                try:
                    side.ws = await connect(
                        url,
                        origin=origin,
                        additional_headers=headers,
                        open_timeout=30,
                        ping_interval=None,
                        max_queue=None,
                        compression=None,
                    )
                    break
                except Exception:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.5 * (attempt + 1))
            if hello is not None:
                await side.ws.send(json.dumps(hello))
                while json.loads(await side.ws.recv()).get("type") != "welcome":
                    pass
            side.connect_s = time.monotonic() - opened

    async def pinger() -> None:
        # Real clients ping every 20-30 s; without it a long connect ramp
        # would let the first sockets hit the server's 90 s idle close.
        # Spread over the period like real clients, not all in one instant.
        everyone = [side for pair in sides for side in pair]
        while mode == "platform":
            for side in everyone:
                await asyncio.sleep(20.0 / max(1, len(everyone)))
                if side.ws is not None:
                    try:
                        await side.ws.send('{"type":"ping"}')
                    except Exception:
                        side.errors += 1

    ping_task = asyncio.create_task(pinger())
    tasks = []
    for i, p in enumerate(pairs):
        customer, supporter = Side("c", i, interval), Side("s", i, interval)
        # With several server processes the two sides of a pair sit on
        # different ones, so every message crosses processes through Redis.
        port = ports[p["index"] % len(ports)]
        other_port = ports[(p["index"] + 1) % len(ports)]
        sides.append((customer, supporter))
        if mode == "platform":
            tasks.append(
                open_socket(
                    customer,
                    f"ws://127.0.0.1:{port}/ws/contact/?token={p['token']}",
                    {},
                    {"type": "hello", "last_seq": 0},
                )
            )
            tasks.append(
                open_socket(
                    supporter,
                    f"ws://127.0.0.1:{other_port}/ws/console/",
                    {"Cookie": f"sessionid={p['session']}"},
                    {"type": "hello", "contacts": {p["contact"]: 0}},
                )
            )
        else:
            pid = p["contact"].replace("-", "")[:32]
            url = f"ws://127.0.0.1:{port}/ws/bench-echo/{pid}/"
            tasks.append(open_socket(customer, url, {}, None))
            other = f"ws://127.0.0.1:{other_port}/ws/bench-echo/{pid}/"
            tasks.append(open_socket(supporter, other, {}, None))
    await asyncio.gather(*tasks)
    # The load generator must not pause either: its own collector, with a
    # thousand sockets' objects, stalls every reader for tens of ms and that
    # would be counted as server latency. Same tuning as the server workers
    # (helpdesk/gc_tuning.py).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20000, 20, 10)
    conn.send("ready")
    t0, duration = conn.recv()

    async def reader(me: Side) -> None:
        try:
            async for raw in me.ws:
                now = time.time()
                # Only message.new and error frames count here; the server writes
                # "type" first, so acks and pongs are skipped without parsing
                # (the load generator shares the cores with the servers).
                if mode == "platform" and not raw.startswith(_COUNTED):
                    if raw.startswith(_SUGGESTIONS) and now <= t0 + duration:
                        me.suggestions += 1  # during the chat phase, not the drain
                    continue
                frame = json.loads(raw)
                if mode == "platform":
                    kind = frame.get("type")
                    if kind == "error":
                        me.errors += 1
                        me.codes[frame.get("code")] = me.codes.get(frame.get("code"), 0) + 1
                        continue
                    if kind != "message.new":
                        continue
                    message = frame["message"]
                    me.got_seqs[message["seq"]] = me.got_seqs.get(message["seq"], 0) + 1
                    cid, intended = message["body"].split("|")[:2]
                    if cid[0] == me.name:
                        continue  # our own message echoed to our socket
                else:
                    cid, intended = frame["id"], frame["t"]
                me.got_ids[cid] = me.got_ids.get(cid, 0) + 1
                if me.got_ids[cid] == 1:
                    me.latencies.append(now - float(intended))
        except Exception:
            pass

    async def sender(me: Side, contact: str) -> None:
        rng = random.Random(hash((me.name, me.pair)))
        intended = t0 + rng.expovariate(1.0 / me.interval)
        n = 0
        while intended < t0 + duration:
            delay = intended - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            cid = f"{me.name}{me.pair}-{n}"
            if mode == "platform":
                body = f"{cid}|{intended:.6f}"
                if me.name == "c" and asked:
                    # A question a supporter may want a guide for.
                    body += "|" + asked[rng.randrange(len(asked))]
                frame = {"type": "message.send", "client_msg_id": cid, "body": body}
                if me.name == "s":
                    frame["contact"] = contact
                text = json.dumps(frame)
            else:
                text = json.dumps({"id": cid, "t": intended})
            try:
                await me.ws.send(text)
                me.sent.append(cid)
            except Exception:
                me.errors += 1
            n += 1
            intended += rng.expovariate(1.0 / me.interval)

    readers = [asyncio.create_task(reader(s)) for pair in sides for s in pair]
    senders = [
        asyncio.create_task(sender(s, pairs[s.pair]["contact"])) for pair in sides for s in pair
    ]
    await asyncio.gather(*senders)
    await asyncio.sleep(max(0.0, t0 + duration - time.time()) + DRAIN_S)
    # Late is not lost: keep listening while messages still arrive (up to
    # MAX_DRAIN_S), so that `lost` counts only what never came.
    deadline = time.time() + MAX_DRAIN_S
    previous = -1
    while time.time() < deadline:
        received = sum(len(s.got_ids) for pair in sides for s in pair)
        expected = sum(len(s.sent) for pair in sides for s in pair)
        if received >= expected or received == previous:
            break
        previous = received
        await asyncio.sleep(DRAIN_S)
    lost = dup = sent = 0
    latencies: list[float] = []
    errors = 0
    codes: dict[str, int] = {}
    for customer, supporter in sides:
        for me, other in ((customer, supporter), (supporter, customer)):
            sent += len(me.sent)
            lost += sum(1 for cid in me.sent if cid not in other.got_ids)
            dup += sum(count - 1 for count in other.got_ids.values() if count > 1)
            latencies.extend(other.latencies)
            errors += me.errors
            for code, count in me.codes.items():
                codes[code] = codes.get(code, 0) + count
        if mode == "platform":
            for me in (customer, supporter):
                dup += sum(count - 1 for count in me.got_seqs.values() if count > 1)
    ping_task.cancel()
    for pair in sides:
        for s in pair:
            await s.ws.close()
    for task in readers:
        task.cancel()
    conn.send(
        {
            "sent": sent,
            "lost": lost,
            "dup": dup,
            "errors": errors,
            "codes": codes,
            "latencies": latencies,
            "connect": {
                name: [me.connect_s for pair in sides for me in pair if me.name == name]
                for name in ("c", "s")
            },
            "suggestions": {
                name: sum(me.suggestions for pair in sides for me in pair if me.name == name)
                for name in ("c", "s")
            },
        }
    )


def client_main(
    mode: str, ports: list[int], pairs: list[dict], conn, interval: float, asked: list[str]
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(run_client(mode, ports, pairs, conn, interval, asked))
    except Exception as exc:  # tell the parent instead of leaving it waiting
        conn.send({"error": repr(exc)})


def run_phase(
    mode: str,
    ports: list[int],
    server_pids: list[int],
    pairs: list[dict],
    args,
    worker_pid: int | None = None,
    db_name: str = "",
) -> dict:
    ctx = mp.get_context("spawn")
    chunks = [pairs[i :: args.clients] for i in range(args.clients)]
    procs, conns = [], []
    rss_before = sum(rss_kib(pid) for pid in server_pids)
    database0 = database_cpu(db_name)
    started = time.monotonic()
    for chunk in chunks:
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=client_main,
            args=(mode, ports, chunk, child, args.interval, questions()),
        )
        proc.start()
        procs.append(proc)
        conns.append(parent)
    for conn in conns:
        if not conn.poll(300):
            raise RuntimeError("clients did not connect within 300 s")
        message = conn.recv()
        if message != "ready":
            raise RuntimeError(f"client failed: {message}")
    connect_s = time.monotonic() - started
    print(
        f"connected {2 * len(pairs)} {mode} sockets in {connect_s:.1f}s, database cpu="
        f"{database_cpu_since(db_name, database0) / connect_s * 100:.0f}%",
        flush=True,
    )
    time.sleep(1.0)
    rss_after = sum(rss_kib(pid) for pid in server_pids)
    cpu0 = sum(cpu_s(pid) for pid in server_pids)
    worker_cpu0 = cpu_s(worker_pid) if worker_pid else 0.0
    database0 = database_cpu(db_name)
    t0 = time.time() + 1.0
    for conn in conns:
        conn.send((t0, args.duration))
    results = []
    for conn in conns:
        if not conn.poll(args.duration + 120):
            raise RuntimeError("clients did not report")
        results.append(conn.recv())
        if "error" in results[-1]:
            raise RuntimeError(f"client failed: {results[-1]['error']}")
    ended = time.time()
    cpu = (sum(cpu_s(pid) for pid in server_pids) - cpu0) / (ended - t0)
    worker_cpu = (cpu_s(worker_pid) - worker_cpu0) / (ended - t0) if worker_pid else 0.0
    database = database_cpu_since(db_name, database0) / (ended - t0)
    for proc in procs:
        proc.join(30)
    latencies = [x for r in results for x in r["latencies"]]
    sockets = 2 * len(pairs)
    return {
        "mode": mode,
        "sent": sum(r["sent"] for r in results),
        "delivered": len(latencies),
        "lost": sum(r["lost"] for r in results),
        "dup": sum(r["dup"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "codes": {
            k: sum(r["codes"].get(k, 0) for r in results) for r in results for k in r["codes"]
        },
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "p999_ms": percentile(latencies, 0.999) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "kib_per_conn": (rss_after - rss_before) / sockets,
        "rss_mib": rss_after / 1024,
        "connect_s": connect_s,
        # Per socket, from the handshake to the welcome: what each customer
        # and console waits when every socket of a worker reconnects at once.
        "connect_ms": {
            name: (
                percentile([x for r in results for x in r["connect"][name]], 0.5) * 1000,
                percentile([x for r in results for x in r["connect"][name]], 0.99) * 1000,
            )
            for name in ("c", "s")
        },
        "connect_all_ms": tuple(
            percentile([x for r in results for n in ("c", "s") for x in r["connect"][n]], q) * 1000
            for q in (0.5, 0.99)
        ),
        "server_cpu": cpu,
        "worker_cpu": worker_cpu,
        "database_cpu": database,
        "suggestions": {name: sum(r["suggestions"][name] for r in results) for name in ("c", "s")},
        "window": (t0, t0 + args.duration),
    }


def report(r: dict, args) -> None:
    rate = r["sent"] / args.duration
    print(
        f"{r['mode']:>8}: sent={r['sent']} ({rate:.0f}/s) delivered={r['delivered']} "
        f"lost={r['lost']} dup={r['dup']} errors={r['errors']} {r['codes'] or ''} "
        f"p50={r['p50_ms']:.1f}ms p99={r['p99_ms']:.1f}ms p99.9={r['p999_ms']:.1f}ms "
        f"max={r['max_ms']:.0f}ms server_cpu={r['server_cpu'] * 100:.0f}% "
        f"database_cpu={r['database_cpu'] * 100:.0f}% "
        f"mem/conn={r['kib_per_conn']:.1f}KiB rss={r['rss_mib']:.0f}MiB "
        f"connect={r['connect_s']:.1f}s",
        flush=True,
    )
    if r["mode"] == "bare":
        # The floor: a handshake with no database, session or welcome, in
        # the same storm on the same cores.
        p50, p99 = r["connect_all_ms"]
        print(
            f"    connect per socket, handshake only ({CONNECT_CONCURRENCY} at a time per "
            f"client): p50={p50:.0f}ms p99={p99:.0f}ms",
            flush=True,
        )
    if r["mode"] == "platform":
        (c50, c99), (s50, s99) = r["connect_ms"]["c"], r["connect_ms"]["s"]
        print(
            f"    connect per socket, handshake to welcome ({CONNECT_CONCURRENCY} at a time "
            f"per client): customer p50={c50:.0f}ms p99={c99:.0f}ms, "
            f"console p50={s50:.0f}ms p99={s99:.0f}ms",
            flush=True,
        )
        got = r["suggestions"]
        # Benches that run the chat beside something else start no suggestion worker.
        print(
            f"    suggestions ({getattr(args, 'suggest', 'off')}): consoles got {got['s']} "
            f"({got['s'] / args.duration:.1f}/s), customers {got['c']}; "
            f"suggestion worker cpu={r['worker_cpu'] * 100:.0f}%",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=5.0, help="mean seconds between sends")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument(
        "--servers", type=int, default=2, help="server processes (the production shape: several)"
    )
    parser.add_argument(
        "--ticker",
        action="store_true",
        help="also run the routing ticker in the server (off: measure the chat path alone)",
    )
    parser.add_argument(
        "--suggest",
        choices=("worker", "in-process", "off"),
        default="worker",
        help="where knowledge searches run: the suggestion worker (default), the ASGI"
        " workers themselves (no worker started), or nowhere",
    )
    parser.add_argument(
        "--pg",
        choices=("local", "tmpfs"),
        default="local",
        help="local: the PostgreSQL at BENCH_PG (default); tmpfs: a private cluster in /dev/shm",
    )
    args = parser.parse_args()
    # A stop by SIGTERM still runs the clean-up below (servers, the private
    # Redis and PostgreSQL, the bench database).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    global PG
    private_pg = PrivatePostgres() if args.pg == "tmpfs" else None
    if private_pg is not None:
        PG = private_pg.start()
        print(f"private PostgreSQL in {private_pg.dir} on port {private_pg.port}", flush=True)
    db_name = f"helpdesk_bench_{os.getpid()}"
    servers: list[subprocess.Popen] = []
    worker = worker_log = None
    redis = None
    probe = None
    try:
        create_database(PG, db_name)
        probe = DiskProbe(private_pg.dir if private_pg else probe_directory())
        probe.start()
        redis, redis_url = start_redis()
        setup_django(db_name, redis_url)
        started = time.monotonic()
        pairs = seed(args.pairs)
        from django.db import connections

        connections.close_all()
        print(f"seeded {args.pairs} pairs in {time.monotonic() - started:.1f}s", flush=True)
        if args.suggest == "worker":
            worker, worker_log = start_suggestion_worker(db_name)
            wait_for_suggestion_worker(worker)
            print(f"suggestion worker pid {worker.pid}", flush=True)
        elif args.suggest == "off":
            os.environ["CHAT_SUGGEST_MAX_PER_S"] = "0"
        ports = [free_port() for _ in range(max(1, args.servers))]
        for port in ports:
            servers.append(start_server(db_name, port, ticker=args.ticker))
            print(f"server pid {servers[-1].pid} on port {port}", flush=True)
        pids = [server.pid for server in servers]
        platform = run_phase(
            "platform",
            ports,
            pids,
            pairs,
            args,
            worker_pid=worker.pid if worker else None,
            db_name=db_name,
        )
        report(platform, args)
        print(f"    disk: {probe.summary(*platform['window'])} in {probe.directory}", flush=True)
        waited = settle(pids + ([worker.pid] if worker else []))
        print(f"    settled for {waited:.0f}s before the bare phase", flush=True)
        bare = run_phase("bare", ports, pids, pairs, args, db_name=db_name)
        report(bare, args)
        print(f"    disk: {probe.summary(*bare['window'])}", flush=True)
        ratio = platform["p99_ms"] / bare["p99_ms"] if bare["p99_ms"] else float("nan")
        console_p99 = platform["connect_ms"]["s"][1]
        print(
            f"chat_load pairs={args.pairs} p99_ms={platform['p99_ms']:.0f} "
            f"lost={platform['lost']} dup={platform['dup']} ratio_vs_bare={ratio:.2f} "
            f"reconnect_console_p99_ms={console_p99:.0f} "
            f"suggestions={platform['suggestions']['s']}",
            flush=True,
        )
    finally:
        for child in mp.active_children():
            child.terminate()
        stop_servers(servers + ([worker] if worker else []))
        if worker_log is not None:
            worker_log.close()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if probe is not None:
            probe.stop()
        try:
            admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        finally:
            if private_pg is not None:
                private_pg.stop()
            if redis is not None:
                redis.terminate()
                redis.wait(10)


if __name__ == "__main__":
    main()
