"""Durable queue state: the conditional writes that make claims atomic.

Every write here is a compare-and-set (``UPDATE ... WHERE state = <expected>``)
so that two processes racing for the same offer or contact cannot both win:
PostgreSQL re-checks the WHERE clause after a concurrent writer commits, and
the loser sees zero rows updated. The partial unique indexes on Offer (one
pending per contact) and Assignment (one active per contact) are the last line
of defence. Callers (routing.services) run these inside ``transaction.atomic``
and publish events after commit; nothing here publishes.

Lock order, to keep concurrent transactions free of deadlocks: supporter rows
first (ascending id), then offers, then contacts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from helpdesk.db_batch import Raw, fetch_together
from helpdesk.db_locks import Gate, exclusive_transaction, gated_transaction
from helpdesk.models import Assignment, Contact, ContactEvent, Offer, Supporter
from helpdesk.models.contacts import QUEUED_STATES, ContactState, can_transition
from routing.intake import rows_insert

log = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key for the routing round: any constant unique to
# this purpose ("ROUT" in ASCII).
DISPATCH_LOCK_KEY = 0x524F5554
_local_dispatch_lock = threading.Lock()

QUEUED = tuple(QUEUED_STATES)
CLAIMABLE = tuple(QUEUED_STATES | {ContactState.OFFERED})


def dispatch_lock() -> AbstractContextManager[bool]:
    """A transaction in which this process alone runs the routing round.

    Yields False (without blocking) when another process or thread holds it.
    """
    return exclusive_transaction(DISPATCH_LOCK_KEY, _local_dispatch_lock)


def dispatch_transaction() -> AbstractContextManager[Gate]:
    """`dispatch_lock` whose lock is asked for with the round's first reads (one trip)."""
    return gated_transaction(DISPATCH_LOCK_KEY, _local_dispatch_lock)


def event(
    contact_id: int,
    kind: str,
    *,
    at: datetime,
    supporter_id: int | None = None,
    provider_id: int | None = None,
    step_index: int | None = None,
    actor_id: int | None = None,
    data: dict | None = None,
) -> ContactEvent:
    """An unsaved ContactEvent; callers save them in bulk."""
    return ContactEvent(
        contact_id=contact_id,
        kind=kind,
        at=at,
        supporter_id=supporter_id,
        provider_id=provider_id,
        step_index=step_index,
        actor_id=actor_id,
        data=data or {},
    )


def save_events(events: Iterable[ContactEvent]) -> None:
    events = list(events)
    if events:
        ContactEvent.objects.bulk_create(events)


def lock_supporter(supporter_id: int) -> Supporter:
    """The supporter row, locked until commit: serialises that supporter's claims.

    FOR NO KEY UPDATE, not FOR UPDATE: rows inserted elsewhere that reference
    the supporter (offers, events) take FOR KEY SHARE on it when their
    deferred foreign keys are checked at commit, and FOR UPDATE would make
    those commits wait for us while we wait for their offer rows: a deadlock.
    """
    return Supporter.objects.select_for_update(no_key=True).get(pk=supporter_id)


def lock_supporters(ids: Iterable[int], *, skip_locked: bool = False) -> set[int]:
    """Lock these supporter rows in id order; the ids actually locked.

    With ``skip_locked`` (SELECT ... FOR NO KEY UPDATE SKIP LOCKED) a row held
    by a claim in progress is left out instead of waited for: the routing
    round never stalls behind one supporter and deals with them next tick.
    """
    ids = sorted(set(ids))
    if not ids:
        return set()
    locked = Supporter.objects.select_for_update(no_key=True, skip_locked=skip_locked)
    return set(locked.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def active_load(supporter_id: int, channel: str) -> int:
    return Assignment.objects.filter(
        supporter_id=supporter_id, ended_at__isnull=True, contact__channel=channel
    ).count()


def transition(contact_id: int, from_states: Iterable[str], to_state: str, **fields) -> bool:
    """Compare-and-set the contact's state; False when it was no longer in ``from_states``."""
    allowed = [s for s in from_states if can_transition(s, to_state)]
    if not allowed:
        return False
    updated = Contact.objects.filter(pk=contact_id, state__in=allowed).update(
        state=to_state, **fields
    )
    return updated == 1


def create_offer(
    *, contact_id: int, supporter_id: int, from_state: str, now: datetime
) -> int | None:
    """Offer a queued contact to a supporter; the new Offer id, or None if it moved on."""
    return_state = from_state if from_state in QUEUED_STATES else ContactState.WAITING
    try:
        with transaction.atomic():
            if not transition(contact_id, QUEUED, ContactState.OFFERED):
                return None
            offer = Offer.objects.create(
                contact_id=contact_id, supporter_id=supporter_id, return_state=return_state
            )
    except IntegrityError:
        # A pending offer already exists (the partial unique index said so).
        return None
    return offer.pk


def create_offers(rows: list[tuple[int, int, str]], *, now: datetime) -> list[Offer]:
    """Many offers at once: [(contact, supporter, state seen)] -> the offers made.

    Each offer carries `now` as its creation time and has its contact
    attached, the contact as the offer left it (offered) with its
    municipality and topic: what the `offer.new` payload shows. The routing
    round makes hundreds of offers in a burst; on PostgreSQL this is one
    statement (the contacts moved, the offers inserted and their payload rows
    returned) instead of four round trips per offer. A contact that left the
    queue meanwhile is skipped, as is one that somehow already has a pending
    offer (ON CONFLICT on the partial unique index).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        made = []
        for contact_id, supporter_id, seen in rows:
            offer_id = create_offer(
                contact_id=contact_id, supporter_id=supporter_id, from_state=seen, now=now
            )
            if offer_id is not None:
                made.append(offer_id)
        Offer.objects.filter(pk__in=made).update(created_at=now)
        offers = Offer.objects.filter(pk__in=made).select_related(
            "contact__municipality", "contact__topic"
        )
        return sorted(offers, key=lambda o: o.pk)
    wanted = {contact_id: (supporter_id, seen) for contact_id, supporter_id, seen in rows}
    contacts = list(wanted)
    supporters = [wanted[c][0] for c in contacts]
    returns = [
        wanted[c][1] if wanted[c][1] in QUEUED_STATES else ContactState.WAITING for c in contacts
    ]
    statement = _offers_statement()
    with connection.cursor() as cursor:
        cursor.execute(
            statement.sql,
            [
                ContactState.OFFERED,
                contacts,
                list(QUEUED),
                Offer.State.PENDING,
                now,
                contacts,
                supporters,
                returns,
            ],
        )
        return [statement.offer(row) for row in cursor.fetchall()]


class _OffersStatement:
    """The UPDATE of the contacts and the INSERT of their offers, returning payload rows.

    Built once from the models' metadata. The contact's columns come from the
    UPDATE's RETURNING (the row as updated: a join on the table would see it
    as it was before the statement). Each column goes through its field's
    converters, as the ORM's reads do.
    """

    def __init__(self) -> None:
        from helpdesk.models import Municipality, Topic

        q = connection.ops.quote_name
        self.models = (
            ("made", Offer, None),
            ("moved", Contact, None),
            ("m", Municipality, "municipality"),
            ("t", Topic, "topic"),
        )
        self.parts = []
        selected = []
        for alias, model, relation in self.models:
            fields = list(model._meta.concrete_fields)
            self.parts.append((model, [f.attname for f in fields], relation))
            selected += [f"{alias}.{q(f.column)}" for f in fields]
        self.converters = [
            (connection.ops.get_db_converters(col) + col.get_db_converters(connection), col)
            for _, model, _ in self.models
            for col in (f.get_col(model._meta.db_table) for f in model._meta.concrete_fields)
        ]
        contact_columns = ", ".join(q(f.column) for f in Contact._meta.concrete_fields)
        offer_columns = ", ".join(q(f.column) for f in Offer._meta.concrete_fields)
        self.sql = f"""
            WITH moved AS (
                UPDATE {q(Contact._meta.db_table)} SET state = %s
                WHERE id = ANY(%s) AND state = ANY(%s)
                RETURNING {contact_columns}
            ), made AS (
                INSERT INTO {q(Offer._meta.db_table)}
                    (contact_id, supporter_id, state, return_state, created_at)
                SELECT v.c, v.s, %s, v.r, %s
                FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[]) AS v(c, s, r)
                JOIN moved ON moved.id = v.c
                ON CONFLICT (contact_id) WHERE state = 'pending' DO NOTHING
                RETURNING {offer_columns}
            )
            SELECT {", ".join(selected)}
            FROM made JOIN moved ON moved.id = made.contact_id
            LEFT JOIN {q(Municipality._meta.db_table)} m ON m.id = moved.municipality_id
            LEFT JOIN {q(Topic._meta.db_table)} t ON t.id = moved.topic_id
            ORDER BY made.id
        """

    def offer(self, row: tuple) -> Offer:
        values = list(row)
        for i, (converters, col) in enumerate(self.converters):
            for converter in converters:
                values[i] = converter(values[i], col, connection)
        at = 0
        instances = []
        for model, names, relation in self.parts:
            chunk = values[at : at + len(names)]
            at += len(names)
            instances.append((model.from_db(connection.alias, names, chunk), relation))
        (offer, _), (contact, _), *related = instances
        for instance, relation in related:
            if getattr(contact, f"{relation}_id") is not None:
                setattr(contact, relation, instance)
        offer.contact = contact
        return offer


_offers_statements: dict[str, _OffersStatement] = {}


def _offers_statement() -> _OffersStatement:
    if connection.alias not in _offers_statements:
        _offers_statements[connection.alias] = _OffersStatement()
    return _offers_statements[connection.alias]


def settle_offer(*, offer_id: int, to_state: str, now: datetime) -> Offer | None:
    """pending -> declined/expired/withdrawn, and the contact back to its queue state.

    Returns the offer, or None when it was no longer pending (accepted, or
    settled by someone else first).
    """
    updated = Offer.objects.filter(pk=offer_id, state=Offer.State.PENDING).update(
        state=to_state, decided_at=now
    )
    if updated != 1:
        return None
    offer = Offer.objects.get(pk=offer_id)
    transition(offer.contact_id, [ContactState.OFFERED], offer.return_state)
    return offer


def withdraw_pending_offer(*, contact_id: int, now: datetime) -> Offer | None:
    """Withdraw the contact's pending offer, if any, without touching the contact."""
    offer = Offer.objects.filter(contact_id=contact_id, state=Offer.State.PENDING).first()
    if offer is None:
        return None
    updated = Offer.objects.filter(pk=offer.pk, state=Offer.State.PENDING).update(
        state=Offer.State.WITHDRAWN, decided_at=now
    )
    return offer if updated == 1 else None


def accept_pending_offer(*, offer_id: int, supporter_id: int, now: datetime) -> bool:
    updated = Offer.objects.filter(
        pk=offer_id, supporter_id=supporter_id, state=Offer.State.PENDING
    ).update(state=Offer.State.ACCEPTED, decided_at=now)
    return updated == 1


def start_assignment(
    *, contact_id: int, supporter_id: int, provider_id: int | None, now: datetime
) -> Assignment | None:
    """Insert the active assignment; None if the contact already has one."""
    try:
        with transaction.atomic():
            return Assignment.objects.create(
                contact_id=contact_id,
                supporter_id=supporter_id,
                provider_id=provider_id,
                started_at=now,
            )
    except IntegrityError:
        return None


def end_assignment(*, contact_id: int, now: datetime) -> Assignment | None:
    assignment = Assignment.objects.filter(contact_id=contact_id, ended_at__isnull=True).first()
    if assignment is None:
        return None
    Assignment.objects.filter(pk=assignment.pk, ended_at__isnull=True).update(ended_at=now)
    Supporter.objects.filter(pk=assignment.supporter_id).update(idle_since=now)
    return assignment


def pending_offers_of(supporter_id: int) -> list[Offer]:
    return list(Offer.objects.filter(supporter_id=supporter_id, state=Offer.State.PENDING))


def double_assignments() -> int:
    """Contacts with more than one active assignment (must be zero)."""
    from django.db.models import Count

    return (
        Assignment.objects.filter(ended_at__isnull=True)
        .values("contact_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )


def overlapping_assignments() -> int:
    """Assignments of one contact whose service periods overlap (must be zero)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COUNT(*) FROM helpdesk_assignment a
            JOIN helpdesk_assignment b ON a.contact_id = b.contact_id AND a.id < b.id
            WHERE (a.ended_at IS NULL OR b.started_at < a.ended_at)
              AND (b.ended_at IS NULL OR a.started_at < b.ended_at)
            """
        )
        return int(cursor.fetchone()[0])


def open_contacts_filter() -> Q:
    return Q(state__in=CLAIMABLE) | Q(state__in=(ContactState.ACTIVE, ContactState.ON_HOLD))


def save_positions(rows: list[tuple[int, int, int | None]], *, at=None) -> None:
    """(contact id, position, estimated wait) for many contacts in one statement.

    Positions shift for the whole queue at once; Django's bulk_update builds a
    CASE per row, which costs seconds for a long queue on every tick. These
    columns are outside the routing version of routing/incremental.py, so no
    process reads a contact again because a round stored its position.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        Contact.objects.bulk_update(
            [
                Contact(pk=c, last_position=p, last_estimated_wait_s=w, last_position_at=at)
                for c, p, w in rows
            ],
            ["last_position", "last_estimated_wait_s", "last_position_at"],
            batch_size=200,
        )
        return
    statement = _positions_statement(rows, at=at)
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)


def _positions_statement(rows: list[tuple[int, int, int | None]], *, at) -> Raw:
    table = connection.ops.quote_name(Contact._meta.db_table)
    ids, positions, waits = (list(column) for column in zip(*rows, strict=True))
    return Raw(
        f"""
        UPDATE {table} AS c
        SET last_position = v.position, last_estimated_wait_s = v.wait,
            last_position_at = COALESCE(%s::timestamptz, c.last_position_at)
        FROM unnest(%s::bigint[], %s::integer[], %s::integer[]) AS v(id, position, wait)
        WHERE c.id = v.id
        """,
        [at, ids, positions, waits],
    )


# Rows per INSERT of a round's events: a burst round writes hundreds.
EVENTS_PER_STATEMENT = 1000


def save_round(
    *, positions: list[tuple[int, int, int | None]], at: datetime, events: list[ContactEvent]
) -> None:
    """A routing round's last writes: the positions it sent and its events.

    On PostgreSQL they go together in one round trip; nothing is read back
    (the events' ids are not needed).
    """
    if connection.vendor != "postgresql":
        save_positions(positions, at=at)
        save_events(events)
        return
    statements = []
    if positions:
        statements.append(_positions_statement(positions, at=at))
    insert = None
    for start in range(0, len(events), EVENTS_PER_STATEMENT):
        insert = insert or rows_insert(ContactEvent)
        statements.append(Raw(*insert.statement(events[start : start + EVENTS_PER_STATEMENT])))
    if statements:
        fetch_together(*statements)
