"""Test data for the chat tests: contacts in a given state, served or not."""

from __future__ import annotations

from django.utils import timezone

from helpdesk.models import Assignment, Contact, Municipality, Region
from tests.factories import make_provider, make_supporter


def make_contact(*, state: str = "waiting", supporter=None, provider=None, **extra) -> Contact:
    region = Region.objects.filter(code="01").first()
    municipality = Municipality.objects.filter(code="091").first()
    now = timezone.now()
    contact = Contact.objects.create(
        channel="chat",
        language=extra.pop("language", "fi"),
        state=state,
        region=region,
        municipality=municipality,
        waiting_since=now,
        supporter=supporter,
        provider=provider,
        accepted_at=now if supporter else None,
        pseudonym="Asiakas 1234",
        **extra,
    )
    if supporter is not None and state in ("active", "on_hold"):
        Assignment.objects.create(
            contact=contact, supporter=supporter, provider=provider, started_at=now
        )
    return contact


def make_pair(*, kind: str = "staff", state: str = "active", **extra):
    """A provider for Uusimaa, one available supporter, and a contact it serves."""
    provider = make_provider(regions=["01"])
    supporter = make_supporter(providers=[provider], kind=kind, presence="available")
    contact = make_contact(
        state=state,
        supporter=supporter if state in ("active", "on_hold") else None,
        provider=provider,
        **extra,
    )
    return provider, supporter, contact
