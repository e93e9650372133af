"""Signed contact tokens: the customer's only credential.

A customer is anonymous; the browser keeps this token (localStorage) and shows
it to the WebSocket and the HTTP API to prove it started the contact.
"""

import uuid

from django.conf import settings
from django.core import signing

_SALT = "helpdesk.contact-token"


def make_contact_token(public_id: uuid.UUID) -> str:
    return signing.dumps({"c": public_id.hex}, salt=_SALT, compress=False)


def read_contact_token(token: str | None, *, max_age: int | None = None) -> uuid.UUID | None:
    """The contact's public id, or None for a missing, forged or expired token."""
    if not token or not isinstance(token, str) or len(token) > 512:
        return None
    try:
        data = signing.loads(token, salt=_SALT, max_age=max_age or settings.CONTACT_TOKEN_MAX_AGE_S)
        return uuid.UUID(hex=data["c"])
    except (signing.BadSignature, KeyError, ValueError, TypeError):
        return None
