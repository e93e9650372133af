"""abandon_contact for a caller who hangs up while waiting, in one SQL statement.

Every phone call that ends in the queue closes its contact: at 200 webhooks a
second routing.services.abandon_contact's dozen ORM statements were a third
of a status callback's cost. This does the same for the one case that is
frequent, a waiting (or offered) contact nobody serves: the contact becomes
abandoned, its pending offer is withdrawn, a "queue closed" notice is dropped
and the same events are written, then the same frames are published and the
routing round is kicked once the transaction commits.

Anything else (a contact someone serves or has an open assignment, one whose
state moved since the caller read it) changes nothing here and is left to
abandon_contact, which locks the serving supporter first. The equivalence
with that path is tested (tests/routing/test_lean_abandon.py).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from helpdesk.models import (
    Assignment,
    Contact,
    ContactEvent,
    DevelopmentArea,
    Municipality,
    Offer,
    Region,
)
from helpdesk.models.contacts import ContactState
from routing import selectors, store
from routing.models import ClosedNotice

# A compare-and-set on the state the caller read: a contact that moved on in
# between is not touched, and the ORM path decides with fresh eyes.
_SQL = """
WITH moved AS (
    UPDATE {contact} AS c SET
        state = 'abandoned', ended_at = %(now)s,
        last_position = NULL, last_estimated_wait_s = NULL
    WHERE c.id = %(contact)s AND c.state = %(state)s AND c.supporter_id IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM {assignment} a WHERE a.contact_id = c.id AND a.ended_at IS NULL)
    RETURNING c.id, c.provider_id, c.step_index, c.channel, c.language, c.workflow_id,
              c.municipality_id, c.region_id, c.pinned_supporter_id, c.pinned_provider_id
),
withdrawn AS (
    UPDATE {offer} AS o SET state = 'withdrawn', decided_at = %(now)s
    FROM moved WHERE o.contact_id = moved.id AND o.state = 'pending'
    RETURNING o.id, o.supporter_id
),
notice AS (
    DELETE FROM {notice} WHERE contact_id IN (SELECT id FROM moved)
),
events AS (
    INSERT INTO {event}
        (contact_id, kind, at, actor_id, supporter_id, provider_id, step_index, data)
    SELECT moved.id, 'abandoned', %(now)s, NULL::integer, NULL::integer,
           moved.provider_id, moved.step_index,
           jsonb_build_object('reason', %(reason)s::text, 'from_state', %(state)s::text)
    FROM moved
    UNION ALL
    SELECT moved.id, 'offer_withdrawn', %(now)s, NULL::integer, withdrawn.supporter_id,
           NULL::integer, NULL::integer,
           jsonb_build_object('offer', withdrawn.id, 'reason', 'abandoned')
    FROM moved, withdrawn
)
SELECT moved.*, withdrawn.id, withdrawn.supporter_id,
       m.code, r.code, r.development_area_id, d.code
FROM moved
LEFT JOIN withdrawn ON TRUE
LEFT JOIN {municipality} m ON m.id = moved.municipality_id
LEFT JOIN {region} r ON r.id = moved.region_id
LEFT JOIN {area} d ON d.id = r.development_area_id
"""


def _sql() -> str:
    return _SQL.format(
        contact=Contact._meta.db_table,
        assignment=Assignment._meta.db_table,
        offer=Offer._meta.db_table,
        notice=ClosedNotice._meta.db_table,
        event=ContactEvent._meta.db_table,
        municipality=Municipality._meta.db_table,
        region=Region._meta.db_table,
        area=DevelopmentArea._meta.db_table,
    )


def abandon_waiting(*, contact: Contact, reason: str, now: datetime) -> bool:
    """Close a waiting contact nobody serves; False when it is not one (nothing changed).

    `contact` needs id, public_id and state as the caller read them. Call it
    inside a transaction: the frames and the routing kick follow its commit.
    """
    # Imported here: routing.services imports this module's neighbours.
    from routing import services

    # The statement is PostgreSQL's (data-modifying CTEs, jsonb); elsewhere
    # (the embedded SQLite of `make serve`) the ORM path does the same work.
    if connection.vendor != "postgresql" or contact.state not in store.CLAIMABLE:
        return False
    params = {"contact": contact.pk, "state": str(contact.state), "now": now, "reason": reason}
    with connection.cursor() as cursor:
        cursor.execute(_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return False
    (pk, provider_id, step_index, channel, language, workflow_id, municipality_id, region_id,
     pinned_supporter_id, pinned_provider_id, offer_id, offer_supporter_id,
     municipality_code, region_code, area_id, area_code) = row  # fmt: skip
    if offer_id is not None:
        offer = Offer(pk=offer_id, contact_id=pk, supporter_id=offer_supporter_id)
        services._publish_withdrawn(offer, contact.public_id, "abandoned")
    services._publish_state(contact, ContactState.ABANDONED)
    # What queue lists showed it: the same providers abandon_contact tells.
    seen = Contact(
        pk=pk,
        public_id=contact.public_id,
        provider_id=provider_id,
        step_index=step_index,
        channel=channel,
        language=language,
        workflow_id=workflow_id,
        pinned_supporter_id=pinned_supporter_id,
        pinned_provider_id=pinned_provider_id,
    )
    if municipality_id is not None:
        seen.municipality = Municipality(pk=municipality_id, code=municipality_code)
    if region_id is not None:
        area = DevelopmentArea(pk=area_id, code=area_code) if area_id is not None else None
        seen.region = Region(pk=region_id, code=region_code, development_area=area)
    services._publish_queue_changed(selectors.queue_provider_ids(seen))
    services._kick_after_commit()
    contact.state = ContactState.ABANDONED
    contact.ended_at = now
    return True
