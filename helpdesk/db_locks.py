"""One process at a time: the transaction that only one worker may run at once.

The routing round and the retention purge each run in every worker; a
cluster-wide lock lets one do the work while the others skip their turn
rather than queue behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

from helpdesk.db_batch import Raw, fetch_gated, fetch_together


@dataclass
class Gate:
    """The lock of a `gated_transaction`, taken with the first reads sent through it.

    `held` is None until the lock has been asked for: by `take()` alone, or
    by `fetch()` together with a batch of reads, which then read nothing
    when another process holds it (one round trip in all).
    """

    key: int
    held: bool | None = None

    def statement(self) -> Raw:
        return Raw("SELECT pg_try_advisory_xact_lock(%s)", [self.key])

    def take(self) -> bool:
        if self.held is None:
            ((got,),) = fetch_together(self.statement())[0]
            self.held = bool(got)
        return self.held

    def fetch(self, *reads) -> list[list] | None:
        """The reads' rows, with the lock asked for on the way; None when another holds it."""
        if self.held is None:
            self.held, rows = fetch_gated(self.statement(), *reads)
            return rows if self.held else None
        return fetch_together(*reads) if self.held else None


@contextmanager
def gated_transaction(key: int, local_lock: threading.Lock) -> Iterator[Gate]:
    """A transaction in which this process alone may work once its `Gate` says so.

    Never blocks. On PostgreSQL the lock is an advisory transaction lock,
    released by the commit, and asked for only when the caller first reads
    (Gate.fetch) or asks (Gate.take). SQLite serves a single process, so the
    caller's process-local lock stands in for it, taken at once.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic():
            yield Gate(key)
        return
    if not local_lock.acquire(blocking=False):
        yield Gate(key, held=False)
        return
    try:
        with transaction.atomic():
            yield Gate(key, held=True)
    finally:
        local_lock.release()


@contextmanager
def exclusive_transaction(key: int, local_lock: threading.Lock) -> Iterator[bool]:
    """A transaction in which this process alone holds `key`; False when another does."""
    with gated_transaction(key, local_lock) as gate:
        yield gate.take()
