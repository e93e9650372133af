"""bench/stats.py runs end to end at a tiny size, prints its line and drops its database."""

import re

from tests.bench.test_benches import _bench_databases, _run, pytestmark  # noqa: F401


def test_stats_bench_prints_its_summary_and_cleans_up():
    before = _bench_databases()
    lines = _run("stats.py", "--weeks", "1", "--regions", "21", "--scale", "3")
    summary = re.fullmatch(
        r"stats contacts=(\d+) rollup_s=([\d.]+) forecast_s=([\d.]+) peak_mb=(\d+)", lines[-1]
    )
    assert summary, lines[-1]
    assert int(summary[1]) > 0
    assert any(line.startswith("rollup: ") for line in lines)
    assert _bench_databases() == before
