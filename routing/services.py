"""Routing services: the only writers of Contact.state, Offer and Assignment.

Every channel (chat consumer, REST views, telephony webhooks) calls these
functions; each runs in one transaction, records a ContactEvent for every step,
and publishes its events through realtime.events only after commit. Claims
(accept, pick) are compare-and-set writes in routing.store, so exactly one of
any number of racing supporters wins, across processes. `dispatch` runs one
routing round: load snapshot -> routing.engine.decide -> apply -> publish.
See docs/architecture.md sections 2 and 3.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.models import (
    Channel,
    Contact,
    ContactState,
    Offer,
    Presence,
    Provider,
    Region,
    Supporter,
    Topic,
)
from helpdesk.models.contacts import IN_SERVICE_STATES, TERMINAL_STATES, Outcome
from helpdesk.models.providers import LANGUAGE_CODES
from helpdesk.permissions import Action, Actor, require, target_for_contact
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from realtime.events import (
    contact_group,
    provider_queue_group,
    publish_on_commit,
    supporter_group,
)
from routing import intake, positions, selectors, snapshot, store, targets, types
from routing.closed_notice import closed_frame
from routing.engine import decide
from routing.incremental import IncrementalSnapshot
from routing.models import ClosedNotice, Workflow
from routing.types import Decision
from routing.workflows import ensure_default_workflows

log = logging.getLogger(__name__)

__all__ = [
    "abandon_contact",
    "accept_offer",
    "decline_offer",
    "dispatch",
    "end_contact",
    "enqueue_contact",
    "escalate_contact",
    "heartbeat",
    "hold_contact",
    "pick_contact",
    "resume_contact",
    "set_presence",
    "transfer_contact",
]

CALLBACK_PRIORITY = 10
RETURNING_WINDOW = timedelta(hours=24)
MAX_TEXT = 2000
MAX_REASON = 64
# Pseudonyms are stored labels shown to supporters, who all work in the
# installation's default language; they say nothing about the customer.
PSEUDONYM_PREFIX = {"fi": "Asiakas", "sv": "Kund", "en": "Customer"}
_MUNICIPALITY_CODE = re.compile(r"^\d{1,3}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,39}$")
_CONTACT_RELATIONS = ("municipality", "region__development_area", "topic", "supporter")


# --- helpers: input ------------------------------------------------------


def _text(value, *, name: str, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(_("%(name)s must be text.") % {"name": name})
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(
            _("%(name)s is too long (at most %(limit)d characters).")
            % {"name": name, "limit": limit}
        )
    return value


def _contact(public_id, *, relations: Iterable[str] = _CONTACT_RELATIONS) -> Contact:
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(_("Unknown contact.")) from None
    contact = Contact.objects.select_related(*relations).filter(public_id=key).first()
    if contact is None:
        raise NotFound(_("Unknown contact."))
    return contact


def _municipality_code(code) -> str | None:
    """The three-digit code to look up, None for "not given"."""
    if code is None or code == "":
        return None
    if not isinstance(code, str) or not _MUNICIPALITY_CODE.match(code.strip()):
        raise InvalidInput(_("A municipality code is three digits."))
    # "91" is Helsinki's "091" with its zero dropped. A well-formed code we do
    # not know is treated as "municipality unknown": the customer still gets
    # help, from the national first line.
    return code.strip().zfill(3)


def _topic(slug) -> Topic | None:
    if slug is None or slug == "":
        return None
    if not isinstance(slug, str):
        raise InvalidInput(_("Unknown topic."))
    topic = Topic.objects.filter(slug=slug.strip()).first()
    if topic is None:
        raise InvalidInput(_("Unknown topic."))
    return topic


def _as_int(value, *, what: str) -> int:
    if isinstance(value, bool):
        raise NotFound(_("Unknown %(what)s.") % {"what": what})
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(_("Unknown %(what)s.") % {"what": what}) from None
    if number <= 0 or number > 2**62:
        raise NotFound(_("Unknown %(what)s.") % {"what": what})
    return number


def _workflow_for(region: Region | None) -> Workflow:
    if region is None:
        workflow = Workflow.objects.filter(is_national_first_line=True).first()
        return workflow or ensure_default_workflows()[1]
    # The region's own workflow, else the default one: one query for both.
    found = Workflow.objects.filter(Q(region=region) | Q(is_default=True)).order_by("name", "pk")
    own = next((w for w in found if w.region_id == region.pk), None)
    if own is not None:
        return own
    default = next((w for w in found if w.is_default), None)
    return default or ensure_default_workflows()[0]


def _pseudonym() -> str:
    prefix = PSEUDONYM_PREFIX.get(settings.LANGUAGE_CODE[:2], PSEUDONYM_PREFIX["fi"])
    return f"{prefix} {1000 + secrets.randbelow(9000)}"


# --- helpers: events -----------------------------------------------------


def _kick() -> None:
    from routing.ticker import kick

    kick()


def _kick_after_commit() -> None:
    transaction.on_commit(_kick, robust=True)


def _publish_state(
    contact: Contact,
    state: str,
    *,
    supporter_name: str | None = None,
    target: dict | None = None,
) -> None:
    event = {"type": "contact.state", "contact": str(contact.public_id), "state": str(state)}
    if supporter_name:
        event["supporter_name"] = supporter_name
    if target:
        event["target"] = target  # who serves it next (routing/targets.py)
    publish_on_commit(contact_group(contact.public_id), event)


def _publish_queue_changed(provider_ids: Iterable[int]) -> None:
    for pid in sorted(set(provider_ids)):
        publish_on_commit(provider_queue_group(pid), {"type": "queue.changed", "provider": pid})


def _publish_withdrawn(offer: Offer, contact_public_id, reason: str) -> None:
    publish_on_commit(
        supporter_group(offer.supporter_id),
        {
            "type": "offer.withdrawn",
            "offer": offer.pk,
            "contact": str(contact_public_id),
            "reason": reason,
        },
    )


def _publish_presence(supporter_id: int, presence: str) -> None:
    publish_on_commit(
        supporter_group(supporter_id),
        {"type": "supporter.presence", "supporter": supporter_id, "presence": str(presence)},
    )


# --- helpers: access -----------------------------------------------------


def _actor(supporter: Supporter) -> Actor:
    if not isinstance(supporter, Supporter) or supporter.pk is None:
        raise NotAllowed(_("Only supporters can do this."))
    return Actor.for_user(supporter.user)


def _require_serving(supporter: Supporter, contact: Contact, action: Action) -> Actor:
    """Kept in one place so the permission table decides, not each service."""
    actor = _actor(supporter)
    require(actor, action, target_for_contact(contact))
    return actor


def _check_capacity(supporter: Supporter, channel: str) -> None:
    if store.active_load(supporter.pk, channel) >= supporter.capacity().get(channel, 0):
        raise Conflict(_("You are already serving as many contacts as you can on this channel."))


# --- enqueue -------------------------------------------------------------


def mask_customer_text(text: str) -> str:
    from realtime.masking import mask

    return mask(text).text if text else text


def enqueue_contact(
    *,
    channel: str,
    language: str,
    municipality_code: str | None,
    topic_slug: str | None,
    description: str = "",
    customer_key: str = "",
    consent: bool,
    entry_provider_slug: str | None = None,
    is_callback: bool = False,
    callback_number: str = "",
    refuse_unknown_municipality: bool = False,
) -> Contact:
    """Queue a new contact on its region's workflow (national first line if unknown).

    ``refuse_unknown_municipality``: a well-formed code that names no
    municipality is refused rather than routed nationally (the customer API,
    where it is a typo; the lookup is the one the contact needs anyway).
    """
    if channel not in Channel.values:
        raise InvalidInput(_("Unknown channel."))
    if language not in LANGUAGE_CODES:
        raise InvalidInput(_("Choose Finnish, Swedish or English."))
    if consent is not True:
        raise InvalidInput(_("Please accept the privacy notice to contact support."))
    # What the customer typed is masked like a chat message before it is stored.
    description = mask_customer_text(_text(description, name=_("Description")))
    customer_key = _text(customer_key, name=_("Customer key"), limit=64)
    number = ""
    if is_callback:
        number = _text(callback_number, name=_("Phone number"), limit=40)
        if not _PHONE.match(number):
            raise InvalidInput(_("Give a phone number to call back."))
    code = _municipality_code(municipality_code)
    now = timezone.now()
    with transaction.atomic():
        # The lookups and rows as statements built once (routing/intake.py): in
        # a surge, building them with the ORM cost more than running them.
        found = intake.lookup(
            municipality_code=code,
            topic_slug=topic_slug.strip() if isinstance(topic_slug, str) else None,
            entry_provider_slug=entry_provider_slug if isinstance(entry_provider_slug, str) else "",
            customer_key=customer_key,
            returning_since=now - RETURNING_WINDOW,
        )
        municipality, region, entry = found.municipality, found.region, found.entry_provider
        if municipality is None and code and refuse_unknown_municipality:
            raise InvalidInput("Unknown municipality code.")
        if topic_slug not in (None, "") and found.topic is None:
            raise InvalidInput(_("Unknown topic."))
        if entry_provider_slug and entry is None:
            raise InvalidInput(_("Unknown provider."))
        workflow_id = found.workflow_id or _workflow_for(region).pk
        preferred = found.preferred_supporter_id
        contact = Contact(
            channel=channel,
            language=language,
            municipality=municipality,
            region=region,
            topic=found.topic,
            description=description,
            state=ContactState.WAITING,
            priority=CALLBACK_PRIORITY if is_callback else 0,
            is_callback=bool(is_callback),
            callback_number=number,
            customer_key=customer_key,
            pseudonym=_pseudonym(),
            entry_provider=entry,
            workflow_id=workflow_id,
            step_index=0,
            step_started_at=now,
            waiting_since=now,
            preferred_supporter_id=preferred,
            consent_at=now,
        )
        created = {
            "channel": channel,
            "language": language,
            "callback": bool(is_callback),
            "returning": preferred is not None,
        }
        entry_id = entry.pk if entry else None
        intake.create(
            contact,
            [
                store.event(None, "created", at=now, provider_id=entry_id, data=created),
                store.event(None, "queued", at=now, step_index=0, data={"workflow": workflow_id}),
            ],
        )
        _publish_state(contact, ContactState.WAITING)
        # No routing work here: the next round (kicked after commit) offers the
        # contact or gives it its position, and tells the provider queues.
        _kick_after_commit()
    log.info(
        "contact %s queued: channel=%s region=%s callback=%s",
        contact.public_id,
        channel,
        region.code if region else None,
        bool(is_callback),
    )
    return contact


# --- claims --------------------------------------------------------------


def _serving_provider(contact: Contact, actor: Actor, candidates: frozenset[int]) -> int | None:
    mine = actor.provider_ids
    if contact.pinned_provider_id in mine:
        return contact.pinned_provider_id
    both = mine & candidates
    if both:
        return min(both)
    return min(mine) if mine else None


def _start_service(
    *,
    contact: Contact,
    supporter: Supporter,
    actor: Actor,
    candidates: frozenset[int],
    from_states: Iterable[str],
    kind: str,
    now: datetime,
    offer_id: int | None = None,
) -> Contact:
    provider_id = _serving_provider(contact, actor, candidates)
    started = store.transition(
        contact.pk,
        from_states,
        ContactState.ACTIVE,
        supporter_id=supporter.pk,
        provider_id=provider_id,
        accepted_at=Coalesce(F("accepted_at"), Value(now)),
        last_position=None,
        last_estimated_wait_s=None,
    )
    if not started:
        raise Conflict(_("Someone else took this contact first."))
    if (
        store.start_assignment(
            contact_id=contact.pk, supporter_id=supporter.pk, provider_id=provider_id, now=now
        )
        is None
    ):
        raise Conflict(_("Someone else took this contact first."))
    ClosedNotice.objects.filter(contact_id=contact.pk).delete()
    waited = int((now - (contact.waiting_since or contact.created_at or now)).total_seconds())
    store.save_events(
        [
            store.event(
                contact.pk,
                kind,
                at=now,
                supporter_id=supporter.pk,
                provider_id=provider_id,
                step_index=contact.step_index,
                actor_id=supporter.user_id,
                data={"waited_s": max(0, waited), "offer": offer_id},
            )
        ]
    )
    _publish_state(contact, ContactState.ACTIVE, supporter_name=supporter.display_name)
    _publish_queue_changed(candidates | ({provider_id} if provider_id else set()))
    _kick_after_commit()
    contact.refresh_from_db()
    return contact


def accept_offer(*, offer_id: int, supporter: Supporter) -> Contact:
    """Take the contact offered to this supporter; Conflict if taken, expired or withdrawn."""
    offer_id = _as_int(offer_id, what=_("offer"))
    actor = _actor(supporter)
    now = timezone.now()
    with transaction.atomic():
        offer = Offer.objects.filter(pk=offer_id).first()
        if offer is None:
            raise NotFound(_("Unknown offer."))
        if offer.supporter_id != supporter.pk:
            raise NotAllowed(_("This offer was made to another supporter."))
        me = store.lock_supporter(supporter.pk)
        if offer.state != Offer.State.PENDING:
            raise Conflict(_("This offer is no longer open."))
        contact = Contact.objects.select_related(*_CONTACT_RELATIONS).get(pk=offer.contact_id)
        # Routing offered it within the supporter's own providers.
        require(
            actor,
            Action.CONTACT_ACCEPT,
            target_for_contact(contact, candidate_provider_ids=actor.provider_ids),
        )
        _check_capacity(me, contact.channel)
        if not store.accept_pending_offer(offer_id=offer_id, supporter_id=me.pk, now=now):
            raise Conflict(_("This offer is no longer open."))
        result = _start_service(
            contact=contact,
            supporter=me,
            actor=actor,
            candidates=actor.provider_ids,
            from_states=[ContactState.OFFERED],
            kind="accepted",
            now=now,
            offer_id=offer_id,
        )
    log.info("offer %s accepted by supporter %s", offer_id, supporter.pk)
    return result


def decline_offer(*, offer_id: int, supporter: Supporter) -> None:
    """Say no to an offer: the contact goes to the next supporter."""
    offer_id = _as_int(offer_id, what=_("offer"))
    now = timezone.now()
    with transaction.atomic():
        offer = Offer.objects.select_related("contact").filter(pk=offer_id).first()
        if offer is None:
            raise NotFound(_("Unknown offer."))
        if offer.supporter_id != supporter.pk:
            raise NotAllowed(_("This offer was made to another supporter."))
        settled = store.settle_offer(offer_id=offer_id, to_state=Offer.State.DECLINED, now=now)
        if settled is None:
            current = Offer.objects.filter(pk=offer_id).values_list("state", flat=True).first()
            if current == Offer.State.ACCEPTED:
                raise Conflict(_("You already accepted this offer."))
            return None  # expired or withdrawn meanwhile: nothing left to decline
        contact = offer.contact
        store.save_events(
            [
                store.event(
                    contact.pk,
                    "offer_declined",
                    at=now,
                    supporter_id=supporter.pk,
                    step_index=contact.step_index,
                    actor_id=supporter.user_id,
                    data={"offer": offer_id},
                )
            ]
        )
        _publish_state(contact, settled.return_state)
        _kick_after_commit()
    log.info("offer %s declined by supporter %s", offer_id, supporter.pk)
    return None


def pick_contact(*, public_id: uuid.UUID, supporter: Supporter) -> Contact:
    """Take a waiting contact from the queue list; Conflict if it is no longer waiting."""
    contact = _contact(public_id)
    actor = _actor(supporter)
    now = timezone.now()
    with transaction.atomic():
        me = store.lock_supporter(supporter.pk)
        contact.refresh_from_db(fields=["state"])
        if contact.state not in store.CLAIMABLE:
            raise Conflict(_("This contact is no longer waiting."))
        if contact.pinned_supporter_id and contact.pinned_supporter_id != me.pk:
            raise NotAllowed(_("This contact was transferred to another supporter."))
        mine = snapshot.provider_states(list(actor.provider_ids), now=now, opening=False)
        candidates = selectors.candidate_provider_ids(contact, providers=mine)
        require(
            actor,
            Action.CONTACT_PICK,
            target_for_contact(contact, candidate_provider_ids=candidates),
        )
        _check_capacity(me, contact.channel)
        withdrawn = store.withdraw_pending_offer(contact_id=contact.pk, now=now)
        result = _start_service(
            contact=contact,
            supporter=me,
            actor=actor,
            candidates=candidates,
            from_states=store.CLAIMABLE,
            kind="picked",
            now=now,
        )
        if withdrawn is not None:
            store.save_events(
                [
                    store.event(
                        contact.pk,
                        "offer_withdrawn",
                        at=now,
                        supporter_id=withdrawn.supporter_id,
                        data={"offer": withdrawn.pk, "reason": "taken"},
                    )
                ]
            )
            _publish_withdrawn(withdrawn, contact.public_id, "taken")
    log.info("contact %s picked by supporter %s", contact.public_id, supporter.pk)
    return result


# --- in service: transfer, escalate, hold --------------------------------


def _lock_serving_supporter(contact: Contact) -> None:
    """Lock the serving supporter's row before the contact's (routing/store.py's order).

    Leaving service updates the supporter (idle_since, in end_assignment)
    after the contact; the routing round holds supporter rows while it
    updates contacts. Taking the contact first deadlocked the two under load.
    """
    if contact.supporter_id:
        store.lock_supporter(contact.supporter_id)


def _requeue(
    contact: Contact,
    *,
    supporter: Supporter,
    state: str,
    kind: str,
    fields: dict,
    data: dict,
    now: datetime,
) -> Contact:
    _lock_serving_supporter(contact)
    moved = store.transition(
        contact.pk,
        IN_SERVICE_STATES,
        state,
        supporter_id=None,
        provider_id=None,
        waiting_since=now,
        step_started_at=now,
        last_position=None,
        last_estimated_wait_s=None,
        **fields,
    )
    if not moved:
        raise Conflict(_("This contact is not in service any more."))
    store.end_assignment(contact_id=contact.pk, now=now)
    store.save_events(
        [
            store.event(
                contact.pk,
                kind,
                at=now,
                supporter_id=supporter.pk,
                provider_id=contact.provider_id,
                step_index=fields.get("step_index", contact.step_index),
                actor_id=supporter.user_id,
                data=data,
            )
        ]
    )
    old_providers = {contact.provider_id} if contact.provider_id else set()
    contact = Contact.objects.select_related(*_CONTACT_RELATIONS).get(pk=contact.pk)
    _publish_state(contact, state, target=targets.helper_for(contact))
    _publish_queue_changed(selectors.queue_provider_ids(contact) | old_providers)
    _kick_after_commit()
    return contact


def transfer_contact(
    *,
    public_id: uuid.UUID,
    supporter: Supporter,
    to_supporter_id: int | None = None,
    to_provider_id: int | None = None,
    to_region_code: str | None = None,
    note: str = "",
) -> Contact:
    """Queue the contact again for a named supporter, a provider or another region.

    The contact (and its transcript) stays the same; the target is pinned so
    routing offers it only there.
    """
    targets = [t for t in (to_supporter_id, to_provider_id, to_region_code) if t not in (None, "")]
    if len(targets) != 1:
        raise InvalidInput(_("Choose exactly one transfer target."))
    note = _text(note, name=_("Note"))
    contact = _contact(public_id)
    _require_serving(supporter, contact, Action.CONTACT_TRANSFER)
    fields: dict = {"handover_note": note, "pinned_supporter_id": None, "pinned_provider_id": None}
    data: dict = {"from_supporter": supporter.pk, "has_note": bool(note)}
    if to_supporter_id not in (None, ""):
        target_id = _as_int(to_supporter_id, what=_("supporter"))
        if target_id == supporter.pk:
            raise InvalidInput(_("You cannot transfer a contact to yourself."))
        if not Supporter.objects.filter(pk=target_id).exists():
            raise NotFound(_("Unknown supporter."))
        fields["pinned_supporter_id"] = target_id
        data["to_supporter"] = target_id
    elif to_provider_id not in (None, ""):
        target_id = _as_int(to_provider_id, what=_("provider"))
        provider = Provider.objects.filter(pk=target_id, active=True).first()
        if provider is None:
            raise NotFound(_("Unknown provider."))
        if contact.channel not in (provider.channels or []):
            raise InvalidInput(_("That provider does not serve this channel."))
        fields["pinned_provider_id"] = target_id
        data["to_provider"] = target_id
    else:
        if not isinstance(to_region_code, str):
            raise InvalidInput(_("Unknown region."))
        region = Region.objects.filter(code=to_region_code.strip()).first()
        if region is None:
            raise NotFound(_("Unknown region."))
        fields.update(region=region, workflow=_workflow_for(region), step_index=0)
        data["to_region"] = region.code
    now = timezone.now()
    with transaction.atomic():
        result = _requeue(
            contact,
            supporter=supporter,
            state=ContactState.TRANSFERRED,
            kind="transferred",
            fields=fields,
            data=data,
            now=now,
        )
    log.info("contact %s transferred by supporter %s", contact.public_id, supporter.pk)
    return result


def escalate_contact(*, public_id: uuid.UUID, supporter: Supporter, note: str) -> Contact:
    """Hand the contact over to Kansalaisneuvonta with a note for the next supporter."""
    note = _text(note, name=_("Note"))
    if not note:
        raise InvalidInput(_("Write a handover note for Kansalaisneuvonta."))
    contact = _contact(public_id)
    _require_serving(supporter, contact, Action.CONTACT_ESCALATE)
    national = Provider.objects.filter(is_national=True, active=True).order_by("pk").first()
    if national is None:
        raise Conflict(_("No national service is available."))
    if contact.channel not in (national.channels or []):
        # Queued there, it would wait for ever: say so now, as transfers do.
        raise InvalidInput(_("Kansalaisneuvonta does not serve this channel."))
    now = timezone.now()
    with transaction.atomic():
        result = _requeue(
            contact,
            supporter=supporter,
            state=ContactState.ESCALATED,
            kind="escalated",
            fields={
                "handover_note": note,
                "pinned_provider_id": national.pk,
                "pinned_supporter_id": None,
            },
            data={"from_supporter": supporter.pk, "to_provider": national.pk},
            now=now,
        )
    log.info("contact %s escalated by supporter %s", contact.public_id, supporter.pk)
    return result


def _hold_or_resume(
    *, public_id, supporter: Supporter, from_state: str, to_state: str, kind: str
) -> Contact:
    contact = _contact(public_id)
    _require_serving(supporter, contact, Action.CONTACT_CHAT)
    now = timezone.now()
    with transaction.atomic():
        if not store.transition(contact.pk, [from_state], to_state):
            raise Conflict(_("The contact is not in a state that allows this."))
        store.save_events(
            [
                store.event(
                    contact.pk,
                    kind,
                    at=now,
                    supporter_id=supporter.pk,
                    provider_id=contact.provider_id,
                    actor_id=supporter.user_id,
                )
            ]
        )
        _publish_state(contact, to_state, supporter_name=supporter.display_name)
    contact.refresh_from_db()
    return contact


def hold_contact(*, public_id: uuid.UUID, supporter: Supporter) -> Contact:
    return _hold_or_resume(
        public_id=public_id,
        supporter=supporter,
        from_state=ContactState.ACTIVE,
        to_state=ContactState.ON_HOLD,
        kind="on_hold",
    )


def resume_contact(*, public_id: uuid.UUID, supporter: Supporter) -> Contact:
    return _hold_or_resume(
        public_id=public_id,
        supporter=supporter,
        from_state=ContactState.ON_HOLD,
        to_state=ContactState.ACTIVE,
        kind="resumed",
    )


# --- the end -------------------------------------------------------------


def _abandon(contact: Contact, *, reason: str, now: datetime, actor_id: int | None = None) -> bool:
    """Any open state -> abandoned; False if it was already over."""
    _lock_serving_supporter(contact)
    withdrawn = store.withdraw_pending_offer(contact_id=contact.pk, now=now)
    if not store.transition(
        contact.pk,
        [s for s in ContactState.values if s not in TERMINAL_STATES],
        ContactState.ABANDONED,
        ended_at=now,
        last_position=None,
        last_estimated_wait_s=None,
    ):
        return False
    assignment = store.end_assignment(contact_id=contact.pk, now=now)
    ClosedNotice.objects.filter(contact_id=contact.pk).delete()
    events = [
        store.event(
            contact.pk,
            "abandoned",
            at=now,
            supporter_id=assignment.supporter_id if assignment else None,
            provider_id=contact.provider_id,
            step_index=contact.step_index,
            actor_id=actor_id,
            data={"reason": reason, "from_state": contact.state},
        )
    ]
    if withdrawn is not None:
        events.append(
            store.event(
                contact.pk,
                "offer_withdrawn",
                at=now,
                supporter_id=withdrawn.supporter_id,
                data={"offer": withdrawn.pk, "reason": "abandoned"},
            )
        )
        _publish_withdrawn(withdrawn, contact.public_id, "abandoned")
    store.save_events(events)
    _publish_state(contact, ContactState.ABANDONED)
    if contact.state in store.CLAIMABLE:
        _publish_queue_changed(selectors.queue_provider_ids(contact))
    _kick_after_commit()
    return True


def end_contact(
    *,
    public_id: uuid.UUID,
    supporter: Supporter | None = None,
    by_customer: bool = False,
    outcome: str = "",
    topic_slug: str | None = None,
) -> Contact:
    """End a contact; a queued contact ended by the customer becomes abandoned.

    Ending a contact that is already over returns it unchanged, so a resent
    frame or a double click is harmless.
    """
    if supporter is None and not by_customer:
        raise InvalidInput(_("Say who ends the contact."))
    if outcome not in ("", *Outcome.values):
        raise InvalidInput(_("Unknown outcome."))
    topic = _topic(topic_slug)
    contact = _contact(public_id)
    if contact.state in TERMINAL_STATES:
        return contact
    if supporter is not None and not by_customer:
        _require_serving(supporter, contact, Action.CONTACT_END)
    now = timezone.now()
    with transaction.atomic():
        if contact.state in store.CLAIMABLE:
            if not by_customer:
                raise Conflict(_("This contact is not in service."))
            _abandon(contact, reason="customer_left", now=now)
        else:
            fields = {"ended_at": now, "outcome": outcome}
            if topic is not None:
                fields["topic"] = topic
            _lock_serving_supporter(contact)
            if not store.transition(contact.pk, IN_SERVICE_STATES, ContactState.ENDED, **fields):
                contact.refresh_from_db()
                if contact.state in TERMINAL_STATES:
                    return contact
                raise Conflict(_("The contact changed meanwhile; try again."))
            assignment = store.end_assignment(contact_id=contact.pk, now=now)
            store.save_events(
                [
                    store.event(
                        contact.pk,
                        "ended",
                        at=now,
                        supporter_id=assignment.supporter_id if assignment else None,
                        provider_id=contact.provider_id,
                        step_index=contact.step_index,
                        actor_id=supporter.user_id if supporter and not by_customer else None,
                        data={
                            "by": "customer" if by_customer else "supporter",
                            "outcome": outcome,
                            "topic": topic.slug if topic else None,
                        },
                    )
                ]
            )
            _publish_state(contact, ContactState.ENDED)
            _kick_after_commit()
    contact.refresh_from_db()
    log.info("contact %s ended (%s)", contact.public_id, contact.state)
    return contact


def abandon_contact(*, public_id: uuid.UUID, reason: str) -> Contact:
    """The customer is gone (hung up, left the page for good): close the contact."""
    reason = _text(reason, name=_("Reason"), limit=MAX_REASON) or "unknown"
    contact = _contact(public_id)
    if contact.state in TERMINAL_STATES:
        return contact
    with transaction.atomic():
        _abandon(contact, reason=reason, now=timezone.now())
    contact.refresh_from_db()
    log.info("contact %s abandoned: %s", contact.public_id, reason)
    return contact


# --- supporters ----------------------------------------------------------


def _withdraw_offers_of(supporter_id: int, *, reason: str, now: datetime) -> list[int]:
    """Put every pending offer of this supporter back in the queue."""
    contacts = []
    events = []
    for offer in store.pending_offers_of(supporter_id):
        settled = store.settle_offer(offer_id=offer.pk, to_state=Offer.State.WITHDRAWN, now=now)
        if settled is None:
            continue
        public_id = Contact.objects.filter(pk=offer.contact_id).values_list("public_id", flat=True)
        public_id = public_id.first()
        events.append(
            store.event(
                offer.contact_id,
                "offer_withdrawn",
                at=now,
                supporter_id=supporter_id,
                data={"offer": offer.pk, "reason": reason},
            )
        )
        _publish_withdrawn(offer, public_id, reason)
        publish_on_commit(
            contact_group(public_id),
            {
                "type": "contact.state",
                "contact": str(public_id),
                "state": str(settled.return_state),
            },
        )
        contacts.append(offer.contact_id)
    store.save_events(events)
    return contacts


def set_presence(*, supporter: Supporter, presence: str) -> Supporter:
    """available / busy / away / offline. Leaving withdraws the supporter's pending offers."""
    if presence not in Presence.values:
        raise InvalidInput(_("Unknown presence."))
    now = timezone.now()
    with transaction.atomic():
        me = store.lock_supporter(supporter.pk)
        fields = {"presence": presence, "presence_changed_at": now}
        if presence == Presence.AVAILABLE:
            fields["last_heartbeat"] = now
            if me.presence != Presence.AVAILABLE:
                fields["idle_since"] = now
        Supporter.objects.filter(pk=me.pk).update(**fields)
        if presence in (Presence.AWAY, Presence.OFFLINE):
            _withdraw_offers_of(me.pk, reason="unavailable", now=now)
        _publish_presence(me.pk, presence)
        _kick_after_commit()
    me.refresh_from_db()
    log.info("supporter %s is %s", me.pk, presence)
    return me


def heartbeat(*, supporter: Supporter) -> None:
    """The supporter's console is alive; without it routing treats them as offline."""
    heartbeat_many(supporter_ids=[supporter.pk])


def heartbeat_many(*, supporter_ids: list[int]) -> int:
    """Several consoles alive at once: a worker's heartbeats of the last second, one UPDATE."""
    if not supporter_ids:
        return 0
    return Supporter.objects.filter(pk__in=sorted(set(supporter_ids))).update(
        last_heartbeat=timezone.now()
    )


# --- the routing round -------------------------------------------------------


def dispatch(
    *, now: datetime | None = None, state: IncrementalSnapshot | None = None
) -> Decision | None:
    """Run one routing round; None if another process is running one right now.

    ``state``: the routing state a ticker keeps between its rounds
    (routing/incremental.py); without it the round reads everything.
    """
    explicit_now = now is not None
    now = now or timezone.now()
    try:
        with store.dispatch_lock() as got:
            if not got:
                return None
            loaded = state.load(now=now) if state is not None else snapshot.load(now=now)
            decision = decide(loaded.snapshot)
            _Apply(loaded, now=now, backdate_offers=explicit_now).run(decision)
    except BaseException:
        if state is not None:
            # What the round changed in the kept state was rolled back in the database.
            state.invalidate()
        raise
    return decision


class _Apply:
    """Writes one decision and queues its events; runs inside the dispatch lock.

    Every write is conditional on the state the snapshot saw, so a decision
    made just before a supporter picked or a customer left is skipped for that
    contact rather than undoing their action.
    """

    def __init__(self, loaded: snapshot.Loaded, *, now: datetime, backdate_offers: bool):
        self.loaded = loaded
        self.now = now
        self.backdate_offers = backdate_offers
        self.events: list = []
        self.changed_providers: set[int] = set()
        self.locked: set[int] = set()
        self.state = {cid: info.state for cid, info in loaded.contacts.items()}
        self.waiting = {c.id: c for c in loaded.snapshot.contacts}

    def run(self, decision: Decision) -> None:
        expired_sids = {e.supporter_id for e in decision.expirations}
        self.locked = store.lock_supporters(
            set(self.loaded.heartbeat_expired) | expired_sids, skip_locked=True
        )
        self._heartbeats()
        self._expirations(decision)
        self._advances(decision)
        self._offers(decision)
        self._positions(decision)
        self._closed(decision)
        store.save_events(self.events)
        _publish_queue_changed(self.changed_providers)

    def _touch(self, contact_id: int) -> None:
        """Note the provider queues that list this contact (for `queue.changed`)."""
        info = self.loaded.contacts[contact_id]
        if info.pinned_provider:
            self.changed_providers.add(info.pinned_provider)
            return
        waiting = self.waiting.get(contact_id)
        if waiting is not None and waiting.pinned_supporter is not None:
            return  # only that supporter sees it; their own events tell them
        workflow = self.loaded.snapshot.workflows.get(waiting.workflow_id if waiting else 0)
        steps = workflow.steps if workflow else types.DEFAULT_STEPS
        reached = {step.target for step in steps[: info.step_index + 1]}
        by_area = self.loaded.providers_by_area
        if reached & {"municipality", "region"}:
            self.changed_providers |= by_area.get(("municipality", info.municipality), set())
            self.changed_providers |= by_area.get(("region", info.region), set())
        if "development_area" in reached:
            area = ("development_area", info.development_area)
            self.changed_providers |= by_area.get(area, set())
        if "national" in reached or info.municipality is None:
            self.changed_providers |= self.loaded.national_providers

    def _heartbeats(self) -> None:
        expired = [sid for sid in self.loaded.heartbeat_expired if sid in self.locked]
        if not expired:
            return
        went = list(
            Supporter.objects.filter(pk__in=expired)
            .exclude(presence=Presence.OFFLINE)
            .values_list("pk", flat=True)
        )
        Supporter.objects.filter(pk__in=went).update(
            presence=Presence.OFFLINE, presence_changed_at=self.now
        )
        for sid in went:
            _publish_presence(sid, str(Presence.OFFLINE))
            for cid in _withdraw_offers_of(sid, reason="unavailable", now=self.now):
                if cid in self.state:
                    self.state[cid] = ContactState.WAITING
                    self._touch(cid)
        if went:
            log.info("%d supporters set offline: heartbeat expired", len(went))

    def _expirations(self, decision: Decision) -> None:
        for e in decision.expirations:
            offer_id = self.loaded.pending_offer_ids.get(e.contact_id)
            if offer_id is None or e.supporter_id not in self.locked:
                continue  # a claim of theirs is in flight: decided again next round
            offer = store.settle_offer(
                offer_id=offer_id, to_state=Offer.State.EXPIRED, now=self.now
            )
            if offer is None:
                continue
            info = self.loaded.contacts[e.contact_id]
            self.state[e.contact_id] = offer.return_state
            went_away = (
                Supporter.objects.filter(pk=e.supporter_id, presence=Presence.AVAILABLE).update(
                    presence=Presence.AWAY, presence_changed_at=self.now
                )
                == 1
            )
            self.events.append(
                store.event(
                    e.contact_id,
                    "offer_expired",
                    at=self.now,
                    supporter_id=e.supporter_id,
                    step_index=info.step_index,
                    data={"offer": offer_id, "supporter_set_away": went_away},
                )
            )
            _publish_withdrawn(offer, info.public_id, "expired")
            publish_on_commit(
                contact_group(info.public_id),
                {
                    "type": "contact.state",
                    "contact": str(info.public_id),
                    "state": str(offer.return_state),
                },
            )
            if went_away:
                _publish_presence(e.supporter_id, str(Presence.AWAY))
            self._touch(e.contact_id)

    def _advances(self, decision: Decision) -> None:
        for a in decision.advances:
            info = self.loaded.contacts[a.contact_id]
            moved = Contact.objects.filter(
                pk=a.contact_id, step_index=info.step_index, state__in=snapshot.ROUTED_STATES
            ).update(step_index=a.to_step, step_started_at=self.now)
            if not moved:
                continue
            self.events.append(
                store.event(
                    a.contact_id,
                    "step_advanced",
                    at=self.now,
                    step_index=a.to_step,
                    data={"from_step": info.step_index},
                )
            )
            info.step_index = a.to_step
            self._touch(a.contact_id)

    def _offers(self, decision: Decision) -> None:
        made = store.create_offers(
            [
                (o.contact_id, o.supporter_id, self.state.get(o.contact_id, ContactState.WAITING))
                for o in decision.offers
            ],
            now=self.now,
        )
        if not made:
            return
        for offer_id, (contact_id, supporter_id) in made.items():
            info = self.loaded.contacts[contact_id]
            self.events.append(
                store.event(
                    contact_id,
                    "offered",
                    at=self.now,
                    supporter_id=supporter_id,
                    step_index=info.step_index,
                    data={"offer": offer_id},
                )
            )
            self._touch(contact_id)
        if self.backdate_offers:
            # The round runs at an explicit clock (tests, simulation): offers
            # must expire by that clock, not the wall clock.
            Offer.objects.filter(pk__in=made).update(created_at=self.now)
        offers = Offer.objects.filter(pk__in=made).select_related(
            "contact__municipality", "contact__topic"
        )
        timeout = settings.ROUTING_OFFER_TIMEOUT_S
        for offer in offers:
            payload = selectors.offer_payload(offer, offer.contact, timeout_s=timeout)
            publish_on_commit(supporter_group(offer.supporter_id), {"type": "offer.new", **payload})
            _publish_state(offer.contact, ContactState.OFFERED)

    def _positions(self, decision: Decision) -> None:
        for contact_id in positions.publish(self.loaded, decision.positions, now=self.now):
            self._touch(contact_id)  # new in the queue: the provider queues list it now

    def _closed(self, decision: Decision) -> None:
        sent = self.loaded.closed_notices
        now_closed = {c.contact_id: c.opens_at for c in decision.closed}
        fresh = [
            ClosedNotice(contact_id=cid, opens_at=opens, notified_at=self.now)
            for cid, opens in now_closed.items()
            if cid not in sent or sent[cid] != opens
        ]
        if fresh:
            ClosedNotice.objects.bulk_create(
                fresh,
                update_conflicts=True,
                unique_fields=["contact"],
                update_fields=["opens_at", "notified_at"],
            )
        for notice in fresh:
            info = self.loaded.contacts[notice.contact_id]
            publish_on_commit(
                contact_group(info.public_id),
                closed_frame(
                    public_id=info.public_id,
                    opens_at=notice.opens_at,
                    municipality_code=info.municipality,
                ),
            )
            self.events.append(
                store.event(
                    notice.contact_id,
                    "closed_notice",
                    at=self.now,
                    step_index=info.step_index,
                    data={"opens_at": notice.opens_at.isoformat() if notice.opens_at else None},
                )
            )
        reopened = set(sent) - set(now_closed)
        # A contact with a live offer is not evaluated this round: keep its notice.
        reopened = {cid for cid in reopened if self.waiting[cid].pending_offer is None}
        if reopened:
            ClosedNotice.objects.filter(contact_id__in=reopened).delete()
