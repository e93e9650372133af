"""Routing benchmark: the pure decision's cost, then enqueue -> offer over real sockets.

    .venv/bin/python bench/routing.py [--supporters 100] [--burst 500] [--servers 2]

What it does, and stops and drops again at the end:
1. times routing.engine.decide on a snapshot of 1,000 waiting contacts and
   300 supporters, then on a national surge of 10,000 contacts and 1,000
   supporters (p50/p99 over repeated rounds; no database);
2. creates a database on the local PostgreSQL, migrates it, loads the
   reference data and the default workflows, and seeds one provider per region
   plus Kansalaisneuvonta and N supporters with login sessions;
3. starts 1-2 uvicorn processes on loopback (REDIS_URL redis://127.0.0.1:6379/0,
   the routing ticker running in each), behind one reverse proxy as in
   production (README "Production shape", TRUSTED_PROXY_COUNT=1);
4. connects the supporters over /ws/console/ and marks them available;
5. fires a burst of contacts within one second at POST /api/contacts/ and
   measures, per contact, from its enqueue (the row's created_at) to the
   `offer.new` frame reaching the supporter's socket, and each request from
   its scheduled moment to its answer (creation); supporters accept what
   they are offered;
   The customers reach the workers as through the production proxy
   (bench/_proxy.py): the proxy reuses keep-alive connections to each worker
   (BENCH_PROXY_KEEPALIVE idle ones kept per worker, nginx's `keepalive`,
   default 32) and passes each customer's own address in X-Forwarded-For,
   which helpdesk/client_address.py trusts as the client's behind one proxy.
   A customer's creation time still runs from the scheduled press to the
   answer, the wait for a free connection included. BENCH_PROXY=0 connects
   each customer straight to a worker instead, a new connection per request
   from their own loopback address (no proxy, TRUSTED_PROXY_COUNT=0);
6. counts the offers each contact got (once, more, never), double assignments
   and lost contacts in the database and prints, as
   its last line,
   `routing decide_p99_ms=<n> decide10k_p99_ms=<n> create_p99_ms=<n> offer_p99_ms=<n>
   double_assignments=<n> lost=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import _common
from _common import ROOT, create_database, free_port, percentile, start_uvicorn, stop_servers
from _common import admin_sql as _admin_sql
from _proxy import DEFAULT_KEEPALIVE, TRUSTED_PROXY_COUNT, UpstreamPool

sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "200"))
BEHIND_PROXY = os.environ.get("BENCH_PROXY", "1") != "0"
PROXY_KEEPALIVE = int(os.environ.get("BENCH_PROXY_KEEPALIVE", str(DEFAULT_KEEPALIVE)))


# --- (a) the pure decision ----------------------------------------------------------


def synthetic_snapshot(contacts: int, supporters: int, seed: int = 1):
    from routing import types

    rng = random.Random(seed)
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    regions = [f"{i:02d}" for i in range(1, 20)]
    areas = {r: f"area-{int(r) % 9}" for r in regions}
    municipalities = {r: [f"{int(r) * 10 + k:03d}" for k in range(8)] for r in regions}
    providers = [
        types.ProviderState(
            id=i + 1,
            is_national=False,
            municipalities=frozenset(municipalities[r]),
            regions=frozenset({r}),
            development_areas=frozenset({areas[r]}),
            channels=frozenset({"chat", "phone", "video"}),
            languages=frozenset({"fi", "sv", "en"} if i % 3 == 0 else {"fi", "en"}),
            is_open=True,
        )
        for i, r in enumerate(regions)
    ]
    national = types.ProviderState(
        id=100,
        is_national=True,
        municipalities=frozenset(),
        regions=frozenset(),
        development_areas=frozenset(),
        channels=frozenset({"chat", "phone"}),
        languages=frozenset({"fi", "sv", "en"}),
        is_open=True,
    )
    providers.append(national)
    topics = ["banking", "kela", "omavero", "smartphone", "email-accounts", "security-scams"]
    staff = []
    for i in range(supporters):
        provider = providers[i % len(providers)]
        staff.append(
            types.SupporterState(
                id=i + 1,
                provider_ids=frozenset({provider.id}),
                presence=rng.choice(["available"] * 6 + ["busy", "away"]),
                languages=frozenset(rng.sample(["fi", "sv", "en"], rng.randint(1, 3))),
                skills=frozenset(rng.sample(topics, 3)),
                capacity={"chat": 3, "phone": 1, "video": 1},
                load={"chat": rng.randint(0, 3)},
                idle_since=now - timedelta(seconds=rng.randint(0, 3600)),
            )
        )
    waiting = []
    for i in range(contacts):
        region = rng.choice(regions)
        waited = rng.randint(0, 900)
        waiting.append(
            types.WaitingContact(
                id=i + 1,
                channel=rng.choice(["chat"] * 6 + ["phone", "video"]),
                language=rng.choice(["fi"] * 7 + ["sv", "sv", "en"]),
                municipality=rng.choice(municipalities[region]),
                region=region,
                development_area=areas[region],
                topic=rng.choice(topics + [None]),
                priority=10 if rng.random() < 0.05 else 0,
                waiting_since=now - timedelta(seconds=waited),
                workflow_id=1,
                step_index=0,
                step_started_at=now - timedelta(seconds=waited),
            )
        )
    return types.Snapshot(
        now=now,
        contacts=tuple(waiting),
        supporters=tuple(staff),
        providers=tuple(providers),
        workflows={1: types.Workflow(1, types.DEFAULT_STEPS)},
        handle_time_s={"chat": 600.0, "phone": 480.0, "video": 900.0},
    )


def bench_decide(
    rounds: int = 60, contacts: int = 1000, supporters: int = 300
) -> tuple[float, float, int]:
    from routing.engine import decide

    snapshot = synthetic_snapshot(contacts, supporters)
    decide(snapshot)  # warm-up
    times, offers = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        decision = decide(snapshot)
        times.append((time.perf_counter() - started) * 1000)
        offers = len(decision.offers)
    return percentile(times, 0.5), percentile(times, 0.99), offers


# --- (b) against running servers ----------------------------------------------------


def admin_sql(sql: str) -> None:
    _admin_sql(PG, sql)


def setup_django(db_name: str, secret: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{db_name}"
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["SECRET_KEY"] = secret
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ROUTING_TICKER_ENABLED"] = "0"
    import django

    django.setup()


def seed(supporters: int) -> tuple[list[str], list[str]]:
    """Providers per region, supporters with sessions; returns (sessions, municipality codes)."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.utils import timezone

    from helpdesk.models import Municipality, Provider, Region, Supporter
    from routing.workflows import ensure_default_workflows

    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_reference_data", "--no-postal-codes", stdout=open(os.devnull, "w"))  # noqa: SIM115
    ensure_default_workflows()
    providers = []
    for region in Region.objects.exclude(code="21").order_by("code"):
        provider = Provider.objects.create(
            slug=f"bench-{region.code}",
            name=f"Bench {region.code}",
            kind="library",
            channels=["chat", "phone"],
            languages=["fi", "sv", "en"],
        )
        provider.service_regions.add(region)
        providers.append(provider)
    providers.append(
        Provider.objects.create(
            slug="bench-national",
            name="Kansalaisneuvonta (bench)",
            kind="national",
            is_national=True,
            channels=["chat", "phone"],
            languages=["fi", "sv", "en"],
        )
    )
    User = get_user_model()
    tag = uuid.uuid4().hex[:6]
    users = []
    for i in range(supporters):
        user = User(username=f"route-{tag}-{i}")
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users)
    rows = Supporter.objects.bulk_create(
        Supporter(
            user=u,
            kind="staff",
            display_name=f"Tuki {i}",
            languages=["fi", "sv", "en"],
            capacity_chat=12,
        )
        for i, u in enumerate(users)
    )
    through = Supporter.providers.through
    through.objects.bulk_create(
        through(supporter_id=s.pk, provider_id=providers[i % (len(providers) - 1)].pk)
        for i, s in enumerate(rows)
    )
    now = timezone.now()
    sessions = []
    keys = []
    for user in users:
        key = uuid.uuid4().hex
        data = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
        sessions.append(
            Session(
                session_key=key,
                session_data=SessionStore().encode(data),
                expire_date=now + timedelta(days=1),
            )
        )
        keys.append(key)
    Session.objects.bulk_create(sessions)
    served = Provider.service_regions.through.objects.values_list("region_id", flat=True)
    codes = list(Municipality.objects.filter(region_id__in=served).values_list("code", flat=True))
    _common.analyze()
    return keys, codes


def start_server(
    db_name: str, port: int, secret: str, *, behind_proxy: bool = False
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
        # The bench signs supporters in with seeded sessions, without a second factor.
        "TWO_FACTOR_REQUIRED": "0",
        "ROUTING_TICKER_ENABLED": "1",
        "ROUTING_OFFER_TIMEOUT_S": "300",
        "CONTACT_CREATE_RATE_LIMIT": "100000/minute",
        "TRUSTED_PROXY_COUNT": TRUSTED_PROXY_COUNT if behind_proxy else "0",
    }
    return start_uvicorn(port, env, log_name="bench-routing", timeout_s=90)


async def post_contact(port: int, body: dict, source: str) -> tuple[int, dict]:
    payload = json.dumps(body).encode()
    # Customers come from many addresses; the per-address creation limit
    # (10/minute) would otherwise refuse a burst from one.
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(
            (
                f"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            + payload
        )
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=60)
    finally:
        writer.close()
    head, _, data = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        data = _unchunk(data)
    try:
        return status, json.loads(data or b"{}")
    except ValueError:
        return status, {}


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


async def run_burst(ports: list[int], sessions: list[str], codes: list[str], burst: int) -> dict:
    from websockets.asyncio.client import connect

    offers: dict[str, float] = {}
    offer_ids: dict[int, list[int]] = {}
    accepted: list[int] = []
    sockets = []
    sockets_by_index: dict[int, object] = {}
    limit = asyncio.Semaphore(40)

    async def console(i: int, key: str) -> None:
        port = ports[i % len(ports)]
        async with limit:
            ws = await connect(
                f"ws://127.0.0.1:{port}/ws/console/",
                origin=f"http://127.0.0.1:{port}",
                additional_headers={"Cookie": f"sessionid={key}"},
                open_timeout=30,
                ping_interval=None,
                max_queue=None,
            )
            sockets.append(ws)
            sockets_by_index[i] = ws
            await ws.send(json.dumps({"type": "hello", "contacts": {}}))
            while json.loads(await ws.recv()).get("type") != "welcome":
                pass
            await ws.send(json.dumps({"type": "presence.set", "presence": "available"}))
            while json.loads(await ws.recv()).get("type") != "presence":
                pass
        ready.set()
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "offer.new":
                offers.setdefault(frame["contact"]["id"], time.time())
                # Accepted after the measurement: a consumer handles one frame at a
                # time, so accepting at once would delay this socket's next offer.
                offer_ids.setdefault(i, []).append(frame["offer"])
            elif frame.get("type") == "contact.assigned":
                accepted.append(1)

    ready = asyncio.Event()
    readers = [asyncio.create_task(console(i, key)) for i, key in enumerate(sessions)]
    deadline = time.monotonic() + 120
    while len(sockets) < len(sessions) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # presence committed everywhere, a tick or two passed

    rng = random.Random(5)
    started = time.time()
    results: list[tuple[int, dict]] = []
    # Arrivals are scheduled evenly over one second; at most IN_FLIGHT requests
    # are open at once so that the servers' per-request database connections
    # stay under PostgreSQL's max_connections (production puts a pooler there).
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    proxy = UpstreamPool(keepalive=PROXY_KEEPALIVE) if BEHIND_PROXY else None

    create_ms: list[float] = []

    async def one(n: int) -> None:
        await asyncio.sleep(n / burst)
        body = {
            "language": "fi",
            "municipality": rng.choice(codes),
            "consent": True,
            "description": "",
        }
        source = f"127.0.{1 + n // 200}.{1 + (n // 5) % 200}"
        # Creation time as the customer feels it: from pressing "start chat"
        # (the scheduled moment) to the answer, waiting for a free slot included.
        pressed = time.perf_counter()
        async with in_flight:
            port = ports[n % len(ports)]
            if proxy is not None:
                results.append(await proxy.post(port, "/api/contacts/", body, source))
            else:
                results.append(await post_contact(port, body, source))
        create_ms.append((time.perf_counter() - pressed) * 1000)

    await asyncio.gather(*(one(n) for n in range(burst)))
    burst_s = time.time() - started
    if proxy is not None:
        await proxy.close()
    created = [r[1]["contact"]["id"] for r in results if r[0] == 201]
    wait_until = time.monotonic() + 60
    while time.monotonic() < wait_until and len(set(created) & set(offers)) < len(created):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    # Now every supporter accepts what they were offered, twice over (a double
    # click), which must still give one assignment per contact.
    by_index = sockets_by_index
    for i, ids in offer_ids.items():
        ws = by_index.get(i)
        for offer_id in ids:
            for _ in range(2):
                await ws.send(json.dumps({"type": "offer.accept", "offer": offer_id}))
    settle = time.monotonic() + 60
    total = sum(len(ids) for ids in offer_ids.values())
    while len(accepted) < total and time.monotonic() < settle:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return {
        "offers": offers,
        "created": created,
        "statuses": [r[0] for r in results],
        "burst_s": burst_s,
        "create_ms": create_ms,
        "accepted": len(accepted),
        "connections": proxy.opened if proxy is not None else burst,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supporters", type=int, default=100)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--servers", type=int, default=2, choices=[1, 2])
    parser.add_argument(
        "--surge-rounds", type=int, default=30, help="rounds of the 10,000 x 1,000 decision"
    )
    args = parser.parse_args()

    decide_p50, decide_p99, offers = bench_decide()
    print(
        f"decide: 1000 contacts x 300 supporters, {offers} offers per round, "
        f"p50={decide_p50:.1f} ms p99={decide_p99:.1f} ms"
    )
    surge_p50, surge_p99, surge_offers = bench_decide(
        rounds=max(1, args.surge_rounds), contacts=10_000, supporters=1_000
    )
    print(
        f"decide: 10000 contacts x 1000 supporters, {surge_offers} offers per round, "
        f"p50={surge_p50:.1f} ms p99={surge_p99:.1f} ms"
    )

    db_name = f"helpdesk_bench_routing_{os.getpid()}"
    secret = "bench-" + uuid.uuid4().hex * 2
    admin_sql(f"DROP DATABASE IF EXISTS {db_name}")
    create_database(PG, db_name)
    servers: list[subprocess.Popen] = []
    try:
        setup_django(db_name, secret)
        sessions, codes = seed(args.supporters)
        ports = [free_port() for _ in range(args.servers)]
        servers = [start_server(db_name, port, secret, behind_proxy=BEHIND_PROXY) for port in ports]
        outcome = asyncio.run(run_burst(ports, sessions, codes, args.burst))

        from django.db import connection

        from helpdesk.models import Contact
        from routing import store

        connection.close()
        created_at = dict(
            Contact.objects.filter(public_id__in=outcome["created"]).values_list(
                "public_id", "created_at"
            )
        )
        latencies = []
        for public_id in outcome["created"]:
            at = created_at.get(uuid.UUID(public_id))
            got = outcome["offers"].get(public_id)
            if at is not None and got is not None:
                latencies.append((got - at.timestamp()) * 1000)
        from django.db.models import Min

        first_offer = dict(
            Contact.objects.filter(public_id__in=outcome["created"])
            .annotate(first=Min("offers__created_at"))
            .values_list("public_id", "first")
        )
        row_latencies = [
            (first_offer[p] - created_at[p]).total_seconds() * 1000
            for p in created_at
            if first_offer.get(p) is not None
        ]
        states = dict(
            Contact.objects.filter(public_id__in=outcome["created"]).values_list(
                "public_id", "state"
            )
        )
        lost = sum(
            1
            for public_id in outcome["created"]
            if states.get(uuid.UUID(public_id)) not in ("waiting", "offered", "active")
        )
        double = store.double_assignments() + store.overlapping_assignments()
        from django.db.models import Count

        offer_counts = Counter(
            n
            for n in Contact.objects.filter(public_id__in=outcome["created"])
            .annotate(n=Count("offers"))
            .values_list("n", flat=True)
        )
        refused = sum(1 for s in outcome["statuses"] if s != 201)
        offer_p50, offer_p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(
            f"burst: {len(outcome['created'])} contacts created in {outcome['burst_s']:.2f} s "
            f"({refused} refused) over {len(ports)} servers, {args.supporters} supporters; "
            f"{len(latencies)} offers seen, {outcome['accepted']} accepted"
        )
        print(
            f"enqueue->Offer row (routing alone): p50={percentile(row_latencies, 0.5):.0f} ms "
            f"p99={percentile(row_latencies, 0.99):.0f} ms"
        )
        print(
            f"enqueue->offer.new: p50={offer_p50:.0f} ms p99={offer_p99:.0f} ms "
            f"max={max(latencies, default=float('nan')):.0f} ms"
        )
        more = sum(c for n, c in offer_counts.items() if n > 1)
        print(
            f"offers per contact: once={offer_counts.get(1, 0)} "
            f"more={more} never={offer_counts.get(0, 0)}"
        )
        create = outcome["create_ms"]
        create_p99 = percentile(create, 0.99)
        print(
            f"create: {len(create)} requests, p50={percentile(create, 0.5):.0f} ms "
            f"p99={create_p99:.0f} ms max={max(create, default=float('nan')):.0f} ms "
            f"({refused} refused); "
            + (
                f"through the proxy, {outcome['connections']} upstream connections"
                if BEHIND_PROXY
                else "a connection each, no proxy"
            )
        )
        print(
            f"routing decide_p99_ms={decide_p99:.1f} decide10k_p99_ms={surge_p99:.1f} "
            f"create_p99_ms={create_p99:.0f} offer_p99_ms={offer_p99:.0f} "
            f"double_assignments={double} lost={lost}"
        )
    finally:
        stop_servers(servers, timeout_s=20)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - best effort before dropping
            pass
        admin_sql(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


if __name__ == "__main__":
    main()
