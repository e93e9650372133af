"""The statements that create a contact: one lookup and two INSERTs, built once.

`routing.services.enqueue_contact` stays the one way a contact is created; it
checks the input and calls these. In a surge of "start chat" presses it runs
hundreds of times a second, and there Django's query building (cloning
querysets, compiling WHERE trees and the INSERT of a forty-column model) cost
more CPU than the database's own work (bench/intake_cost.py). So:

- `lookup` answers everything creation needs to know in one SELECT: the
  municipality and its region, the topic, the entry provider, the region's
  workflow (or the default, or the national first line) and the supporter a
  returning customer last had;
- `create` inserts the contact and its events with SQL built once per
  database connection's vendor from the models' own metadata (table and
  column names, each field's conversion to a database value, defaults), so a
  field added to Contact or ContactEvent is inserted without touching this.

Both work on PostgreSQL and SQLite. tests/routing/test_intake.py checks the
rows against the ones the ORM writes and pins the number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Model

from helpdesk.models import Contact, ContactEvent, Municipality, Provider, Region, Topic
from routing.models import Workflow

__all__ = ["Found", "create", "lookup"]


@dataclass(frozen=True)
class Found:
    """What `lookup` found; None where nothing matched."""

    municipality: Municipality | None
    region: Region | None
    topic: Topic | None
    entry_provider: Provider | None
    workflow_id: int | None
    preferred_supporter_id: int | None


_lookup_sql: dict[tuple[str, bool], str] = {}


def _names() -> dict[str, str]:
    """Quoted table and column names, from the models."""
    q = connection.ops.quote_name
    names = {}
    for alias, model in (
        ("mun", Municipality),
        ("reg", Region),
        ("top", Topic),
        ("pro", Provider),
        ("wf", Workflow),
        ("con", Contact),
    ):
        names[alias] = q(model._meta.db_table)
        for field in model._meta.concrete_fields:
            names[f"{alias}_{field.name}"] = q(field.column)
    return names


def _lookup_statement(returning_customer: bool) -> str:
    key = (connection.vendor, returning_customer)
    if key not in _lookup_sql:
        n = _names()
        preferred = "NULL"
        if returning_customer:
            preferred = (
                f"(SELECT {n['con_supporter']} FROM {n['con']}"
                f" WHERE {n['con_customer_key']} = %s AND {n['con_created_at']} >= %s"
                f" AND {n['con_supporter']} IS NOT NULL"
                f" ORDER BY {n['con_created_at']} DESC LIMIT 1)"
            )
        _lookup_sql[key] = (
            f"SELECT m.{n['mun_id']}, m.{n['mun_code']}, m.{n['mun_region']},"
            f" r.{n['reg_code']}, r.{n['reg_development_area']},"
            f" t.{n['top_id']}, t.{n['top_slug']}, p.{n['pro_id']}, p.{n['pro_slug']},"
            f" w.{n['wf_id']},"
            f" (SELECT {n['wf_id']} FROM {n['wf']} WHERE {n['wf_is_default']} = %s),"
            f" (SELECT {n['wf_id']} FROM {n['wf']} WHERE {n['wf_is_national_first_line']} = %s),"
            f" {preferred}"
            " FROM (SELECT 1 AS one) AS base"
            f" LEFT JOIN {n['mun']} m ON m.{n['mun_code']} = %s"
            f" LEFT JOIN {n['reg']} r ON r.{n['reg_id']} = m.{n['mun_region']}"
            f" LEFT JOIN {n['wf']} w ON w.{n['wf_region']} = r.{n['reg_id']}"
            f" LEFT JOIN {n['top']} t ON t.{n['top_slug']} = %s"
            f" LEFT JOIN {n['pro']} p ON p.{n['pro_slug']} = %s AND p.{n['pro_active']} = %s"
        )
    return _lookup_sql[key]


def _partial(model: type[Model], **values) -> Model:
    """A row as the ORM loads it with only these fields; the others load when read."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(connection.alias, names, [values[n] for n in names])


def lookup(
    *,
    municipality_code: str | None,
    topic_slug: str | None,
    entry_provider_slug: str | None,
    customer_key: str,
    returning_since: datetime,
) -> Found:
    """Everything a new contact refers to, in one statement.

    The workflow is the region's own, else the default one; with no region,
    the national first line. A customer key (never empty here) finds the
    supporter of that customer's latest served contact since `returning_since`.
    """
    created_at = Contact._meta.get_field("created_at")
    params: list = [True, True]
    if customer_key:
        params += [customer_key, created_at.get_db_prep_value(returning_since, connection)]
    params += [municipality_code or None, topic_slug or None, entry_provider_slug or None, True]
    with connection.cursor() as cursor:
        cursor.execute(_lookup_statement(bool(customer_key)), params)
        row = cursor.fetchone()
    (
        mun_id,
        mun_code,
        region_id,
        region_code,
        area_id,
        topic_id,
        slug,
        provider_id,
        provider_slug,
        own_workflow,
        default_workflow,
        national_workflow,
        preferred,
    ) = row
    municipality = region = topic = provider = None
    if mun_id is not None:
        municipality = _partial(Municipality, id=mun_id, code=mun_code, region_id=region_id)
        region = _partial(Region, id=region_id, code=region_code, development_area_id=area_id)
        municipality.region = region
    if topic_id is not None:
        topic = _partial(Topic, id=topic_id, slug=slug)
    if provider_id is not None:
        provider = _partial(Provider, id=provider_id, slug=provider_slug)
    if region is None:
        workflow_id = national_workflow
    else:
        workflow_id = own_workflow if own_workflow is not None else default_workflow
    return Found(municipality, region, topic, provider, workflow_id, preferred)


class _Insert:
    """INSERT for one model's rows, its SQL built once from the model's fields."""

    def __init__(self, model: type[Model], *, returning_pk: bool):
        meta = model._meta
        self.fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        for field in self.fields:
            if hasattr(field, "get_placeholder"):  # e.g. BinaryField: not written here
                raise TypeError(f"{meta.label}.{field.name} needs its own placeholder")
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        self.head = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES "
        self.row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        self.returning = ""
        self.pk = meta.pk
        if returning_pk and connection.features.can_return_columns_from_insert:
            self.returning, _params = connection.ops.return_insert_columns([meta.pk])
        self.returning_pk = returning_pk

    def params(self, obj: Model, db) -> list:
        # As the ORM's save does: pre_save (auto_now_add, defaults) then the
        # field's own conversion for this database.
        return [f.get_db_prep_save(f.pre_save(obj, True), db) for f in self.fields]

    def execute(self, cursor, objs: list[Model]) -> None:
        db = transaction.get_connection()  # the wrapper itself, not the per-thread proxy
        sql = self.head + ", ".join([self.row] * len(objs)) + self.returning
        params = [value for obj in objs for value in self.params(obj, db)]
        cursor.execute(sql, params)
        if not self.returning_pk:
            return
        if self.returning:
            (pk,) = connection.ops.fetch_returned_insert_columns(cursor, ())
        else:
            pk = connection.ops.last_insert_id(cursor, objs[0]._meta.db_table, self.pk.column)
        objs[0].pk = pk


_inserts: dict[tuple[str, type[Model]], _Insert] = {}


def _insert(model: type[Model], *, returning_pk: bool) -> _Insert:
    key = (connection.vendor, model)
    if key not in _inserts:
        _inserts[key] = _Insert(model, returning_pk=returning_pk)
    return _inserts[key]


def create(contact: Contact, events: list[ContactEvent]) -> None:
    """Insert `contact` (its pk set) and then `events` (their contact set to it).

    The caller holds the transaction; these are two statements in it.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("create() runs inside the caller's transaction")
    with connection.cursor() as cursor:
        _insert(Contact, returning_pk=True).execute(cursor, [contact])
        for event in events:
            event.contact = contact
        _insert(ContactEvent, returning_pk=False).execute(cursor, events)
    contact._state.adding = False
    contact._state.db = connection.alias
    for event in events:
        event._state.adding = False
        event._state.db = connection.alias
