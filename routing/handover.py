"""Warm handover: the contact goes straight from one supporter to another.

A cold transfer (routing.services.transfer_contact) queues the contact again,
pinned to its target, and routing offers it there. In a warm transfer the
target is already on the line (a phone conference) and agreed to take over, so
the same transfer is made and the target claims the pinned contact at once,
with routing.services.pick_contact, in one transaction: no other process ever
sees the contact waiting, and its event trail reads like any transfer
("transferred" by the first supporter, "picked" by the second).
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from helpdesk.models import Contact, Supporter
from routing import services as routing

log = logging.getLogger(__name__)


def hand_over_contact(
    *,
    public_id: uuid.UUID,
    supporter: Supporter,
    to_supporter: Supporter,
    to_provider_id: int | None = None,
    note: str = "",
) -> Contact:
    """`supporter` hands the contact to `to_supporter` (asked by name or through a provider)."""
    with transaction.atomic():
        if to_provider_id is not None:
            routing.transfer_contact(
                public_id=public_id, supporter=supporter, to_provider_id=to_provider_id, note=note
            )
        else:
            routing.transfer_contact(
                public_id=public_id,
                supporter=supporter,
                to_supporter_id=to_supporter.pk,
                note=note,
            )
        contact = routing.pick_contact(public_id=public_id, supporter=to_supporter)
    log.info("contact %s handed over warm to supporter %s", contact.public_id, to_supporter.pk)
    return contact
