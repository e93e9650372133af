"""One process at a time: the transaction that only one worker may run at once.

The routing round and the retention purge each run in every worker; a
cluster-wide lock lets one do the work while the others skip their turn
rather than queue behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def exclusive_transaction(key: int, local_lock: threading.Lock) -> Iterator[bool]:
    """A transaction in which this process alone holds `key`; False when another does.

    Never blocks. On PostgreSQL the lock is an advisory transaction lock,
    released by the commit. SQLite serves a single process, so the caller's
    process-local lock stands in for it.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
                got = bool(cursor.fetchone()[0])
            yield got
        return
    if not local_lock.acquire(blocking=False):
        yield False
        return
    try:
        with transaction.atomic():
            yield True
    finally:
        local_lock.release()
