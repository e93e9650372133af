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

from helpdesk.db_locks import exclusive_transaction
from helpdesk.models import Assignment, Contact, ContactEvent, Offer, Supporter
from helpdesk.models.contacts import QUEUED_STATES, ContactState, can_transition

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


def create_offers(rows: list[tuple[int, int, str]], *, now: datetime) -> dict[int, tuple[int, int]]:
    """Many offers at once: [(contact, supporter, state seen)] -> {offer id: (contact, supporter)}.

    The routing round makes hundreds of offers in a burst; on PostgreSQL this
    is two statements instead of four round trips per offer. A contact that
    left the queue meanwhile is skipped, as is one that somehow already has a
    pending offer (ON CONFLICT on the partial unique index).
    """
    if not rows:
        return {}
    if connection.vendor != "postgresql":
        made = {}
        for contact_id, supporter_id, seen in rows:
            offer_id = create_offer(
                contact_id=contact_id, supporter_id=supporter_id, from_state=seen, now=now
            )
            if offer_id is not None:
                made[offer_id] = (contact_id, supporter_id)
        return made
    wanted = {contact_id: (supporter_id, seen) for contact_id, supporter_id, seen in rows}
    contacts = connection.ops.quote_name(Contact._meta.db_table)
    offers = connection.ops.quote_name(Offer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {contacts} SET state = %s
            WHERE id = ANY(%s) AND state = ANY(%s)
            RETURNING id
            """,
            [ContactState.OFFERED, list(wanted), list(QUEUED)],
        )
        moved = [row[0] for row in cursor.fetchall()]
        if not moved:
            return {}
        supporters = [wanted[c][0] for c in moved]
        returns = [
            wanted[c][1] if wanted[c][1] in QUEUED_STATES else ContactState.WAITING for c in moved
        ]
        cursor.execute(
            f"""
            INSERT INTO {offers} (contact_id, supporter_id, state, return_state, created_at)
            SELECT c, s, %s, r, %s
            FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[]) AS v(c, s, r)
            ON CONFLICT (contact_id) WHERE state = 'pending' DO NOTHING
            RETURNING id, contact_id, supporter_id
            """,
            [Offer.State.PENDING, now, moved, supporters, returns],
        )
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


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
    table = connection.ops.quote_name(Contact._meta.db_table)
    ids, positions, waits = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS c
            SET last_position = v.position, last_estimated_wait_s = v.wait,
                last_position_at = COALESCE(%s::timestamptz, c.last_position_at)
            FROM unnest(%s::bigint[], %s::integer[], %s::integer[]) AS v(id, position, wait)
            WHERE c.id = v.id
            """,
            [at, ids, positions, waits],
        )
