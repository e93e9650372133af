"""Cost of one routing round with a long queue: a full read against the kept state.

    .venv/bin/python bench/routing_rounds.py [--waiting 500] [--arrivals 5] [--departures 2]
                                             [--processes 2] [--rounds 40]

Creates a database on the local PostgreSQL, seeds it as bench/routing.py does
(one provider per region, Kansalaisneuvonta, 100 supporters, all busy so that
nobody is offered anything and the queue stays long), queues ``--waiting``
contacts, then runs ``--rounds`` rounds that read everything
(``routing.snapshot.load``) and as many that use the kept state
(``routing.incremental``), back to back; before each, ``--arrivals`` contacts
arrive and the ``--departures`` longest-waiting ones leave, so everyone behind
them moves up. Each round stands for one tick (ROUTING_TICK_S, a second, the
position frame interval), so a round stores every position that moved. The
kept rounds take turns between ``--processes`` kept states, as the workers'
tickers do through the dispatch lock: each then sees the positions the others
stored. It
prints, per kind, the database reads of the snapshot and the round's CPU time
of this thread (p50/p99; wall-clock is noisy on a shared machine), and as its
last line `routing_rounds waiting=<n> full_cpu_p50_ms=<n> kept_cpu_p50_ms=<n>
full_load_cpu_p50_ms=<n> kept_load_cpu_p50_ms=<n>`. Drops its database at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import uuid

from _common import ROOT, create_database, percentile

sys.path.insert(0, str(ROOT))


def _seeding():
    """bench/routing.py's set-up, loaded under a name that is not the routing package."""
    spec = importlib.util.spec_from_file_location("bench_routing", ROOT / "bench" / "routing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def queue(n: int, codes: list[str], rng) -> None:
    from django.utils import timezone

    from helpdesk.models import Contact, Municipality
    from routing.models import Workflow

    now = timezone.now()
    municipalities = {m.code: m for m in Municipality.objects.filter(code__in=codes)}
    workflows = {w.region_id: w for w in Workflow.objects.filter(region__isnull=False)}
    default = Workflow.objects.filter(is_default=True).first()
    rows = []
    for _ in range(n):
        m = municipalities[rng.choice(codes)]
        rows.append(
            Contact(
                channel="chat",
                language="fi",
                municipality=m,
                region_id=m.region_id,
                state="waiting",
                pseudonym="Asiakas 1000",
                workflow=workflows.get(m.region_id, default),
                step_index=0,
                step_started_at=now,
                waiting_since=now,
                consent_at=now,
            )
        )
    Contact.objects.bulk_create(rows)


def main() -> None:
    import random

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=500)
    parser.add_argument("--arrivals", type=int, default=5)
    parser.add_argument("--departures", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--profile", action="store_true", help="cProfile the kept rounds")
    args = parser.parse_args()

    seeding = _seeding()

    db_name = f"helpdesk_bench_rounds_{os.getpid()}"
    secret = "bench-" + uuid.uuid4().hex * 2
    seeding.admin_sql(f"DROP DATABASE IF EXISTS {db_name}")
    create_database(seeding.PG, db_name)
    try:
        seeding.setup_django(db_name, secret)
        _sessions, codes = seeding.seed(100)
        from django.conf import settings
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from helpdesk.models import Contact, Supporter
        from routing import services, snapshot
        from routing.incremental import IncrementalSnapshot

        rng = random.Random(7)
        Supporter.objects.update(presence="busy", last_heartbeat=timezone.now())
        queue(args.waiting, codes, rng)
        # One round a tick of a second: every moved position is due.
        settings.ROUTING_POSITION_FRAME_S = 0
        states = [IncrementalSnapshot(full_every_s=3600) for _ in range(max(1, args.processes))]
        for state in states:
            services.dispatch(state=state)
        services.dispatch()
        cpu: dict[str, list[float]] = {"full": [], "kept": []}
        load_cpu: dict[str, list[float]] = {"full": [], "kept": []}
        reads: dict[str, int] = {}
        original = snapshot.load

        def timed(kind: str, read):
            def wrapper(*, now):
                started = time.thread_time()
                try:
                    return read(now=now)
                finally:
                    load_cpu[kind].append((time.thread_time() - started) * 1000)

            return wrapper

        loads = [state.load for state in states]
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        for i in range(args.rounds * 2):
            queue(args.arrivals, codes, rng)
            for contact in Contact.objects.filter(state="waiting").order_by("waiting_since", "id")[
                : args.departures
            ]:
                services.abandon_contact(public_id=contact.public_id, reason="bench")
            Supporter.objects.update(last_heartbeat=timezone.now())
            # Full rounds first, then kept ones: a full round rewrites every
            # position it stores, which a kept state must read back (as it
            # would after another process's round), so they are not interleaved.
            kind = "full" if i < args.rounds else "kept"
            turn = i % len(states)
            kept = states[turn]
            if kind == "full":
                snapshot.load = timed("full", original)
            else:
                kept.load = timed("kept", loads[turn])
            with CaptureQueriesContext(connection) as queries:
                started = time.thread_time()
                if profiler is not None and kind == "kept":
                    profiler.enable()
                services.dispatch(state=kept if kind == "kept" else None)
                if profiler is not None:
                    profiler.disable()
                cpu[kind].append((time.thread_time() - started) * 1000)
            snapshot.load = original
            kept.load = loads[turn]
            reads[kind] = len(queries)
        print(
            f"kept state, {len(states)} processes taking turns: "
            f"{sum(s.full_loads for s in states)} full reads, "
            f"{sum(s.partial_loads for s in states)} incremental, "
            f"{sum(s.rows_read for s in states)} contact rows read in full"
        )
        for kind in ("full", "kept"):
            print(
                f"{kind}: round cpu p50={percentile(cpu[kind], 0.5):.1f} ms "
                f"p99={percentile(cpu[kind], 0.99):.1f} ms; snapshot cpu "
                f"p50={percentile(load_cpu[kind], 0.5):.1f} ms "
                f"p99={percentile(load_cpu[kind], 0.99):.1f} ms; {reads[kind]} queries"
            )
        if profiler is not None:
            import pstats

            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        print(
            f"routing_rounds waiting={args.waiting} "
            f"full_cpu_p50_ms={percentile(cpu['full'], 0.5):.1f} "
            f"kept_cpu_p50_ms={percentile(cpu['kept'], 0.5):.1f} "
            f"full_load_cpu_p50_ms={percentile(load_cpu['full'], 0.5):.1f} "
            f"kept_load_cpu_p50_ms={percentile(load_cpu['kept'], 0.5):.1f}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        # Connections of the round's own threads may still be open: force it.
        seeding.admin_sql(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


if __name__ == "__main__":
    main()
