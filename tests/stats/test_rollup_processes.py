"""Two rollups at once, in two real processes on PostgreSQL, give the result of one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpdesk.stats.models import HourlyBucket
from helpdesk.stats.rollup import rollup
from helpdesk.stats.simulator import simulate_traffic
from tests import conftest as root

from .conftest import BASE, snapshot


@pytest.mark.django_db(transaction=True)
def test_two_processes_at_once_equal_one_run(reference_data):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL: two processes cannot share the SQLite test db")
    # A first run leaves the cursor row in place, so that nothing but the
    # rollup's own locking keeps the two processes below apart.
    rollup()
    summary = simulate_traffic(weeks=2, seed=7, region_codes=["12", "11"], end=BASE)
    assert summary.contacts > 500
    env = dict(os.environ, DATABASE_URL=root.test_database_url(), PYTHONUNBUFFERED="1")
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rollup_stats"],
            cwd=root.ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    together = snapshot()
    # One of them did the work; the other waited for the lock and found nothing new.
    assert sum("contacts=0 " not in out for out in outputs) == 1, outputs
    rollup(rebuild=True)
    assert snapshot() == together
    assert HourlyBucket.objects.count() == len(together)
