"""Permission-aware reads of the queue, for the console and the customer page.

Waiting contacts are shown pseudonymously (pseudonym, channel, language,
topic, municipality, time waited); details are for the supporter who serves
the contact, and a callback number only for staff serving it: volunteers never
see one (docs/architecture.md section 5). Which providers may see a queued contact is
decided here, once, for the console list, for `pick_contact` and for the
`queue.changed` notifications.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from helpdesk.compiled_reads import CompiledInstances, CompiledRead
from helpdesk.models import Assignment, AuditLogEntry, Contact, Offer, Supporter
from helpdesk.models.contacts import IN_SERVICE_STATES
from helpdesk.permissions import Action, Actor, can, target_for_contact
from routing import types
from routing.models import Workflow
from routing.snapshot import ROUTED_STATES, provider_states

# Who-sees-what hints (queue.changed) may lag an admin edit by a few seconds;
# they are only a prompt to re-read the queue. Permission checks read afresh.
HINT_CACHE_S = 5.0
_hint_cache: dict[object, tuple[float, object]] = {}


def _cached(key, compute):
    now = time.monotonic()
    hit = _hint_cache.get(key)
    if hit is not None and now - hit[0] < HINT_CACHE_S:
        return hit[1]
    value = compute()
    _hint_cache[key] = (now, value)
    return value


def steps_of(workflow_id: int | None, *, municipality_known: bool) -> tuple[types.Step, ...]:
    """The contact's workflow steps, with the engine's fallback when it has none."""
    if workflow_id:
        workflow = Workflow.objects.filter(pk=workflow_id).prefetch_related("steps").first()
        if workflow is not None:
            steps = sorted(workflow.steps.all(), key=lambda s: s.order)
            if steps:
                return tuple(
                    types.Step(s.target, s.require_language, s.require_topic, s.timeout_s)
                    for s in steps
                )
    return types.DEFAULT_STEPS if municipality_known else types.NATIONAL_FIRST_LINE_STEPS


def workflow_end(steps: tuple[types.Step, ...], step_index: int) -> int:
    """The index of the step that ends the workflow for a contact at `step_index`."""
    last = len(steps) - 1
    end = min(max(step_index, 0), last)
    while end < last and not steps[end].is_terminal:
        end += 1
    return end


def _matches(provider: types.ProviderState, step: types.Step, contact: Contact, area) -> bool:
    if contact.channel not in provider.channels:
        return False
    if step.require_language and contact.language not in provider.languages:
        return False
    municipality, region, development_area = area
    if step.target == "national":
        return provider.is_national
    if step.target == "municipality":
        return municipality is not None and municipality in provider.municipalities
    if step.target == "region":
        return region is not None and region in provider.regions
    if step.target == "development_area":
        return development_area is not None and development_area in provider.development_areas
    return False


def _area_of(contact: Contact) -> tuple[str | None, str | None, str | None]:
    municipality = contact.municipality.code if contact.municipality_id else None
    region = contact.region.code if contact.region_id else None
    area = None
    if contact.region_id and contact.region.development_area_id:
        area = contact.region.development_area.code
    return municipality, region, area


def candidate_provider_ids(
    contact: Contact,
    *,
    providers: Iterable[types.ProviderState] | None = None,
    steps: tuple[types.Step, ...] | None = None,
    reached_only: bool = False,
) -> frozenset[int]:
    """Providers whose supporters may take this queued contact.

    Those of every step of its workflow, up to the step that ends it (the
    engine's rule 2): the steps reached so far (a contact that overflowed to
    the development area stays visible to its own region) and the overflow
    steps still ahead, so that a supporter of the region who sits idle sees,
    and may pick, the customer of a municipality whose own supporters are busy
    (the engine offers it to them when they are idle, rule 8). Opening hours
    are ignored: a supporter online after closing time may still help. A pin
    replaces the workflow. `reached_only` leaves out the steps still ahead.
    """
    if contact.pinned_supporter_id:
        return frozenset(
            Supporter.providers.through.objects.filter(
                supporter_id=contact.pinned_supporter_id
            ).values_list("provider_id", flat=True)
        )
    if contact.pinned_provider_id:
        return frozenset({contact.pinned_provider_id})
    if providers is None:
        providers = provider_states(None, now=timezone.now(), opening=False)
    if steps is None:
        steps = steps_of(
            contact.workflow_id, municipality_known=contact.municipality_id is not None
        )
    if reached_only:
        reached = steps[: min(max(contact.step_index, 0), len(steps) - 1) + 1]
    else:
        reached = steps[: workflow_end(steps, contact.step_index) + 1]
    area = _area_of(contact)
    return frozenset(
        p.id for p in providers if any(_matches(p, step, contact, area) for step in reached)
    )


def may_take(contact: Contact, supporter: Supporter, *, actor: Actor | None = None) -> bool:
    """Whether the supporter may pick (or accept) this queued contact."""
    if contact.pinned_supporter_id and contact.pinned_supporter_id != supporter.pk:
        return False
    actor = actor or Actor.for_user(supporter.user)
    mine = provider_states(list(actor.provider_ids), now=timezone.now(), opening=False)
    candidates = candidate_provider_ids(contact, providers=mine)
    return can(
        actor, Action.CONTACT_PICK, target_for_contact(contact, candidate_provider_ids=candidates)
    )


def _waited_s(contact: Contact, now: datetime) -> int:
    since = contact.waiting_since or contact.created_at or now
    return max(0, int((now - since).total_seconds()))


def pseudonymous(contact: Contact, *, now: datetime | None = None) -> dict:
    """What any supporter who may take a waiting contact sees of it."""
    now = now or timezone.now()
    return {
        "id": str(contact.public_id),
        "pseudonym": contact.pseudonym,
        "state": str(contact.state),
        "channel": contact.channel,
        "language": contact.language,
        "topic": contact.topic.slug if contact.topic_id else None,
        "municipality": (
            contact.municipality.localized_name() if contact.municipality_id else None
        ),
        "waited_s": _waited_s(contact, now),
        "is_callback": contact.is_callback,
        "priority": contact.priority,
        "transferred": contact.state != "waiting" and contact.state in ROUTED_STATES,
    }


def _with_relations(qs):
    return qs.select_related(
        "municipality", "region__development_area", "topic", "supporter", "pinned_provider"
    )


@dataclass(frozen=True)
class QueueRead:
    """What the queue lists of one set of providers are made from: one read, many viewers.

    The contacts any of these providers might list, before the per-viewer
    checks (pins, permissions) of `queue_rows`. It holds no viewer's data, so
    the consoles of one worker that share providers may share it
    (realtime/consumers/queue_share.py). Treat it as read-only.
    """

    providers: tuple[types.ProviderState, ...]
    contacts: tuple[Contact, ...]
    # (workflow id, municipality known) -> its steps, for every contact above.
    steps: dict[tuple, tuple[types.Step, ...]] = field(default_factory=dict)
    # contact pk -> the providers of the supporter it is pinned to (pinned contacts only).
    pinned: dict[int, frozenset[int]] = field(default_factory=dict)


def read_queue(provider_ids: Iterable[int]) -> QueueRead:
    """The waiting contacts the supporters of these providers might see, and the providers."""
    key = tuple(sorted(provider_ids))
    # Who serves where is a who-sees-what hint like the steps below: it may
    # lag an admin's edit of a provider's areas by HINT_CACHE_S. A reconnect
    # storm reads the queue many times a second; the contacts are read afresh
    # every time, and picking one checks the permissions afresh.
    mine = _cached(
        ("queue-providers", key),
        lambda: tuple(provider_states(list(key), now=timezone.now(), opening=False)),
    )
    if not mine:
        return QueueRead(providers=(), contacts=())
    municipalities = set().union(*(p.municipalities for p in mine))
    regions = set().union(*(p.regions for p in mine))
    areas = set().union(*(p.development_areas for p in mine))
    unpinned = Q(pinned_supporter__isnull=True, pinned_provider__isnull=True)
    local = (
        Q(municipality__code__in=municipalities)
        | Q(region__code__in=regions)
        | Q(region__development_area__code__in=areas)
    )
    ids = [p.id for p in mine]
    # Those pinned to any supporter of these providers, so that one read
    # serves them all; `queue_rows` keeps each viewer's own.
    members = Supporter.providers.through.objects.filter(provider_id__in=ids)
    coarse = Q(pinned_supporter_id__in=members.values("supporter_id")) | Q(
        pinned_provider_id__in=ids
    )
    if any(p.is_national for p in mine):
        coarse |= unpinned
    else:
        coarse |= unpinned & local
    contacts = tuple(_with_relations(Contact.objects.filter(coarse, state__in=ROUTED_STATES)))
    steps = {}
    for c in contacts:
        key = (c.workflow_id, c.municipality_id is not None)
        if key not in steps:
            steps[key] = _cached(
                ("steps", *key), lambda k=key: steps_of(k[0], municipality_known=k[1])
            )
    # The providers of each pinned contact's supporter, in one query for all.
    pinned_to = {c.pinned_supporter_id for c in contacts if c.pinned_supporter_id}
    of: dict[int, set[int]] = {supporter_id: set() for supporter_id in pinned_to}
    if pinned_to:
        rows = Supporter.providers.through.objects.filter(supporter_id__in=pinned_to)
        for supporter_id, provider_id in rows.values_list("supporter_id", "provider_id"):
            of[supporter_id].add(provider_id)
    pinned = {c.pk: frozenset(of[c.pinned_supporter_id]) for c in contacts if c.pinned_supporter_id}
    return QueueRead(providers=tuple(mine), contacts=contacts, steps=steps, pinned=pinned)


def queue_rows(read: QueueRead, supporter: Supporter, actor: Actor) -> list[dict]:
    """The viewer's queue list from a `read_queue` of the viewer's providers.

    No queries: it may run on the event loop.
    """
    if not can(actor, Action.QUEUE_VIEW) or not read.providers:
        return []
    now = timezone.now()
    mine = [p for p in read.providers if p.id in actor.provider_ids]
    steps_cache = read.steps
    visible = []
    for c in read.contacts:
        if c.pinned_supporter_id and c.pinned_supporter_id != supporter.pk:
            continue
        if c.pinned_provider_id and not c.pinned_supporter_id:
            if c.pinned_provider_id not in actor.provider_ids:
                continue
        key = (c.workflow_id, c.municipality_id is not None)
        if c.pinned_supporter_id:
            candidates = read.pinned[c.pk]
        else:
            candidates = candidate_provider_ids(c, providers=mine, steps=steps_cache[key])
        target = target_for_contact(c, candidate_provider_ids=candidates)
        if can(actor, Action.CONTACT_PICK, target):
            ahead = not c.pinned_supporter_id and not c.pinned_provider_id
            if ahead:
                reached = candidate_provider_ids(
                    c, providers=mine, steps=steps_cache[key], reached_only=True
                )
                ahead = not reached
            visible.append((c, ahead))
    # The engine's service order: priority first, then first come first served.
    visible.sort(
        key=lambda pair: (
            -pair[0].priority,
            pair[0].waiting_since or pair[0].created_at,
            pair[0].pk,
        )
    )
    rows = []
    for c, ahead in visible:
        row = pseudonymous(c, now=now)
        # Waiting for another area's supporters first; the viewer's area is a
        # later step of its workflow, yet the viewer may pick it now.
        row["overflow"] = ahead
        rows.append(row)
    return rows


def queue_for_supporter(supporter: Supporter, *, actor: Actor | None = None) -> list[dict]:
    """Waiting contacts the supporter may pick, in service order, pseudonymous.

    `actor` is the supporter's, when the caller has it already.
    """
    actor = actor or Actor.for_user(supporter.user)
    if not can(actor, Action.QUEUE_VIEW):
        return []
    return queue_rows(read_queue(actor.provider_ids), supporter, actor)


def offer_payload(offer: Offer, contact: Contact, *, timeout_s: float) -> dict:
    from datetime import timedelta

    expires = offer.created_at + timedelta(seconds=timeout_s)
    return {
        "offer": offer.pk,
        "contact": pseudonymous(contact),
        "expires_at": expires.isoformat(),
    }


def pending_offers(supporter: Supporter) -> list[dict]:
    """The supporter's own pending offers (offer id, pseudonymous contact, expires_at)."""
    from django.conf import settings

    offers = Offer.objects.filter(supporter=supporter, state=Offer.State.PENDING).select_related(
        "contact__municipality", "contact__topic"
    )
    return [
        offer_payload(o, o.contact, timeout_s=settings.ROUTING_OFFER_TIMEOUT_S)
        for o in offers.order_by("created_at")
    ]


def contact_summary(
    contact: Contact, *, viewer: Supporter | None, actor: Actor | None = None
) -> dict:
    """The protocol's contact object; details only for who may see them.

    ``viewer=None`` is the customer's own view; `actor`, the viewer's, when
    the caller has it already.
    """
    now = timezone.now()
    summary = {
        "id": str(contact.public_id),
        "state": str(contact.state),
        "channel": contact.channel,
        "language": contact.language,
        "topic": contact.topic.slug if contact.topic_id else None,
        "position": contact.last_position if contact.state in ROUTED_STATES else None,
        "estimated_wait_s": (
            contact.last_estimated_wait_s if contact.state in ROUTED_STATES else None
        ),
        "supporter_name": (
            contact.supporter.display_name
            if contact.supporter_id and contact.state in IN_SERVICE_STATES
            else None
        ),
        "last_seq": max(0, contact.next_seq - 1),
    }
    if viewer is None:
        return summary
    summary.update(pseudonymous(contact, now=now))
    actor = actor or Actor.for_user(viewer.user)
    target = target_for_contact(contact)
    if can(actor, Action.CONTACT_CHAT, target):
        summary["description"] = contact.description
        summary["handover_note"] = contact.handover_note
    if can(actor, Action.CUSTOMER_DETAILS_VIEW, target) and not viewer.is_volunteer:
        summary["callback_number"] = contact.callback_number
        if contact.callback_number:
            # Who saw a caller's number, and when (the phone channel's privacy rule).
            AuditLogEntry.objects.create(
                actor_id=viewer.user_id, action="callback_number_view", contact_id=contact.pk
            )
    return summary


def _serving(supporter: Supporter | int):
    ids = Assignment.objects.filter(supporter=supporter, ended_at__isnull=True).values("contact_id")
    return Contact.objects.filter(pk__in=ids, state__in=IN_SERVICE_STATES).order_by(
        "accepted_at", "pk"
    )


def serving_contacts(supporter: Supporter, *, among: Iterable[int] | None = None) -> list[Contact]:
    """Contacts the supporter serves now (an active assignment), oldest first.

    `among` limits them to these primary keys (the ones a socket has joined).
    Each comes with its municipality and topic (what `contact_summary` shows)
    and, when it is the supporter's own, the `supporter` given. The SQL is
    built once per process (helpdesk/compiled_reads.py): every console's
    welcome reads it, all at once when a worker restarts.
    """
    wanted = None if among is None else set(among)
    contacts = []
    for contact in _serving_rows(supporter.pk):
        if wanted is not None and contact.pk not in wanted:
            continue
        if contact.supporter_id == supporter.pk:
            contact.supporter = supporter
        contacts.append(contact)
    return contacts


_serving_rows = CompiledInstances(Contact, _serving, related=("municipality", "topic"))


def serving_contact_ids(supporter: Supporter) -> dict[str, int]:
    """The same as public id -> primary key: what a console socket re-reads often.

    Its SQL is built once per process (helpdesk/compiled_reads.py): every
    console of a worker asks when they all reconnect at once.
    """
    rows = _serving_ids(supporter.pk)
    return {str(public_id): pk for public_id, pk in rows}


_serving_ids = CompiledRead(
    lambda supporter_id: _serving(supporter_id).values_list("public_id", "pk")
)


def queue_provider_ids(contact: Contact) -> frozenset[int]:
    """Providers whose queue lists show (or just stopped showing) this contact."""
    known = contact.municipality_id is not None
    steps = _cached(
        ("steps", contact.workflow_id, known),
        lambda: steps_of(contact.workflow_id, municipality_known=known),
    )
    providers = _cached(
        "providers", lambda: provider_states(None, now=timezone.now(), opening=False)
    )
    ids = set(candidate_provider_ids(contact, providers=providers, steps=steps))
    if contact.provider_id:
        ids.add(contact.provider_id)
    return frozenset(ids)
