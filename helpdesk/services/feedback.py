"""Customer feedback on a contact: the only writer of Feedback.

One feedback per contact (the OneToOne row is the guard, so two sockets
racing cannot store two). The comment is masked like a chat message, since a
customer may type the same things into it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from helpdesk.models import Contact, Feedback
from helpdesk.services.errors import Conflict, InvalidInput, NotFound
from realtime.masking import mask

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000


def _check(rating: Any, comment: Any, can_do_myself: Any) -> None:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("rating must be an integer from 1 to 5")
    if not isinstance(comment, str):
        raise InvalidInput("comment must be a string")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"comment is over {MAX_COMMENT_CHARS} characters", code="too_large")
    if can_do_myself is not None and not isinstance(can_do_myself, bool):
        raise InvalidInput("can_do_myself must be true, false or null")


def submit_feedback(
    *,
    contact_id: int,
    rating: int,
    comment: str = "",
    can_do_myself: bool | None = None,
) -> Feedback:
    """Store the customer's rating of a contact; a second submission is a Conflict."""
    _check(rating, comment, can_do_myself)
    found = list(Contact.objects.filter(pk=contact_id).values_list("purged_at", flat=True))
    if not found:
        raise NotFound("contact not found")
    if found[0] is not None:
        # The retention purge has run: a comment stored now would outlive it.
        raise Conflict("this contact's data has been deleted")
    try:
        with transaction.atomic():
            feedback = Feedback.objects.create(
                contact_id=contact_id,
                rating=rating,
                comment=mask(comment.strip()).text,
                can_do_myself=can_do_myself,
            )
    except IntegrityError as exc:
        raise Conflict("feedback was already given for this contact") from exc
    log.info("feedback stored for contact %s", contact_id)
    return feedback
