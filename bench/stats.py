"""Statistics at national scale: a year of simulated history, the rollup, every region's forecast.

1. creates a database on the local PostgreSQL (BENCH_PG), migrates it, loads
   the reference data and one provider per region (every channel, Finnish
   and Swedish), so that simulated contacts are answered everywhere;
2. simulates --weeks of history for the whole country (about 300,000
   contacts a year at --scale 1) with `helpdesk.stats.simulator`;
3. times a full rollup (`helpdesk.stats.rollup.rollup(rebuild=True)`);
4. times the forecast and staffing plan of every region
   (`helpdesk.stats.demand.region_plan`: 4 weeks ahead and a week's Erlang
   staffing, without the back-test and the simulation check);
5. prints the times and the peak memory of this process, and drops the
   database again.

Last line: `stats contacts=<n> rollup_s=<n> forecast_s=<n> peak_mb=<n>`.
Targets on the reference machine: rollup <= 60 s, forecast of all regions <= 60 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# As in the workers (helpdesk/settings.py): one BLAS thread per process.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from bench._common import admin_sql, create_database  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def setup_django(db_name: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{db_name}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "bench-stats-not-secret-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def seed_network() -> int:
    from django.core.management import call_command

    from helpdesk.models import Provider, Region
    from helpdesk.reference import load_reference_data

    call_command("migrate", verbosity=0, interactive=False)
    load_reference_data(postal_codes=False)
    regions = list(Region.objects.all())
    for region in regions:
        provider = Provider.objects.create(
            slug=f"bench-{region.code}",
            name=f"Bench {region.code}",
            kind="library",
            channels=["chat", "phone", "video"],
            languages=["fi", "sv", "en"],
        )
        provider.service_regions.set([region])
    return len(regions)


def peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=float, default=52.0, help="history length (52)")
    parser.add_argument("--scale", type=float, default=1.0, help="arrival-rate multiplier (1)")
    parser.add_argument("--regions", nargs="*", default=None, help="region codes (all)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    db_name = f"helpdesk_bench_stats_{os.getpid()}"
    create_database(PG, db_name)
    try:
        setup_django(db_name)
        regions = seed_network()
        print(f"database {db_name}: reference data and {regions} providers", flush=True)

        from helpdesk.models import Region
        from helpdesk.stats.demand import region_plan
        from helpdesk.stats.rollup import rollup
        from helpdesk.stats.selectors import StatsScope
        from helpdesk.stats.simulator import simulate_traffic

        started = time.monotonic()
        summary = simulate_traffic(
            weeks=args.weeks, seed=args.seed, region_codes=args.regions, rate_scale=args.scale
        )
        print(
            f"simulated {summary.contacts} contacts, {summary.events} events "
            f"in {time.monotonic() - started:.1f}s",
            flush=True,
        )

        started = time.monotonic()
        result = rollup(rebuild=True)
        rollup_s = time.monotonic() - started
        print(
            f"rollup: {result.hours} hours, {result.buckets} buckets in {rollup_s:.1f}s",
            flush=True,
        )

        scope = StatsScope(kind="national")
        wanted = Region.objects.all().order_by("code")
        if args.regions:
            wanted = wanted.filter(code__in=args.regions)
        started = time.monotonic()
        missing = 0
        for region in wanted:
            plan = region_plan(scope=scope, region=region, simulate=False, backtest=False)
            if plan.unavailable:
                missing += 1
                print(f"  region {region.code}: no forecast ({plan.unavailable})", flush=True)
            else:
                print(
                    f"  region {region.code}: {plan.history_contacts} contacts in history, "
                    f"{plan.supporter_hours_week} supporter-hours next week",
                    flush=True,
                )
        forecast_s = time.monotonic() - started
        if missing:
            print(f"WARNING: {missing} regions without a forecast", flush=True)
        from django.db import connections

        connections.close_all()
        print(
            f"stats contacts={summary.contacts} rollup_s={rollup_s:.1f} "
            f"forecast_s={forecast_s:.1f} peak_mb={peak_mb():.0f}",
            flush=True,
        )
    finally:
        admin_sql(PG, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
