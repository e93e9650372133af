"""Helpers for the statistics tests: contacts with a given history, bucket snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.models import Contact, ContactEvent, Region
from helpdesk.stats.models import HourlyBucket

# A Monday morning (Helsinki) in the past, away from holidays.
BASE = datetime(2026, 10, 5, 7, 0, tzinfo=UTC)


def make_contact(
    *,
    created: datetime,
    region: Region | None = None,
    channel: str = "chat",
    language: str = "fi",
    answered_after_s: float | None = 30,
    handled_s: float = 300,
    abandoned_after_s: float | None = None,
    outcome: str = "solved",
) -> Contact:
    """A finished contact and its events, as routing.services would have left them."""
    contact = Contact.objects.create(
        channel=channel,
        language=language,
        region=region,
        state="abandoned" if abandoned_after_s is not None else "ended",
        outcome="" if abandoned_after_s is not None else outcome,
    )
    Contact.objects.filter(pk=contact.pk).update(created_at=created)
    contact.created_at = created
    events = [
        ContactEvent(contact=contact, kind="created", at=created, data={"channel": channel}),
        ContactEvent(contact=contact, kind="queued", at=created),
    ]
    if abandoned_after_s is not None:
        at = created + timedelta(seconds=abandoned_after_s)
        events.append(ContactEvent(contact=contact, kind="abandoned", at=at))
    elif answered_after_s is not None:
        accepted = created + timedelta(seconds=answered_after_s)
        events.append(
            ContactEvent(
                contact=contact,
                kind="accepted",
                at=accepted,
                data={"waited_s": int(answered_after_s)},
            )
        )
        events.append(
            ContactEvent(contact=contact, kind="ended", at=accepted + timedelta(seconds=handled_s))
        )
    ContactEvent.objects.bulk_create(events)
    return contact


def snapshot() -> list[tuple]:
    """Every bucket's content without its id, in a stable order."""
    fields = [f.attname for f in HourlyBucket._meta.concrete_fields if f.name != "id"]
    rows = [tuple(repr(v) for v in row) for row in HourlyBucket.objects.values_list(*fields)]
    return sorted(rows)


@pytest.fixture
def region(reference_data) -> Region:
    return Region.objects.get(code="12")
