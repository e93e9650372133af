"""The story of a contact so far, for a customer's page that starts afresh.

A customer's page turns each `contact.state` frame into a system line
(joined, transferred, escalated, on hold, back, ended). Those frames are not
stored; the contact's events are (routing/services.py writes one for each
step). A page that reloads gets the steps back from the events in its
`welcome` (docs/protocol.md, "The story after a reload") and draws the same
lines, each placed after the last message that came before it.
"""

from __future__ import annotations

import bisect

from helpdesk.compiled_reads import CompiledInstances
from helpdesk.models import Contact, ContactEvent, Message
from routing.targets import target_of_event

# Stored event kind -> the step the page tells.
STEPS = {
    "accepted": "joined",
    "picked": "joined",
    "on_hold": "on_hold",
    "resumed": "resumed",
    "transferred": "transferred",
    "escalated": "escalated",
    "ended": "ended",
    "abandoned": "abandoned",
}
# A long conversation keeps its latest steps; the welcome frame stays small.
MAX_STEPS = 50


def _build_latest_steps(contact_id: int):
    return ContactEvent.objects.filter(contact_id=contact_id, kind__in=STEPS).order_by(
        "-at", "-id"
    )[:MAX_STEPS]


# Read by every fresh page's welcome, all at once when a worker restarts: its
# SQL is built once per process (helpdesk/compiled_reads.py).
_latest_steps = CompiledInstances(ContactEvent, _build_latest_steps, related=("supporter",))


def story_for_customer(contact: Contact) -> list[dict]:
    """The steps of `contact` in order: `step`, `at`, `after_seq`, `supporter_name`, `target`."""
    events = _latest_steps(contact.pk)
    if not events:
        return []
    events.reverse()
    # Where each step goes among the messages the customer sees (notes never).
    times = list(
        Message.objects.filter(contact_id=contact.pk)
        .exclude(kind=Message.Kind.NOTE)
        .order_by("seq")
        .values_list("created_at", "seq")
    )
    stamps = [at for at, _ in times]
    language = contact.language or "fi"
    story = []
    for event in events:
        before = bisect.bisect_right(stamps, event.at)
        step = STEPS[event.kind]
        entry = {
            "step": step,
            "at": event.at.isoformat(),
            "after_seq": times[before - 1][1] if before else 0,
            "supporter_name": event.supporter.display_name if event.supporter else None,
            "target": None,
        }
        if step in ("transferred", "escalated"):
            entry["target"] = target_of_event(event.kind, event.data, language)
            entry["supporter_name"] = None  # the one who handed over is not the story
        story.append(entry)
    return story
