"""Small reads whose SQL is built once per process, not at every call.

Django builds a queryset's SQL each time it runs it. For a read of a few
columns by one id that building costs ten times the query itself (measured
here: 0.5-1.5 ms of CPU against 0.06 ms for the same statement on a cursor).
A console socket makes several such reads when it opens, and every console of
a restarted worker opens within the same second (bench/welcome_cost.py), so
these reads are compiled once per database and then run with the caller's id.

The SQL and the row conversion stay the ORM's own: the queryset is compiled
with a marker key in place of the real one, and the rows go through that
compiler's converters (booleans and UUIDs on SQLite, for instance), looked up
once with the SQL. Only `values_list` reads keyed by one integer, string or
UUID are supported; anything else is refused when the read is first
compiled, not silently run wrong.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.query import QuerySet, ValuesListIterable

__all__ = ["CompiledInstances", "CompiledRead"]

# Keys no table holds, one per kind of key: where the marker lands among the
# compiled parameters is where the caller's key goes (a query with this very
# value as a constant would have it replaced too; nothing of ours comes near).
# The integer fits a 32-bit id column (auth_user's): a lookup out of a
# column's range would match nothing and leave no parameter to replace.
_MARKERS: dict[type, Any] = {
    int: -2_039_120_477,
    str: "compiled-read-key:7391204771",
    uuid.UUID: uuid.UUID("7391204771a54c0e9d3e1c5b0f2a6d48"),
}


def _same(key: Any) -> Any:
    return key


def _hex(key: uuid.UUID) -> str:
    return key.hex


def _form(param: Any) -> tuple | None:
    try:
        hash(param)
    except TypeError:
        return None  # a list or a dict: never a key
    return type(param), param


def _cursor(connection):
    """A cursor to run a compiled read on: on PostgreSQL, one that binds on the server.

    Django's own cursors bind on the client, so PostgreSQL parses and plans
    every statement afresh, and for these small reads planning is most of
    the database's work. A compiled read's text never changes: bound on the
    server, psycopg prepares it once it has run `prepare_threshold` times on
    a connection (settings.py) and PostgreSQL plans it once per connection.
    Measured with bench/welcome_cost.py, the database's CPU per console
    welcome fell by more than half. The cursor is wrapped as Django wraps
    its own (`_prepare_cursor`), so execute wrappers and the query log
    still see every statement.
    """
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, ServerBindingCursor
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
        # As Django's create_cursor: the time zone the rows are read in.
        loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != loader.timezone:
            register_tzloader(connection.timezone, cursor)
        return connection._prepare_cursor(cursor)


class CompiledRead:
    """`build(key)` (a `values_list` queryset) compiled once per database alias.

    Calling it with a key returns the rows as tuples, in the order of the
    fields asked for, like `list(build(key))`. Keys are integer ids unless
    `key` names another kind (str or uuid.UUID).
    """

    def __init__(self, build: Callable[[Any], QuerySet], *, key: type = int) -> None:
        if key not in _MARKERS:
            raise TypeError(f"a compiled read is keyed by one of {list(_MARKERS)}, not {key!r}")
        self._build = build
        self._key = key
        self._compiled: dict[str, tuple[Any, str, tuple, tuple[int, ...], list]] = {}
        self._lock = threading.Lock()

    def __call__(self, key: Any, *, using: str = DEFAULT_DB_ALIAS) -> list[tuple]:
        if type(key) is not self._key:
            raise TypeError(f"this compiled read is keyed by {self._key.__name__}, not {key!r}")
        compiled = self._compiled.get(using) or self._compile(using)
        compiler, sql, params, places, converters = compiled
        bound = list(params)
        for place, as_stored in places:
            bound[place] = as_stored(key)
        with _cursor(connections[using]) as cursor:
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
        if converters:
            return [tuple(row) for row in compiler.apply_converters(rows, converters)]
        return [tuple(row) for row in rows]

    def statement(self, key: Any, *, using: str = DEFAULT_DB_ALIAS) -> tuple[str, list] | None:
        """The SQL and parameters for `key`, to run elsewhere (helpdesk/db_async.py).

        None when the rows need the ORM's converters: those reads run here.
        The caller gets the driver's own values (on PostgreSQL, UUIDs and
        aware datetimes as psycopg makes them).
        """
        if type(key) is not self._key:
            raise TypeError(f"this compiled read is keyed by {self._key.__name__}, not {key!r}")
        compiler, sql, params, places, converters = self._compiled.get(using) or self._compile(
            using
        )
        if converters:
            return None
        bound = list(params)
        for place, as_stored in places:
            bound[place] = as_stored(key)
        return sql, bound

    def _compile(self, using: str):
        with self._lock:
            if using in self._compiled:
                return self._compiled[using]
            marker = _MARKERS[self._key]
            queryset = self._build(marker)
            if queryset._iterable_class is not ValuesListIterable:
                raise ValueError("a compiled read is a values_list() queryset (not flat or named)")
            query = queryset.query
            # The columns come back in the compiler's order: model fields,
            # then annotations. Asked for in another order they would be
            # mislabelled, so that is refused.
            selected = [*query.extra_select, *query.values_select, *query.annotation_select]
            if selected != list(queryset._fields):
                raise ValueError(
                    f"ask for model fields before annotations: {queryset._fields} "
                    f"compiles as {selected}"
                )
            compiler = query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            # Where the marker landed, and in what form: a database without a
            # UUID type (SQLite) is given the UUID's hex string instead.
            forms = {(self._key, marker): _same}
            if self._key is uuid.UUID:
                forms[(str, marker.hex)] = _hex
            places = tuple((i, forms[_form(p)]) for i, p in enumerate(params) if _form(p) in forms)
            if not places:
                raise ValueError("the key given to build() is not a parameter of its query")
            # What results_iter() would look up at every call, looked up once.
            fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
            if compiler.has_composite_fields(fields):
                raise ValueError("a compiled read does not select composite fields")
            converters = compiler.get_converters(fields)
            self._compiled[using] = (compiler, sql, tuple(params), places, converters)
            return self._compiled[using]

    def clear(self) -> None:
        """Forget the compiled SQL (after a schema change in tests)."""
        with self._lock:
            self._compiled.clear()


class CompiledInstances:
    """Model instances of `build(key)` with forward relations attached, like select_related.

    The rows come from one CompiledRead of every concrete field of the model
    and of each related model, and are made into instances with `from_db`,
    as the ORM does. A relation whose key is empty is left unset.
    """

    def __init__(
        self,
        model,
        build: Callable[[Any], QuerySet],
        *,
        related: tuple[str, ...] = (),
        key: type = int,
    ):
        self.model = model
        self._fields = [f.attname for f in model._meta.concrete_fields]
        self._related = []
        for name in related:
            field = model._meta.get_field(name)
            if not field.many_to_one and not field.one_to_one:
                raise ValueError(f"{model.__name__}.{name} is not a forward relation")
            other = field.related_model
            self._related.append(
                (name, field.attname, other, [f.attname for f in other._meta.concrete_fields])
            )
        columns = [*self._fields]
        for name, _, _, fields in self._related:
            columns += [f"{name}__{f}" for f in fields]
        self._read = CompiledRead(lambda k: build(k).values_list(*columns), key=key)

    def __call__(self, key: Any, *, using: str = DEFAULT_DB_ALIAS) -> list:
        return [self._instance(row, using) for row in self._read(key, using=using)]

    def _instance(self, row: tuple, using: str):
        at = len(self._fields)
        instance = self.model.from_db(using, self._fields, row[:at])
        for name, attname, other, fields in self._related:
            values = row[at : at + len(fields)]
            at += len(fields)
            if getattr(instance, attname) is not None:
                setattr(instance, name, other.from_db(using, fields, values))
        return instance
