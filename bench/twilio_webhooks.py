"""Twilio webhook benchmark: signed voice webhooks at a fixed rate while chat pairs run.

    .venv/bin/python bench/twilio_webhooks.py [--rate 200] [--duration 30] [--pairs 500]

What it does, and stops and drops again at the end:
1. creates a database on the local PostgreSQL, migrates it, loads the
   reference data and a phone network (Pohjois-Karjala and a national
   provider), and seeds --pairs active chat pairs (bench/chat_load.py's seed);
2. starts --servers uvicorn processes (default 2) with the phone channel on
   and a private redis-server, as chat_load does;
3. runs chat_load's platform phase (its client code, imported) so the chat
   pairs talk through the whole run, and meanwhile
4. places simulated calls with the Twilio stand-in's call driver
   (realtime/telephony/driver.py): every request is signed as Twilio signs it
   and sent open loop at --rate per second (a slow server does not slow the
   sender down; latency runs from the intended send time), each call going
   through the greeting, the menus, the queue's wait loop and its status
   callback, spread over both servers;
5. prints webhook latency p50/p99, errors (anything but 200/204, or TwiML the
   driver refuses) and the chat pairs' figures, and as its last line
   `twilio_webhooks rps=<n> p99_ms=<n> errors=<n>`.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import chat_load
from _common import create_database, database_pids, free_port, percentile, stop_servers

PUBLIC = "https://tuki.example.fi"
PHONE_ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
    "TWILIO_AUTH_TOKEN": "bench-auth-token-" + "c" * 16,
    "TWILIO_PHONE_NUMBER": "+358291234567",
    "PUBLIC_BASE_URL": PUBLIC,
    # Announce on every wait turn, so that the wait webhook does its full work.
    "PHONE_ANNOUNCE_EVERY_S": "0",
}
CALLERS = ["+358131234567", "+358401234567", "+35891234567", "+358171234567"]


class Pacer:
    """Open-loop schedule: request i may leave at t0 + i / rate, never earlier."""

    def __init__(self, rate: float, t0: float, duration: float):
        self.rate, self.t0, self.end = rate, t0, t0 + duration
        self._next = itertools.count()
        self._lock = threading.Lock()

    def slot(self) -> float | None:
        with self._lock:
            at = self.t0 + next(self._next) / self.rate
        if at >= self.end:
            return None
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return at


class Stop(Exception):
    pass


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (every core, every user)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Budget:
    """Where the CPU goes over a window, per process group, in cores (1.0 = one core).

    The servers serve both the chat pairs and the webhooks; a window with the
    chat alone before the webhooks start tells the two apart. "bench" is this
    process (the webhook sender's threads); "machine" is every process on
    the machine, including other people's.
    """

    def __init__(self, servers: list[int], db_name: str, redis_pid: int | None):
        self.servers, self.db_name, self.redis_pid = servers, db_name, redis_pid

    def _read(self) -> dict[str, float]:
        def total(pids) -> float:
            seconds = 0.0
            for pid in pids:
                try:
                    seconds += chat_load.cpu_s(pid)
                except (OSError, IndexError, ValueError):
                    pass  # a backend that just ended
            return seconds

        return {
            "servers": total(self.servers),
            "chat_clients": total(p.pid for p in mp.active_children()),
            "postgres": total(database_pids(self.db_name)),
            "redis": total([self.redis_pid] if self.redis_pid else []),
            "bench": time.process_time(),
            "machine": _machine_busy_s(),
            "at": time.monotonic(),
        }

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        span = max(1e-6, end["at"] - self._start["at"])
        return {k: (end[k] - self._start[k]) / span for k in end if k != "at"}


def budget_line(name: str, cores: dict[str, float]) -> str:
    return f"cpu {name}: " + " ".join(f"{k}={v:.2f}" for k, v in cores.items()) + " (cores)"


def make_transport(ports: list[int], pacer: Pacer, results: dict):
    from realtime.telephony.driver import HttpTransport, Transport

    turn = itertools.count()
    transports = [
        HttpTransport(PUBLIC, f"http://127.0.0.1:{p}", proxy_proto="https") for p in ports
    ]

    class Paced(Transport):
        def post(self, url, params, headers):
            at = pacer.slot()
            if at is None:
                raise Stop
            target = transports[next(turn) % len(transports)]
            try:
                status, body = target.post(url, params, headers)
            except OSError:
                status, body = 599, ""
            done = time.monotonic()
            with results["lock"]:
                results["latencies"].append(done - at)
                results["sent"] += 1
                if status not in (200, 204):
                    results["errors"] += 1
                    results["codes"][status] = results["codes"].get(status, 0) + 1
            return status, body

    return Paced()


def place_calls(driver, rounds: int, results: dict) -> None:
    from realtime.telephony.driver import TwilioError

    for n in itertools.count():
        call = driver.call(CALLERS[n % len(CALLERS)], digits=["1", "1"])
        try:
            if call.start() == "queued":
                for _ in range(rounds):
                    call.wait_round()
                call.hang_up()
        except Stop:
            return
        except TwilioError:
            with results["lock"]:
                results["refused"] += 1
        finally:
            driver.calls.pop(call.sid, None)
            driver.fetched.clear()


def seed_phone_network() -> None:
    from helpdesk.models import Provider, Region
    from helpdesk.reference import load_reference_data

    load_reference_data(postal_codes=False)
    regional = Provider.objects.create(
        slug="bench-pk", name="Bench PK", kind="library", channels=["phone"], languages=["fi"]
    )
    regional.service_regions.set(Region.objects.filter(code="12"))
    Provider.objects.create(
        slug="bench-national",
        name="Bench national",
        kind="national",
        is_national=True,
        channels=["phone"],
        languages=["fi", "sv", "en"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="webhook requests per second")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--pairs", type=int, default=500, help="chat pairs running meanwhile")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=64, help="sender threads")
    parser.add_argument("--wait-rounds", type=int, default=3, help="wait-loop turns per call")
    parser.add_argument("--interval", type=float, default=5.0, help="chat: seconds between sends")
    parser.add_argument("--clients", type=int, default=2, help="chat client processes")
    parser.add_argument(
        "--chat-alone", type=float, default=5.0, help="seconds of chat alone, for the CPU budget"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    db_name = f"helpdesk_bench_{os.getpid()}"
    servers = []
    worker = worker_log = None
    redis = None
    try:
        create_database(chat_load.PG, db_name)
        redis, redis_url = chat_load.start_redis()
        os.environ.update(PHONE_ENV)
        chat_load.setup_django(db_name, redis_url)
        pairs = chat_load.seed(args.pairs)
        seed_phone_network()
        from django.db import connections

        connections.close_all()
        # As deployed: knowledge suggestions for the chats come from their own process.
        worker, worker_log = chat_load.start_suggestion_worker(db_name)
        chat_load.wait_for_suggestion_worker(worker)
        print(f"suggestion worker pid {worker.pid}", flush=True)
        ports = [free_port() for _ in range(max(1, args.servers))]
        for port in ports:
            servers.append(chat_load.start_server(db_name, port, ticker=False))
            print(f"server pid {servers[-1].pid} on port {port}", flush=True)
        pids = [s.pid for s in servers]

        # The chat pairs run through the whole webhook window (plus their connect time).
        chat_args = argparse.Namespace(
            clients=args.clients,
            interval=args.interval,
            duration=args.duration + 2.0 + args.chat_alone,
            suggest="worker",
        )
        chat: dict = {}
        chat_thread = threading.Thread(
            target=lambda: chat.update(
                chat_load.run_phase("platform", ports, pids, pairs, chat_args, db_name=db_name)
            ),
            daemon=True,
        )
        chat_thread.start()
        time.sleep(min(60.0, 2.0 + args.pairs * 0.03))  # let the chat sockets connect
        budget = Budget(pids, db_name, redis.pid if redis is not None else None)
        budget.start()
        time.sleep(args.chat_alone)
        chat_alone = budget.stop()

        from realtime.telephony.driver import CallDriver

        results = {"lock": threading.Lock(), "latencies": [], "sent": 0, "errors": 0, "codes": {}}
        results["refused"] = 0
        pacer = Pacer(args.rate, time.monotonic() + 0.5, args.duration)
        driver_of = []
        for _ in range(args.workers):
            driver_of.append(
                CallDriver(
                    public_base_url=PUBLIC,
                    auth_token=PHONE_ENV["TWILIO_AUTH_TOKEN"],
                    account_sid=PHONE_ENV["TWILIO_ACCOUNT_SID"],
                    platform_number=PHONE_ENV["TWILIO_PHONE_NUMBER"],
                    transport=make_transport(ports, pacer, results),
                )
            )
        started = time.monotonic()
        budget.start()
        with ThreadPoolExecutor(args.workers) as pool:
            for future in [
                pool.submit(place_calls, d, args.wait_rounds, results) for d in driver_of
            ]:
                future.result()
        # Requests were scheduled over --duration; when the server fell behind,
        # the last ones left later, and the rate counts the time they took.
        elapsed = max(args.duration, time.monotonic() - started - 0.5)
        with_webhooks = budget.stop()
        chat_thread.join(args.duration + 300)

        lat = results["latencies"]
        rps = results["sent"] / elapsed
        errors = results["errors"] + results["refused"]
        print(
            f"webhooks: sent={results['sent']} ({rps:.0f}/s, target {args.rate:.0f}/s) "
            f"p50={percentile(lat, 0.5) * 1000:.1f}ms p99={percentile(lat, 0.99) * 1000:.1f}ms "
            f"max={max(lat, default=float('nan')) * 1000:.0f}ms errors={errors} "
            f"{results['codes'] or ''}",
            flush=True,
        )
        print(budget_line(f"chat alone ({args.chat_alone:.0f} s)", chat_alone), flush=True)
        print(budget_line("chat and webhooks", with_webhooks), flush=True)
        if chat:
            chat_load.report(chat, chat_args)
        else:
            print("chat pairs: no result (the chat phase failed, see above)", flush=True)
            errors += 1
        print(
            f"twilio_webhooks rps={rps:.0f} p99_ms={percentile(lat, 0.99) * 1000:.0f} "
            f"errors={errors}",
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
        try:
            chat_load.admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        finally:
            if redis is not None:
                redis.terminate()
                redis.wait(10)


if __name__ == "__main__":
    main()
