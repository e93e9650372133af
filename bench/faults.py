"""Fault suite: chats over real sockets while Redis, a worker and PostgreSQL fail.

    .venv/bin/python bench/faults.py [--pairs 100] [--after 60] [--interval 2]

What it does, and removes again at the end:
1. starts a private PostgreSQL (in /dev/shm, bench/chat_load.py's
   PrivatePostgres) and a private redis-server, both on free loopback ports;
   seeds N active chats (customer + supporter each, bench/chat_load.py's
   seed) and a few waiting contacts nobody can take;
2. starts two uvicorn workers (bench/_common.py); the two sides of each chat
   are on different workers; each side sends a message every --interval s
   and resends what was not acknowledged (same client_msg_id), as the pages do;
3. runs three faults one after another, each followed by --after s of chatting:
   (a) Redis killed and started again on the same port;
   (b) one of the two workers killed (SIGKILL) -- its clients reconnect to the
       other one, say hello with their last seq and resend -- then restarted;
   (c) PostgreSQL stopped and started again;
4. for each fault prints: messages acknowledged, lost (acknowledged, never
   reached the other side), duplicated (reached a socket twice), late
   (reached it more than 5 s after the fault ended, or only through a
   reconnect's replay on a socket that did not lose its worker), the longest
   such wait (max_silent_s), reconnects, whether every waiting contact is
   still waiting, and what /healthz answered during the fault and how soon
   it answered 200 after it;
5. ends with
   `faults redis_restart_lost=<n> worker_kill_lost=<n> pg_restart_lost=<n> max_silent_s=<n>`.

The clock of "fault ended" is when Redis or PostgreSQL answers again, or
when the worker was killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chat_load  # noqa: E402  (bench/ is on the path, as for chat_load itself)
from _common import create_database, free_port, stop_servers  # noqa: E402

LIVE_WITHIN_S = 5.0


class RestartableRedis:
    """A private redis-server on one fixed port, killed and started again at will."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--maxclients", "10000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


# --- the clients ---------------------------------------------------------------------


@dataclass
class Sent:
    phase: str
    contact: str
    sender: str  # "customer" / "supporter"
    acked_at: float | None = None
    seq: int | None = None


@dataclass
class Side:
    role: str
    pair: dict
    server: int  # index of the worker it talks to
    last_seq: int = 0
    seen: set[int] = field(default_factory=set)
    pending: dict[str, str] = field(default_factory=dict)  # client_msg_id -> body
    ws: object | None = None
    welcomed: bool = False
    reconnects: int = 0
    lost_worker: bool = False  # its worker was killed: a replay is expected


class Run:
    def __init__(self, pairs: list[dict], ports: list[int], interval: float) -> None:
        self.pairs = pairs
        self.ports = ports
        self.alive = [True, True]
        self.interval = interval
        self.phase = "warmup"
        self.sending = True
        self.sent: dict[str, Sent] = {}
        # (contact, seq, receiver role) -> [(time, live)]
        self.delivered: dict[tuple[str, int, str], list[tuple[float, bool]]] = {}
        self.reconnects: dict[str, int] = {}
        self.sides: list[Side] = []
        self.stopping = False
        self.killed_at: float | None = None  # when a worker was killed

    # one socket ---------------------------------------------------------------

    def url(self, side: Side) -> tuple[str, dict]:
        port = self.ports[side.server]
        if side.role == "customer":
            return f"ws://127.0.0.1:{port}/ws/contact/?token={side.pair['token']}", {}
        return f"ws://127.0.0.1:{port}/ws/console/", {"Cookie": f"sessionid={side.pair['session']}"}

    def hello(self, side: Side) -> dict:
        if side.role == "customer":
            return {"type": "hello", "last_seq": side.last_seq}
        return {"type": "hello", "contacts": {side.pair["contact"]: side.last_seq}}

    def note(self, side: Side, seq: int, *, live: bool, own: bool = False) -> None:
        """A message reached this socket; a client drops replays of what it has (by seq)."""
        key = (side.pair["contact"], seq, side.role)
        if seq in side.seen:
            if live and not own:  # the server sent it twice on a live socket
                self.delivered.setdefault(key, []).append((time.monotonic(), live))
            return
        side.seen.add(seq)
        while side.last_seq + 1 in side.seen:
            side.last_seq += 1
        if not own:
            self.delivered.setdefault(key, []).append((time.monotonic(), live))

    async def socket_loop(self, side: Side) -> None:
        from websockets.asyncio.client import connect

        first = True
        while not self.stopping:
            if not self.alive[side.server]:
                side.server = 1 - side.server
                side.lost_worker = True
            url, headers = self.url(side)
            try:
                ws = await connect(
                    url,
                    origin=f"http://127.0.0.1:{self.ports[0]}",
                    additional_headers=headers,
                    open_timeout=20,
                    ping_interval=None,
                    max_queue=None,
                    compression=None,
                )
            except Exception:
                await asyncio.sleep(0.5 + random.random())
                if not self.alive[side.server]:
                    continue
                side.server = 1 - side.server if random.random() < 0.3 else side.server
                continue
            if not first:
                side.reconnects += 1
                self.reconnects[self.phase] = self.reconnects.get(self.phase, 0) + 1
            first = False
            side.ws, side.welcomed = ws, False
            try:
                await ws.send(json.dumps(self.hello(side)))
                async for raw in ws:
                    await self.on_frame(side, json.loads(raw))
            except Exception:
                pass
            finally:
                side.ws, side.welcomed = None, False
            if not self.stopping:
                await asyncio.sleep(0.3 + random.random() * 0.5)

    async def on_frame(self, side: Side, frame: dict) -> None:
        kind = frame.get("type")
        contact = side.pair["contact"]
        if kind == "welcome":
            if side.role == "customer":
                messages = frame.get("messages", [])
            else:
                messages = next(
                    (
                        c.get("messages", [])
                        for c in frame.get("contacts", [])
                        if c["id"] == contact
                    ),
                    [],
                )
            for message in messages:
                self.note(side, message["seq"], live=False)
            side.welcomed = True
            await self.resend(side)
        elif kind == "message.new" and frame.get("contact") == contact:
            self.note(side, frame["message"]["seq"], live=True)
        elif kind == "message.ack":
            cmid = frame["client_msg_id"]
            side.pending.pop(cmid, None)
            sent = self.sent.get(cmid)
            if sent is not None and sent.acked_at is None:
                sent.acked_at, sent.seq = time.monotonic(), frame["seq"]
            self.note(side, frame["seq"], live=True, own=True)
        elif kind == "error" and frame.get("code") in ("unavailable", "rate_limited", "internal"):
            asyncio.get_running_loop().call_later(
                1.0, lambda: asyncio.ensure_future(self.resend(side))
            )

    async def resend(self, side: Side) -> None:
        for cmid, body in list(side.pending.items()):
            await self.send(side, cmid, body)

    async def send(self, side: Side, cmid: str, body: str) -> None:
        ws = side.ws
        if ws is None or not side.welcomed:
            return
        frame = {"type": "message.send", "client_msg_id": cmid, "body": body}
        if side.role == "supporter":
            frame["contact"] = side.pair["contact"]
        try:
            await ws.send(json.dumps(frame))
        except Exception:
            pass

    async def sender_loop(self, side: Side) -> None:
        await asyncio.sleep(random.random() * self.interval)
        tick = 0
        while not self.stopping:
            await asyncio.sleep(self.interval * (0.5 + random.random()))
            tick += 1
            if side.pending and tick % 3 == 0:
                await self.resend(side)  # an ack lost with a dropped socket
            if not self.sending or side.ws is None or not side.welcomed:
                continue
            cmid = uuid.uuid4().hex
            side.pending[cmid] = f"{side.role} {cmid[:8]}"
            self.sent[cmid] = Sent(self.phase, side.pair["contact"], side.role)
            await self.send(side, cmid, side.pending[cmid])

    async def one_message_each(self) -> None:
        """One message from every open side now (a quiet chat's next message)."""
        for side in self.sides:
            if side.ws is None or not side.welcomed:
                continue
            cmid = uuid.uuid4().hex
            side.pending[cmid] = f"{side.role} {cmid[:8]}"
            self.sent[cmid] = Sent(self.phase, side.pair["contact"], side.role)
            await self.send(side, cmid, side.pending[cmid])

    def start(self) -> list[asyncio.Task]:
        tasks = []
        for i, pair in enumerate(self.pairs):
            customer = Side("customer", pair, server=i % 2)
            supporter = Side("supporter", pair, server=(i + 1) % 2)
            for side in (customer, supporter):
                self.sides.append(side)
                tasks.append(asyncio.ensure_future(self.socket_loop(side)))
                tasks.append(asyncio.ensure_future(self.sender_loop(side)))
        return tasks

    def all_open(self) -> bool:
        return all(side.ws is not None and side.welcomed for side in self.sides)

    # figures -------------------------------------------------------------------

    def figures(self, phase: str, fault_end: float, killed_server: int | None) -> dict:
        acked = [s for s in self.sent.values() if s.phase == phase and s.acked_at is not None]
        unacked = sum(1 for s in self.sent.values() if s.phase == phase and s.acked_at is None)
        lost = dup = late = replayed = 0
        silent = 0.0
        for s in acked:
            receiver = "supporter" if s.sender == "customer" else "customer"
            got = self.delivered.get((s.contact, s.seq, receiver), [])
            if not got:
                lost += 1
                continue
            if len(got) > 1:
                dup += 1
            at, live = got[0]
            wait = at - max(s.acked_at, fault_end)
            silent = max(silent, wait)
            side = next(
                x for x in self.sides if x.role == receiver and x.pair["contact"] == s.contact
            )
            # A replay is expected on a socket whose worker was killed, for
            # whatever it had not yet been sent then (even from the phase before).
            excused = side.lost_worker and self.killed_at is not None and at >= self.killed_at
            if wait > LIVE_WITHIN_S or (not live and not excused):
                late += 1
                replayed += 0 if live else 1
        return {
            "acked": len(acked),
            "unacked": unacked,
            "lost": lost,
            "dup": dup,
            "late": late,
            "late_replayed": replayed,  # of the late: reached only through a welcome replay
            "max_silent_s": round(max(silent, 0.0), 2),
            "reconnects": self.reconnects.get(phase, 0),
        }


# --- faults ------------------------------------------------------------------------


def waiting_ok(contact_ids: list[int]) -> tuple[int, int]:
    from helpdesk.models import Contact
    from helpdesk.models.contacts import TERMINAL_STATES

    states = dict(Contact.objects.filter(pk__in=contact_ids).values_list("pk", "state"))
    ok = sum(1 for pk in contact_ids if states.get(pk) and states[pk] not in TERMINAL_STATES)
    return ok, len(contact_ids)


def enqueue_waiting(n: int) -> list[int]:
    from routing.services import enqueue_contact

    return [
        enqueue_contact(
            channel="chat", language="sv", municipality_code=None, topic_slug=None, consent=True
        ).pk
        for _ in range(n)
    ]


def healthz(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=15) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


async def health_after(port: int, within: float = 30.0) -> float:
    """Seconds until /healthz answers 200 (the fault just ended)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await asyncio.to_thread(healthz, port) == 200:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return float("inf")


async def wait_until(predicate, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.2)
    return predicate()


async def main_async(args, pairs, ports, servers, redis, pg, db_name, waiting) -> dict:
    run = Run(pairs, ports, args.interval)
    tasks = run.start()
    results: dict[str, dict] = {}
    health: dict[str, list] = {}  # phase -> [/healthz during the fault, s until 200 after]
    try:
        if not await wait_until(run.all_open, 60):
            print("warning: not every socket was open after 60 s", flush=True)
        await asyncio.sleep(args.warmup)

        # (a) Redis restarted while the chats are quiet (no later message
        # can fill a gap), then one message from every side at once: each
        # must arrive live within LIVE_WITHIN_S; then chatting goes on.
        run.phase = "redis_restart"
        run.sending = False
        await asyncio.sleep(1.0)
        redis.kill()
        await asyncio.sleep(args.down)
        health["redis_restart"] = [await asyncio.to_thread(healthz, ports[1])]
        await asyncio.to_thread(redis.start)
        fault_end = time.monotonic()
        await run.one_message_each()
        health["redis_restart"].append(await health_after(ports[1]))
        await asyncio.sleep(LIVE_WITHIN_S + 1)
        run.sending = True
        await asyncio.sleep(args.after)
        results["redis_restart"] = (fault_end, None)

        # (b) One of two workers killed during chats, then started again.
        run.phase = "worker_kill"
        victim = 1
        servers[victim].send_signal(signal.SIGKILL)
        servers[victim].wait(10)
        run.alive[victim] = False
        fault_end = run.killed_at = time.monotonic()
        await asyncio.sleep(args.after)
        servers[victim] = await asyncio.to_thread(
            chat_load.start_server, db_name, ports[victim], ticker=False
        )
        run.alive[victim] = True
        results["worker_kill"] = (fault_end, victim)

        # (c) PostgreSQL stopped and started again (chatting goes on: the
        # messages sent meanwhile are refused `unavailable` and resent).
        run.phase = "pg_restart"
        await asyncio.to_thread(pg.halt)
        await asyncio.sleep(args.down)
        health["pg_restart"] = [await asyncio.to_thread(healthz, ports[1])]
        await asyncio.to_thread(pg.resume)
        fault_end = time.monotonic()
        health["pg_restart"].append(await health_after(ports[1]))
        run.sending = False
        await asyncio.sleep(1.0)
        await run.one_message_each()
        await asyncio.sleep(LIVE_WITHIN_S + 1)
        run.sending = True
        await asyncio.sleep(args.after)
        results["pg_restart"] = (fault_end, None)

        # Drain: no new messages; wait for acks and deliveries to settle.
        run.phase = "drain"
        run.sending = False
        await wait_until(lambda: not any(s.pending for s in run.sides), 20)
        await asyncio.sleep(3)
    finally:
        run.stopping = True
        for side in run.sides:
            if side.ws is not None:
                try:
                    await side.ws.close()
                except Exception:
                    pass
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ok, total = await asyncio.to_thread(waiting_ok, waiting)
    figures = {}
    for phase, (fault_end, killed) in results.items():
        figures[phase] = run.figures(phase, fault_end, killed)
        figures[phase]["waiting_ok"] = f"{ok}/{total}"
        during, back = health.get(phase, ["-", "-"])
        figures[phase]["healthz"] = f"{during}->200_in_{back:.1f}s" if back != "-" else "-"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--after", type=float, default=60.0, help="chatting after each fault, s")
    parser.add_argument("--interval", type=float, default=2.0, help="mean s between messages")
    parser.add_argument("--down", type=float, default=2.0, help="how long Redis/PostgreSQL is down")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--waiting", type=int, default=3, help="waiting contacts to keep")
    args = parser.parse_args()

    pg = chat_load.PrivatePostgres()
    redis = RestartableRedis()
    servers: list[subprocess.Popen] = []
    try:
        chat_load.PG = pg.start()
        redis.start()
        db_name = f"helpdesk_bench_faults_{uuid.uuid4().hex[:8]}"
        create_database(chat_load.PG, db_name)
        chat_load.setup_django(db_name, redis.url)
        os.environ.setdefault("CHANNEL_LAYER_PREFIX", "helpdesk-faults")
        pairs = chat_load.seed(args.pairs)
        waiting = enqueue_waiting(args.waiting)
        from django.db import connections

        connections.close_all()
        ports = [free_port(), free_port()]
        servers = [
            chat_load.start_server(db_name, ports[0], ticker=True),
            chat_load.start_server(db_name, ports[1], ticker=False),
        ]
        print(
            f"faults: {args.pairs} chats on 2 workers, {args.after:.0f} s after each fault, "
            f"a message every {args.interval} s per side",
            flush=True,
        )
        figures = asyncio.run(main_async(args, pairs, ports, servers, redis, pg, db_name, waiting))
        connections.close_all()
    finally:
        stop_servers(servers)
        redis.kill()
        pg.stop()
    for phase, f in figures.items():
        print(
            f"{phase}: acked={f['acked']} lost={f['lost']} dup={f['dup']} late={f['late']} "
            f"late_replayed={f['late_replayed']} "
            f"max_silent_s={f['max_silent_s']} reconnects={f['reconnects']} "
            f"unacked={f['unacked']} waiting_ok={f['waiting_ok']} healthz={f['healthz']}"
        )
    silent = max(f["max_silent_s"] for f in figures.values())
    print(
        f"faults redis_restart_lost={figures['redis_restart']['lost']} "
        f"worker_kill_lost={figures['worker_kill']['lost']} "
        f"pg_restart_lost={figures['pg_restart']['lost']} max_silent_s={silent:.1f}"
    )


if __name__ == "__main__":
    main()
