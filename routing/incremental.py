"""Routing state kept between rounds, so that a round reads what changed, not the whole queue.

Each process's ticker owns one ``IncrementalSnapshot``; ``load(now=...)``
returns the same ``snapshot.Loaded`` as ``snapshot.load`` would, from a
bounded number of queries whose rows grow with the changes since the last
round rather than with the queue. The database stays the truth: nothing here
is written, and whatever another process changed is seen by the next round.

How changes are seen (PostgreSQL):

- Contacts. A round reads (id, routing version, queue position) of the
  routed contacts: narrow columns through the state index, no joins. The
  routing version is a 64-bit hash of the contact's own columns behind
  ``snapshot.CONTACT_FIELDS`` less the queue position (its last position,
  estimated wait and when it was sent), computed by the database, so it
  changes whenever something a decision uses changes, whoever changed it (but
  for a 2^-64 chance of a collision, which the full reload below mends), and
  not when a round of any process only stores the positions it sent. Every
  round writes positions for much of a long queue; versioning the whole row
  (xmin/ctid) made each process re-read every row the other processes'
  rounds had touched. The positions themselves come with the scan and are
  taken as they are. Full rows, with their declined offers, are read only for
  the new and routing-changed ones; the ones no longer listed have left the
  queue (offered and accepted, abandoned, withdrawn...). The version is read
  in the same statement as the row it describes, so a row can be newer than
  its version (read again next round) but never older.
- Pending offers: all of them every round (at most the supporters' free
  capacity). A contact whose pending offer came or went is read again, so an
  offer withdrawn without touching its contact is not missed.
- Supporters: their rows (presence, heartbeat, capacity) and active load
  every round; their memberships and skills, the providers with their areas
  and opening rules, and the workflows only when a fingerprint of those
  tables (the versions of all their rows, hashed in the database) changes.
- Everything is read afresh every ``ROUTING_FULL_RELOAD_S`` (and when the
  round's clock jumps or a round failed): a safety net, and the moment the
  recent handle times are measured again.

Any other database (SQLite in a quick local run) gets the full load every
round. See tests/routing/test_incremental.py for the equivalence property.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models.expressions import RawSQL

from helpdesk.models import (
    Contact,
    ExceptionDate,
    OpeningHours,
    Provider,
    Supporter,
    Topic,
)
from routing import snapshot, types
from routing.models import Workflow, WorkflowStep

log = logging.getLogger(__name__)

DEFAULT_FULL_RELOAD_S = 15.0

# Tables whose rows are cached until one of them changes.
_CONFIG_MODELS = (
    Provider,
    Provider.service_municipalities.through,
    Provider.service_regions.through,
    OpeningHours,
    ExceptionDate,
    Workflow,
    WorkflowStep,
    Supporter.providers.through,
    Supporter.skills.through,
    Topic,
)


def full_reload_s() -> float:
    return float(getattr(settings, "ROUTING_FULL_RELOAD_S", DEFAULT_FULL_RELOAD_S))


# What each round stores for the customers (routing/positions.py): read with
# every scan, never part of the routing version.
POSITION_FIELDS = ("last_position", "last_estimated_wait_s", "last_position_at")


def _routing_columns() -> list[str]:
    """The contacts table's own columns behind snapshot.CONTACT_FIELDS, positions left out."""
    columns: list[str] = []
    for name in snapshot.CONTACT_FIELDS:
        if name in POSITION_FIELDS:
            continue
        column = Contact._meta.get_field(name.split("__", 1)[0]).column
        if column not in columns:
            columns.append(column)
    return columns


def _routing_version(table: str) -> str:
    """SQL for the routing version of a row of `table` (the contacts table or its alias).

    A 64-bit hash of the row's routing columns as the database holds them
    (PostgreSQL 14+): a tenth of the CPU of hashing their text (timestamps
    and uuids printed), which a round would pay for every waiting contact.
    """
    q = connection.ops.quote_name
    columns = ", ".join(f"{table}.{q(c)}" for c in _routing_columns())
    return f"hash_record_extended(ROW({columns}), 0)"


def _config_fingerprint() -> str:
    parts = []
    for model in _CONFIG_MODELS:
        table = connection.ops.quote_name(model._meta.db_table)
        parts.append(
            f"(SELECT count(*)::text || ':' || coalesce(string_agg("
            f"xmin::text || '/' || ctid::text, ','), '') FROM {table})"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT md5(concat_ws('|', {', '.join(parts)}))")
        return cursor.fetchone()[0]


class IncrementalSnapshot:
    """The routing state of one process between its rounds (one round at a time)."""

    def __init__(self, *, full_every_s: float | None = None) -> None:
        self.full_every_s = full_every_s
        self.full_loads = 0
        self.partial_loads = 0
        self.rows_read = 0
        """Contact rows read in full, over all rounds (what the equivalence tests watch)."""
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next round reads it all."""
        self._versions: dict[int, int] = {}
        self._waiting: dict[int, types.WaitingContact] = {}
        self._infos: dict[int, snapshot.ContactInfo] = {}
        self._rows: dict[int, dict] = {}
        self._pending: dict[int, snapshot.PendingRow] = {}
        self._declined: dict[int, frozenset[int]] = {}
        self._fingerprint: str | None = None
        self._providers: snapshot.ProviderConfig | None = None
        self._memberships: snapshot.Memberships | None = None
        self._workflows: dict[int, types.Workflow] = {}
        self._handle_times: dict[str, float] = {}
        self._full_at: float | None = None
        self._full_now: datetime | None = None
        self._last_now: datetime | None = None

    invalidate = reset

    def load(self, *, now: datetime) -> snapshot.Loaded:
        if connection.vendor != "postgresql":
            return snapshot.load(now=now)
        if self._full_due(now):
            self._read_all(now)
        else:
            self._read_changes(now)
        self._last_now = now
        return self._loaded(now)

    # -- when ----------------------------------------------------------------

    def _full_due(self, now: datetime) -> bool:
        if self._full_at is None or self._full_now is None or self._last_now is None:
            return True
        every = self.full_every_s if self.full_every_s is not None else full_reload_s()
        if time.monotonic() - self._full_at >= every:
            return True
        # A clock that jumps (a simulated day, a test's explicit time) reads afresh.
        return now < self._last_now or now - self._full_now >= timedelta(seconds=every)

    # -- reading -------------------------------------------------------------

    def _read_all(self, now: datetime) -> None:
        self.reset()
        self.full_loads += 1
        self._fingerprint = _config_fingerprint()
        self._read_config(now)
        self._handle_times = snapshot._handle_times(now)
        rows = self._read_rows(None)
        self._pending = snapshot.read_pending()
        declined = snapshot.read_declined()
        for r in rows:
            self._store_row(r)
        for cid in self._rows:
            self._declined[cid] = frozenset(declined.get(cid, ()))
            self._rebuild(cid)
        self._full_at = time.monotonic()
        self._full_now = now

    def _read_changes(self, now: datetime) -> None:
        self.partial_loads += 1
        scan = self._scan_versions()
        gone = self._versions.keys() - scan.keys()
        for cid in gone:
            self._forget(cid)
        changed = [cid for cid, v in scan.items() if self._versions.get(cid) != v]
        rows = self._read_rows(changed) if changed else []
        dirty = set()
        for r in rows:
            self._store_row(r)
            dirty.add(r["id"])
        # Listed by the scan but no longer routed when its row was read: it left.
        for cid in set(changed) - dirty:
            self._forget(cid)
        pending = snapshot.read_pending()
        for cid in pending.keys() | self._pending.keys():
            if pending.get(cid) != self._pending.get(cid) and cid in self._rows:
                dirty.add(cid)
        self._pending = pending
        if dirty:
            declined = snapshot.read_declined(sorted(dirty))
            for cid in dirty:
                self._declined[cid] = frozenset(declined.get(cid, ()))
                self._rebuild(cid)
        fingerprint = _config_fingerprint()
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self._read_config(now)

    def _scan_versions(self) -> dict[int, int]:
        """Routing versions of the routed contacts; their stored positions taken on the way."""
        q = connection.ops.quote_name
        table = q(Contact._meta.db_table)
        positions = ", ".join(q(Contact._meta.get_field(name).column) for name in POSITION_FIELDS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {_routing_version(table)}, {positions}"
                f" FROM {table} WHERE state = ANY(%s)",
                [list(snapshot.ROUTED_STATES)],
            )
            rows = cursor.fetchall()
        versions = {}
        for cid, version, *stored in rows:
            versions[cid] = version
            if self._versions.get(cid) == version:
                self._take_positions(cid, stored)
        return versions

    def _take_positions(self, cid: int, stored: list) -> None:
        """Another round's (this process's or another's) stored positions, on an unchanged row."""
        row = self._rows[cid]
        if all(row[name] == value for name, value in zip(POSITION_FIELDS, stored, strict=True)):
            return
        info = self._infos[cid]
        for name, value in zip(POSITION_FIELDS, stored, strict=True):
            row[name] = value
            setattr(info, name, value)

    def _read_rows(self, ids: list[int] | None) -> list[dict]:
        qs = Contact.objects.filter(state__in=snapshot.ROUTED_STATES)
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        table = connection.ops.quote_name(Contact._meta.db_table)
        rows = list(
            qs.annotate(row_version=RawSQL(_routing_version(table), ())).values(
                *snapshot.CONTACT_FIELDS, "row_version"
            )
        )
        self.rows_read += len(rows)
        return rows

    def _read_config(self, now: datetime) -> None:
        self._providers = snapshot.read_provider_config(None, now=now)
        self._memberships = snapshot.read_memberships(None)
        self._workflows = snapshot._workflows()

    # -- keeping -------------------------------------------------------------

    def _store_row(self, r: dict) -> None:
        cid = r["id"]
        self._versions[cid] = r.pop("row_version")
        self._rows[cid] = r

    def _forget(self, cid: int) -> None:
        self._versions.pop(cid, None)
        self._rows.pop(cid, None)
        self._waiting.pop(cid, None)
        self._infos.pop(cid, None)
        self._declined.pop(cid, None)

    def _rebuild(self, cid: int) -> None:
        waiting, info = snapshot.contact_entry(
            self._rows[cid], self._pending.get(cid), self._declined.get(cid, ())
        )
        self._waiting[cid] = waiting
        self._infos[cid] = info

    def _loaded(self, now: datetime) -> snapshot.Loaded:
        rows = snapshot.read_supporter_rows()
        supporters, expired = snapshot.supporter_states(
            rows, self._memberships, snapshot.read_load([r["id"] for r in rows]), now
        )
        pending = {cid: p for cid, p in self._pending.items() if cid in self._rows}
        loaded = snapshot.assemble(
            now=now,
            contacts=self._waiting.values(),
            infos=dict(self._infos),
            pending=pending,
            supporters=supporters,
            expired=expired,
            providers=snapshot.provider_states_at(self._providers, now),
            workflows=self._workflows,
            handle_times=self._handle_times,
            notices=snapshot.read_closed_notices(),
        )
        return loaded
