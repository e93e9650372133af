"""A waiting chat customer asks to be called back instead.

The chat contact is closed as abandoned with the reason `callback_requested`
and a new phone contact (is_callback) takes its place in routing, carrying the
same municipality, topic, language and description so the customer does not
have to explain again. Both happen in one transaction: either the customer has
a callback request or they are still in the chat queue, never neither.
"""

from __future__ import annotations

import logging
import re

from django.db import transaction
from django.utils.translation import gettext as _

from helpdesk.models import Contact
from helpdesk.models.contacts import QUEUED_STATES, ContactState
from helpdesk.services.errors import Conflict, InvalidInput
from routing.services import abandon_contact, enqueue_contact

log = logging.getLogger(__name__)

_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalise_phone_number(raw: str) -> str:
    """A Finnish or international number in E.164 form (+358401234567).

    Accepts what people type: spaces, dashes, brackets, a national leading 0
    or an international 00 prefix.
    """
    if not isinstance(raw, str):
        raise InvalidInput(_("Give a phone number."))
    number = _SEPARATORS.sub("", raw.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        number = "+358" + number[1:]
    if not _E164.match(number):
        raise InvalidInput(
            _("That does not look like a phone number. Use digits only, e.g. 040 123 4567.")
        )
    return number


def request_callback(*, contact: Contact, callback_number: str, customer_key: str = "") -> Contact:
    """Turn a queued chat into a callback request; returns the new phone contact.

    Raises InvalidInput for a bad number and Conflict when the chat is no longer
    waiting (a supporter took it, or it ended), so the customer keeps the chat.
    """
    number = normalise_phone_number(callback_number)
    with transaction.atomic():
        locked = (
            Contact.objects.select_for_update(of=("self",))
            .select_related("municipality", "topic", "entry_provider")
            .get(pk=contact.pk)
        )
        # Offered is still waiting for the customer: the pending offer is
        # withdrawn with the chat (abandon_contact), and the callback queues.
        waiting = locked.state in QUEUED_STATES or locked.state == ContactState.OFFERED
        if locked.channel != "chat" or not waiting:
            raise Conflict(_("This chat is no longer waiting in the queue."))
        callback = enqueue_contact(
            channel="phone",
            language=locked.language,
            municipality_code=locked.municipality.code if locked.municipality_id else None,
            topic_slug=locked.topic.slug if locked.topic_id else None,
            description=locked.description,
            customer_key=customer_key,
            consent=locked.consent_at is not None,
            entry_provider_slug=locked.entry_provider.slug if locked.entry_provider_id else None,
            is_callback=True,
            callback_number=number,
        )
        abandon_contact(public_id=locked.public_id, reason="callback_requested")
    log.info("contact %s turned into callback request %s", locked.public_id, callback.public_id)
    return callback
