"""Rows in plain statements, for the voice webhooks' hot paths.

The ORM builds each statement anew from a queryset: measured on this
platform's servers, loading a PhoneCall under lock and saving it back cost
about 1.5 ms of CPU through the ORM against 0.3 ms as the same statements
written once. At a few hundred webhooks a second that is most of a core, so
the webhooks that run on every call (menus, queue result, status callbacks)
read and write their rows here. The statements are built once per model (and
per set of columns written) from the model's own fields, and values go
through the fields' own conversion (`get_db_prep_save`), as the ORM does: a
field added to the model is read and written here without a change.

On PostgreSQL the statements bind their parameters on the server rather
than quoting them into the SQL text in Python (Django's own cursors do the
latter), so that psycopg prepares each once per connection (the
connection's prepare_threshold, DB_PREPARE_THRESHOLD): no quoting on our
side, no parsing and planning on the database's. They still go through
Django's cursor wrapper: errors are Django's, and they are logged and counted
like any query.

Models' save() is not called: nothing here sends pre_save/post_save, so a
model with receivers for those must not be written through this module
(PhoneCall and ContactEvent have none; tests/realtime/telephony/test_rows.py
checks that).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from django.db import connection, transaction
from django.db.models import Model


def _cursor():
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


# The caches are keyed by the database's vendor as well: quoting and locking
# differ between PostgreSQL and SQLite.
@cache
def _columns(model: type[Model], vendor: str) -> tuple[list, str]:
    fields = list(model._meta.concrete_fields)
    quoted = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return fields, quoted


@cache
def _select(model: type[Model], vendor: str, column: str, lock: bool) -> str:
    _, quoted = _columns(model, vendor)
    qn = connection.ops.quote_name
    sql = f"SELECT {quoted} FROM {qn(model._meta.db_table)} WHERE {qn(column)} = %s"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return sql


def load(model: type[Model], column: str, value, *, lock: bool = False):
    """The one row whose `column` (unique) is `value`, or None; FOR UPDATE when `lock`."""
    vendor = connection.vendor
    fields, _ = _columns(model, vendor)
    with _cursor() as cursor:
        cursor.execute(_select(model, vendor, column, lock), [value])
        row = cursor.fetchone()
    if row is None:
        return None
    return model.from_db(connection.alias, [f.attname for f in fields], row)


@cache
def _update(model: type[Model], vendor: str, names: tuple[str, ...]) -> tuple[list, str]:
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    # auto_now fields (updated_at) move on every write, as with save().
    fields += [f for f in meta.concrete_fields if getattr(f, "auto_now", False) and f not in fields]
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    sql = f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {qn(meta.pk.column)} = %s"
    return fields, sql


def update(obj: Model, names: Sequence[str]) -> None:
    """Write these fields of `obj` (and its auto_now fields) to its row."""
    db = transaction.get_connection()  # the wrapper itself, not the per-thread proxy
    fields, sql = _update(type(obj), db.vendor, tuple(names))
    params = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in fields]
    params.append(obj.pk)
    with _cursor() as cursor:
        cursor.execute(sql, params)


def insert_values(obj: Model) -> tuple[list[str], list]:
    """The quoted columns and values of a new row for `obj` (its key left to the database)."""
    db = transaction.get_connection()
    fields = [f for f in obj._meta.concrete_fields if not f.primary_key]
    columns = [db.ops.quote_name(f.column) for f in fields]
    values = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    return columns, values


def insert(objs: Iterable[Model]) -> None:
    """INSERT these new rows (of one model) in one statement; their ids are not read back."""
    objs = list(objs)
    if not objs:
        return
    params, columns = [], []
    for obj in objs:
        columns, values = insert_values(obj)
        params.extend(values)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    table = connection.ops.quote_name(objs[0]._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(objs))}"
    with _cursor() as cursor:
        cursor.execute(sql, params)
