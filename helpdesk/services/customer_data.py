"""A customer's own data: a copy to download, and deleting it on request.

Authorised by the contact token only (helpdesk/views/api.py). Deleting takes
the retention purge's path for this one contact
(helpdesk/services/retention.py `purge_contacts`): the messages, description,
callback number, notes, customer key and feedback comment go; the
pseudonymous statistics (times, region, topic, outcome) stay, as they do
after the retention period. An open contact is ended first, through routing,
so that a supporter serving it or an offer for it is released properly.
Both leave an audit entry.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from helpdesk.models import AuditLogEntry, Contact, Feedback
from helpdesk.models.contacts import IN_SERVICE_STATES, TERMINAL_STATES
from helpdesk.selectors import customer_visible_messages
from helpdesk.services.retention import purge_contacts

log = logging.getLogger(__name__)


def contact_export(*, contact: Contact) -> dict[str, Any]:
    """Everything the customer gave and was shown, as JSON-ready data (notes excluded)."""
    feedback = Feedback.objects.filter(contact=contact).first()
    data = {
        "contact": {
            "id": str(contact.public_id),
            "state": contact.state,
            "channel": contact.channel,
            "language": contact.language,
            "topic": contact.topic.slug if contact.topic_id else None,
            "municipality": contact.municipality.name_fi if contact.municipality_id else None,
            "description": contact.description,
            "is_callback": contact.is_callback,
            "created_at": contact.created_at.isoformat(),
            "ended_at": contact.ended_at.isoformat() if contact.ended_at else None,
            "purged_at": contact.purged_at.isoformat() if contact.purged_at else None,
        },
        "messages": [
            {
                "seq": m.seq,
                "author": m.author_kind,
                "author_name": m.author_name,
                "kind": m.kind,
                "body": m.body,
                "created_at": m.created_at.isoformat(),
            }
            for m in customer_visible_messages(contact)
        ],
        "feedback": (
            {
                "rating": feedback.rating,
                "comment": feedback.comment,
                "can_do_myself": feedback.can_do_myself,
            }
            if feedback
            else None
        ),
    }
    AuditLogEntry.objects.create(
        action="customer_export", contact=contact, detail={"format": "json"}
    )
    return data


def record_transcript_download(*, contact: Contact) -> None:
    """The plain-text copy leaves a trace like the JSON one."""
    AuditLogEntry.objects.create(
        action="customer_export", contact=contact, detail={"format": "text"}
    )


def delete_own_contact(*, contact: Contact) -> dict[str, int]:
    """End the contact if it is open, then purge its personal content now."""
    from routing import services as routing

    if contact.state not in TERMINAL_STATES:
        if contact.state in IN_SERVICE_STATES:
            routing.end_contact(public_id=contact.public_id, by_customer=True)
        else:
            routing.abandon_contact(public_id=contact.public_id, reason="customer_deleted")
    now = timezone.now()
    with transaction.atomic():
        Contact.objects.select_for_update().filter(pk=contact.pk).first()
        contacts, messages, comments = purge_contacts([contact.pk], now=now)
        AuditLogEntry.objects.create(
            action="customer_deleted",
            contact=contact,
            detail={"messages": messages, "feedback_comments": comments},
        )
    log.info("contact %s deleted by its customer (%d messages)", contact.public_id, messages)
    return {"contacts": contacts, "messages": messages, "feedback_comments": comments}
