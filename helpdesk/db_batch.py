"""Statements sent together and answered together: one round trip for several.

The routing round runs while PostgreSQL is busy with a burst's creation
transactions, and there each statement waits milliseconds for its answer while
taking microseconds of work. Reads that do not depend on one another can go in
one psycopg pipeline (`Connection.pipeline()`): all sent, one Sync, all
answers read back. So can writes whose answers nobody waits for.

`fetch_together` takes querysets (`values()` or `values_list()`) and `Raw`
statements. A queryset keeps the ORM's SQL and the ORM's rows: its compiler
builds the statement and converts the columns (the same converters
`values()` applies), so a pipelined read gives the same Python values as the
plain one. On any other database, or a libpq without pipeline mode, the
statements run one after another with the same results.

`RoundTrips` counts the round trips that statements sent through Django's
cursors make: one per statement outside a batch, one per batch. BEGIN and
COMMIT, which psycopg sends on its own, are not counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.query import (
    FlatValuesListIterable,
    QuerySet,
    ValuesIterable,
    ValuesListIterable,
)

__all__ = ["Raw", "RoundTrips", "fetch_gated", "fetch_together", "pipelined"]


@dataclass(frozen=True, slots=True)
class Raw:
    """A statement of our own SQL; its rows come back as tuples ([] when it has none)."""

    sql: str
    params: Sequence[Any] = ()


_local = threading.local()


def _in_batch() -> bool:
    return getattr(_local, "depth", 0) > 0


@contextmanager
def _batch_marker() -> Iterator[None]:
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def pipelined(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether statements on this database can be sent together."""
    wrapper = connections[using]
    return wrapper.vendor == "postgresql" and psycopg.Pipeline.is_supported()


@dataclass
class _Prepared:
    sql: str | None
    params: Sequence[Any]
    shape: Any = None  # how rows come back: see _shape()
    compiler: Any = None


def _prepare(statement, using: str) -> _Prepared:
    if isinstance(statement, Raw):
        return _Prepared(statement.sql, statement.params)
    if not isinstance(statement, QuerySet):
        raise TypeError(f"a batch takes querysets and Raw statements, not {statement!r}")
    iterable = statement._iterable_class
    if iterable not in (ValuesIterable, ValuesListIterable, FlatValuesListIterable):
        raise ValueError("a batched read is a values() or values_list() queryset")
    query = statement.query
    compiler = query.get_compiler(using=using)
    names = [*query.extra_select, *query.values_select, *query.annotation_select]
    asked = [
        *statement._fields,
        *(name for name in query.annotation_select if name not in statement._fields),
    ]
    if iterable is ValuesListIterable and statement._fields and asked != names:
        # values_list asked for in another order than the compiler selects:
        # the ORM reorders the columns, and so do we.
        shape = ("tuple", [names.index(name) for name in asked])
    elif iterable is ValuesIterable:
        shape = ("dict", names)
    elif iterable is FlatValuesListIterable:
        shape = ("flat", None)
    else:
        shape = ("tuple", None)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        # The ORM runs nothing for a filter that matches nothing (pk__in=[]).
        return _Prepared(None, (), shape, compiler)
    return _Prepared(sql, params, shape, compiler)


def _shape(prepared: _Prepared, rows: list) -> list:
    if prepared.compiler is None:
        return rows
    if not rows:
        return []
    converted = prepared.compiler.results_iter(results=[rows], tuple_expected=True)
    kind, how = prepared.shape
    if kind == "dict":
        return [dict(zip(how, row, strict=True)) for row in converted]
    if kind == "flat":
        return [row[0] for row in converted]
    if how is not None:
        return [tuple(row[i] for i in how) for row in converted]
    return list(converted)


def _rows(cursor) -> list:
    return cursor.fetchall() if cursor.description is not None else []


def fetch_together(*statements, using: str = DEFAULT_DB_ALIAS) -> list[list]:
    """Run the statements in this order; their rows, in the same order.

    On PostgreSQL they share one round trip. They run inside the caller's
    transaction, if any, and see one another's effects as sequential
    statements would; an error in one fails the batch (the transaction is
    then broken either way).
    """
    prepared = [_prepare(s, using) for s in statements]
    wrapper = connections[using]
    live = [p for p in prepared if p.sql is not None]
    results: dict[int, list] = {}
    if len(live) > 0 and pipelined(using):
        wrapper.ensure_connection()
        cursors = []
        with _batch_marker(), wrapper.wrap_database_errors:
            try:
                # Leaving the pipeline sends the one Sync and reads every answer
                # into its cursor; a Sync of our own before would cost a
                # second round trip for nothing.
                with wrapper.connection.pipeline():
                    for p in live:
                        cursor = wrapper.cursor()
                        cursors.append(cursor)
                        cursor.execute(p.sql, p.params)
                for p, cursor in zip(live, cursors, strict=True):
                    results[id(p)] = _rows(cursor)
            finally:
                for cursor in cursors:
                    cursor.close()
        RoundTrips.note_batch(wrapper)
    else:
        for p in live:
            with wrapper.cursor() as cursor:
                cursor.execute(p.sql, p.params)
                results[id(p)] = _rows(cursor)
    return [_shape(p, results.get(id(p), [])) for p in prepared]


def fetch_gated(gate: Raw, *reads, using: str = DEFAULT_DB_ALIAS) -> tuple[bool, list[list]]:
    """`gate` (one boolean) and, where it holds, the reads' rows: one round trip.

    The gate goes first; each read is sent wrapped so that it runs only where
    the gate, evaluated again inside it (once, as a one-time filter), holds.
    So the gate must answer the same when asked again in the same
    transaction, as taking an advisory transaction lock does (a holder
    taking it again gets it again). Reads only: a write cannot be wrapped.
    When the gate says no, the reads read nothing and come back empty.
    """
    prepared = [_prepare(r, using) for r in reads]
    if not pipelined(using):
        ((held,),) = fetch_together(gate, using=using)[0]
        if not held:
            return False, [[] for _ in reads]
        return True, fetch_together(*reads, using=using)
    wrapped = [
        Raw(
            f"SELECT * FROM ({p.sql}) AS gated WHERE ({gate.sql})",
            [*p.params, *gate.params],
        )
        if p.sql is not None
        else None
        for p in prepared
    ]
    (gate_rows, *rows) = fetch_together(gate, *(w for w in wrapped if w is not None), using=using)
    held = bool(gate_rows[0][0])
    answered = iter(rows)
    results = [
        _shape(p, next(answered)) if w is not None else []
        for p, w in zip(prepared, wrapped, strict=True)
    ]
    if not held:
        return False, [[] for _ in reads]
    return True, results


@dataclass
class RoundTrips:
    """Counts the round trips of what runs inside it on one connection (tests, benches).

    Usage: ``with RoundTrips() as trips: ...; trips.count``. Each statement
    executed through a Django cursor outside a batch is one; each batch is
    one, whatever the number of its statements.
    """

    using: str = DEFAULT_DB_ALIAS
    count: int = 0
    statements: int = 0
    batches: int = 0
    _hook: Any = field(default=None, init=False, repr=False)

    def __enter__(self) -> RoundTrips:
        wrapper = connections[self.using]
        watchers = wrapper.__dict__.setdefault("_round_trip_watchers", [])
        watchers.append(self)
        self._hook = wrapper.execute_wrapper(self._seen)
        self._hook.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hook.__exit__(*exc)
        connections[self.using].__dict__["_round_trip_watchers"].remove(self)

    def _seen(self, execute, sql, params, many, context):
        self.statements += 1
        if not _in_batch():
            self.count += 1
        return execute(sql, params, many, context)

    @staticmethod
    def note_batch(wrapper) -> None:
        for watcher in wrapper.__dict__.get("_round_trip_watchers", ()):
            watcher.batches += 1
            watcher.count += 1
