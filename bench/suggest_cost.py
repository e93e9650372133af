"""What one conversation suggestion search (`knowledge.services.suggest_articles`) costs.

    .venv/bin/python bench/suggest_cost.py [--rounds 5] [--profile PATH]

The search runs in the process that asks for it and holds the GIL for the
Python part, so its CPU time is what it takes away from whatever else that
process does (in an ASGI worker: message delivery). This creates a database
on the local PostgreSQL (migrated, from the benches' template), loads the
reference data and the seed articles, and calls `suggest_articles` in this
process for every snippet of
tests/knowledge/suggest_eval.tsv, then for whole conversations (several
snippets joined, as when a supporter takes a contact), --rounds times after
one warm-up round. It prints this process's CPU time per call, the wall time
and the CPU of PostgreSQL's backends for the bench's database beside it; the last line reads
`suggest_cost cpu_ms_mean=<n> cpu_ms_p50=<n> cpu_ms_p99=<n> wall_ms_mean=<n> calls=<n>`.

--profile PATH writes cProfile statistics of the timed calls there
(read them with `python -m pstats PATH`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import uuid

from _common import ROOT, create_database, database_cpu, database_cpu_since, percentile
from _common import admin_sql as _admin_sql

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
CASES = ROOT / "tests" / "knowledge" / "suggest_eval.tsv"


def setup(db_name: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{db_name}"
    os.environ.pop("REDIS_URL", None)
    os.environ["SECRET_KEY"] = "bench-" + uuid.uuid4().hex * 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    import knowledge
    from helpdesk.reference import load_reference_data

    load_reference_data(postal_codes=False)
    call_command("import_articles", str(knowledge.content_dir()), verbosity=0)


def workload() -> list[tuple[str, str, str | None]]:
    """(text, language, topic): each snippet, then conversations of four snippets."""
    from knowledge import suggestion_evaluation

    cases = suggestion_evaluation.read_cases(CASES)
    calls = [(c.snippet, c.language, c.topic or None) for c in cases]
    for start in range(0, len(cases), 4):
        group = cases[start : start + 4]
        calls.append(("\n".join(c.snippet for c in group), group[0].language, None))
    return calls


def measure(
    calls, rounds: int, profile: str | None, db_name: str = ""
) -> tuple[list[float], list[float], float]:
    from knowledge.services import suggest_articles

    def one(text, language, topic):
        return suggest_articles(text=text, language=language, limit=3, topic=topic)

    for call in calls:  # warm-up: imports, caches, the database's own
        one(*call)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    cpu, wall = [], []
    database0 = database_cpu(db_name)
    for _ in range(rounds):
        for call in calls:
            c0, w0 = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            one(*call)
            if profiler is not None:
                profiler.disable()
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
    database = database_cpu_since(db_name, database0) * 1000 / max(1, len(cpu))
    if profiler is not None:
        profiler.dump_stats(profile)
        print(f"profile written to {profile}", flush=True)
    return cpu, wall, database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    db_name = f"helpdesk_bench_suggest_{os.getpid()}"
    create_database(PG, db_name)
    try:
        setup(db_name)
        calls = workload()
        cpu, wall, database = measure(calls, args.rounds, args.profile, db_name)
        mean = sum(cpu) / len(cpu)
        print(
            f"{len(calls)} texts x {args.rounds} rounds: cpu per call "
            f"mean={mean:.1f}ms p50={percentile(cpu, 0.5):.1f}ms "
            f"p99={percentile(cpu, 0.99):.1f}ms max={max(cpu):.1f}ms; "
            f"wall mean={sum(wall) / len(wall):.1f}ms; database cpu per call "
            f"mean={database:.1f}ms",
            flush=True,
        )
        print(
            f"suggest_cost cpu_ms_mean={mean:.1f} cpu_ms_p50={percentile(cpu, 0.5):.1f} "
            f"cpu_ms_p99={percentile(cpu, 0.99):.1f} wall_ms_mean={sum(wall) / len(wall):.1f} "
            f"calls={len(cpu)}",
            flush=True,
        )
    finally:
        from django.db import connections

        connections.close_all()
        _admin_sql(PG, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
