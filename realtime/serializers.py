"""Outbound WebSocket frames (docs/protocol.md, "Server → client").

Plain functions from model rows or service results to JSON-ready dicts, so
that every frame a consumer sends has one place that decides its shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import translation
from django.utils.translation import gettext

from helpdesk import metrics
from helpdesk.models.contacts import IN_SERVICE_STATES, QUEUED_STATES, ContactState
from helpdesk.untrusted import printable_ref
from routing.targets import helper_for

if TYPE_CHECKING:
    from helpdesk.models import Contact, Supporter
    from helpdesk.services.messages import PostResult

# Keys a volunteer must never see, wherever they appear in an event.
VOLUNTEER_HIDDEN = frozenset({"callback_number", "phone", "customer_phone"})

# States in which the customer's page says who will help next.
QUEUED_FOR_CUSTOMER = QUEUED_STATES | {ContactState.OFFERED}


def error(code: str, detail: str, ref: str | None = None) -> dict[str, Any]:
    metrics.error("socket", code)
    # A ref that cannot be encoded would kill the socket when sent: drop it.
    return {
        "type": "error",
        "code": code,
        "detail": detail,
        "ref": printable_ref(ref, max_chars=200),
    }


def masked_notice(language: str) -> str:
    """Why part of the customer's message was hidden, in the customer's language."""
    with translation.override(language or "fi"):
        return gettext(
            "For your safety, we hid numbers that looked like an identity code, a card or "
            "account number or a one-time code. Never share them in the chat."
        )


def ack(result: PostResult, *, language: str | None = None) -> dict[str, Any]:
    frame = {
        "type": "message.ack",
        "contact": result.contact,
        "client_msg_id": result.client_msg_id,
        "seq": result.seq,
        "masked": result.masked,
    }
    if result.masked and language is not None:
        frame["notice"] = masked_notice(language)
    return frame


def message_new(contact: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message.new", "contact": contact, "message": message}


def customer_contact(contact: Contact) -> dict[str, Any]:
    """The `contact` object the customer sees: no internal fields."""
    supporter = contact.supporter if contact.supporter_id else None
    return {
        "id": str(contact.public_id),
        "state": contact.state,
        "channel": contact.channel,
        "language": contact.language,
        "topic": contact.topic.slug if contact.topic_id else None,
        "position": contact.last_position,
        "estimated_wait_s": contact.last_estimated_wait_s,
        "supporter_name": (
            supporter.display_name if supporter and contact.state in IN_SERVICE_STATES else None
        ),
        "last_seq": contact.next_seq - 1,
        # Who will serve a queued contact: a provider or region, never a person.
        "helper": helper_for(contact) if contact.state in QUEUED_FOR_CUSTOMER else None,
    }


def supporter_contact(contact: Contact, *, viewer: Supporter, actor=None) -> dict[str, Any]:
    """The contact as its serving supporter sees it; `actor` saves reading the viewer's roles."""
    from routing.selectors import contact_summary

    return for_viewer(contact_summary(contact, viewer=viewer, actor=actor), viewer)


def for_viewer(data: Any, viewer: Supporter) -> Any:
    """Drop what a volunteer may not see (a caller's number), at any depth."""
    if not viewer.is_volunteer:
        return data
    if isinstance(data, dict):
        return {k: for_viewer(v, viewer) for k, v in data.items() if k not in VOLUNTEER_HIDDEN}
    if isinstance(data, list):
        return [for_viewer(item, viewer) for item in data]
    return data


def supporter_self(supporter: Supporter) -> dict[str, Any]:
    return {
        "id": supporter.pk,
        "display_name": supporter.display_name,
        "presence": supporter.presence,
        "kind": supporter.kind,
    }
