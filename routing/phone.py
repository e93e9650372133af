"""Routing services the phone channel needs beyond those every channel shares.

Kept beside routing/services.py (which every channel calls to create, queue,
accept and end contacts): a caller in the queue who asks to be called back
keeps their place with callback priority, and a call arriving out of hours
needs to know when the providers that would serve it open next.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.models import Contact, Municipality
from helpdesk.models.contacts import QUEUED_STATES
from helpdesk.services.callbacks import normalise_phone_number
from helpdesk.services.errors import Conflict
from routing import selectors, store
from routing.services import CALLBACK_PRIORITY, _contact, _kick_after_commit, _publish_queue_changed
from routing.snapshot import provider_states

log = logging.getLogger(__name__)


def keep_place_as_callback(*, public_id: uuid.UUID, callback_number: str) -> Contact:
    """The queued caller will hang up and be called back: same place, callback priority."""
    number = normalise_phone_number(callback_number)
    contact = _contact(public_id)
    now = timezone.now()
    with transaction.atomic():
        changed = Contact.objects.filter(pk=contact.pk, state__in=QUEUED_STATES).update(
            is_callback=True,
            priority=CALLBACK_PRIORITY,
            callback_number=number,
        )
        if not changed:
            raise Conflict(_("This call is no longer waiting in the queue."))
        store.save_events(
            [
                store.event(
                    contact.pk,
                    "callback_requested",
                    at=now,
                    step_index=contact.step_index,
                    data={"channel": contact.channel, "kept_place": True},
                )
            ]
        )
        _publish_queue_changed(selectors.queue_provider_ids(contact))
        _kick_after_commit()
    contact.refresh_from_db()
    log.info("contact %s keeps its place as a callback request", contact.public_id)
    return contact


def opening_for(
    *, municipality_code: str | None, channel: str, now: datetime | None = None
) -> tuple[bool, datetime | None]:
    """(open now, next opening) over every provider the contact's workflow could reach.

    Open when any of them is open; otherwise the earliest time one opens
    (None when none ever opens, e.g. no rules in the coming weeks).
    """
    now = now or timezone.now()
    municipality = None
    if municipality_code:
        municipality = (
            Municipality.objects.select_related("region__development_area")
            .filter(code=municipality_code)
            .first()
        )
    probe = Contact(
        channel=channel,
        municipality=municipality,
        region=municipality.region if municipality else None,
        step_index=99,
    )
    from routing.services import _workflow_for

    probe.workflow = _workflow_for(probe.region)
    states = provider_states(None, now=now, opening=True)
    reachable = selectors.candidate_provider_ids(probe, providers=states)
    opens = []
    for state in states:
        if state.id not in reachable:
            continue
        if state.is_open:
            return True, None
        if state.next_open is not None:
            opens.append(state.next_open)
    return False, min(opens) if opens else None
