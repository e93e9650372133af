"""Video and screen sharing on a contact: the only writer of their ContactEvents.

A contact has at most one video session at a time: one peer connection
between one customer socket and one supporter socket (its two endpoints),
carrying camera video (`video`) and/or the customer's screen (`screen`).
Either participant proposes a kind; the other accepts or declines. The state
is not kept anywhere but in the contact's event log, replayed under the
contact's row lock: `<kind>.proposed`, `.declined`, `.withdrawn`, `.started`
and `.stopped` (statistics read the same events). A proposal nobody answers
lapses after VIDEO_PROPOSAL_TIMEOUT_S without a timer: it is simply too old
to accept.

Events leave after commit (realtime.events): `rtc.proposal`, `rtc.declined`,
`rtc.start` and `rtc.stopped` to the contact's group; the consumers' handler
(realtime/video/signalling.py) turns them into frames. The offer, answer and
candidates are relayed between the two endpoints without touching the
database. Nothing is ever recorded: no media passes through the platform
except as encrypted packets through the TURN relay.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from helpdesk.models import Contact, ContactEvent, Supporter
from helpdesk.models.contacts import IN_SERVICE_STATES, TERMINAL_STATES
from helpdesk.permissions import Action, Actor, require, target_for_contact
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from realtime.events import contact_group, publish_on_commit
from realtime.video.ice import relay_available, relay_required

log = logging.getLogger(__name__)

CUSTOMER = "customer"
SUPPORTER = "supporter"
KINDS = ("video", "screen")
_ACTIONS = ("proposed", "declined", "withdrawn", "started", "stopped")
EVENT_KINDS = tuple(f"{kind}.{action}" for kind in KINDS for action in _ACTIONS)


@dataclass(frozen=True, slots=True)
class Participant:
    """Who acts, from which socket (a channel layer name, never shown to clients)."""

    side: str
    socket: str
    supporter: Supporter | None = None


@dataclass(slots=True)
class Proposal:
    id: str
    kind: str
    by: str
    socket: str
    at: datetime


@dataclass(slots=True)
class Session:
    id: str
    sockets: dict[str, str]
    relay_only: bool
    kinds: set[str] = field(default_factory=set)
    # Who served when it started: its stops count for them even after a hand-over.
    supporter_id: int | None = None
    provider_id: int | None = None


@dataclass(slots=True)
class VideoState:
    session: Session | None = None
    proposals: dict[str, Proposal] = field(default_factory=dict)


def _replay(contact_id: int, now: datetime) -> VideoState:
    state = VideoState()
    rows = ContactEvent.objects.filter(contact_id=contact_id, kind__in=EVENT_KINDS).order_by("id")
    columns = ("kind", "at", "data", "supporter_id", "provider_id")
    for kind_action, at, data, supporter_id, provider_id in rows.values_list(*columns):
        kind, _, action = kind_action.partition(".")
        if action == "proposed":
            state.proposals[data["proposal"]] = Proposal(
                data["proposal"], kind, data["by"], data.get("socket", ""), at
            )
        elif action in ("declined", "withdrawn"):
            state.proposals.pop(data.get("proposal"), None)
        elif action == "started":
            state.proposals.pop(data.get("proposal"), None)
            if state.session is None or state.session.id != data["session"]:
                state.session = Session(
                    data["session"],
                    dict(data["sockets"]),
                    bool(data["relay_only"]),
                    supporter_id=supporter_id,
                    provider_id=provider_id,
                )
            state.session.kinds.add(kind)
        elif action == "stopped":
            if state.session is not None and state.session.id == data.get("session"):
                state.session.kinds.discard(kind)
                if not state.session.kinds:
                    state.session = None
    lapse = timedelta(seconds=settings.VIDEO_PROPOSAL_TIMEOUT_S)
    state.proposals = {k: p for k, p in state.proposals.items() if now - p.at < lapse}
    return state


def _locked_contact(contact_id: int) -> Contact:
    contact = (
        Contact.objects.select_for_update(of=("self",))
        .select_related("supporter")
        .filter(pk=contact_id)
        .first()
    )
    if contact is None:
        raise NotFound("unknown contact")
    return contact


def _check_participant(contact: Contact, who: Participant) -> None:
    if who.side == SUPPORTER:
        if who.supporter is None:
            raise NotAllowed("only the serving supporter can do this")
        actor = Actor(supporter_id=who.supporter.pk, supporter_kind=who.supporter.kind)
        require(actor, Action.CONTACT_CHAT, target_for_contact(contact))
    elif who.side != CUSTOMER:
        raise NotAllowed("unknown side")
    if contact.state in TERMINAL_STATES:
        raise Conflict("the contact has ended")
    if contact.state not in IN_SERVICE_STATES:
        raise Conflict("video can start once a supporter serves the contact")


def _record(
    contact: Contact,
    kind: str,
    who: Participant | None,
    now: datetime,
    served: Session | None = None,
    **data,
) -> None:
    ContactEvent.objects.create(
        contact=contact,
        kind=kind,
        at=now,
        actor_id=who.supporter.user_id if who and who.supporter else None,
        supporter_id=served.supporter_id if served else contact.supporter_id,
        provider_id=served.provider_id if served else contact.provider_id,
        data=data,
    )


def _relay_required(contact: Contact) -> bool:
    supporter = contact.supporter
    return relay_required(
        supporter_id=supporter.pk if supporter else None,
        supporter_kind=supporter.kind if supporter else None,
    )


@dataclass(frozen=True, slots=True)
class Proposed:
    contact: str
    proposal: str
    kind: str
    expires_at: datetime


def propose(*, contact_id: int, who: Participant, kind: str) -> Proposed:
    """Ask the other participant to start `kind` (camera video or the customer's screen)."""
    if kind not in KINDS:
        raise InvalidInput("kind must be video or screen")
    now = timezone.now()
    with transaction.atomic():
        contact = _locked_contact(contact_id)
        _check_participant(contact, who)
        state = _replay(contact.pk, now)
        session = state.session
        if session is not None and kind in session.kinds and who.socket in session.sockets.values():
            raise Conflict(f"{kind} is already on")
        if any(p.kind == kind and p.by == who.side for p in state.proposals.values()):
            raise Conflict(f"{kind} was already proposed; wait for the answer")
        # Screen sharing always goes from the customer to the supporter: either
        # may propose it, and the customer's browser is the one that shares.
        if _relay_required(contact) and not relay_available():
            raise NotAllowed("video needs the TURN relay for this contact; none is set up")
        proposal = uuid.uuid4().hex
        _record(
            contact,
            f"{kind}.proposed",
            who,
            now,
            proposal=proposal,
            by=who.side,
            socket=who.socket,
        )
        expires_at = now + timedelta(seconds=settings.VIDEO_PROPOSAL_TIMEOUT_S)
        public_id = str(contact.public_id)
        publish_on_commit(
            contact_group(public_id),
            {
                "type": "rtc.proposal",
                "contact": public_id,
                "proposal": proposal,
                "kind": kind,
                "by": who.side,
                "expires_at": expires_at.isoformat(),
            },
        )
    log.info("contact %s: %s proposed by %s", contact_id, kind, who.side)
    return Proposed(public_id, proposal, kind, expires_at)


def accept(*, contact_id: int, who: Participant, proposal: str) -> str:
    """Accept the other side's proposal: start (or extend) the session; returns its id."""
    now = timezone.now()
    with transaction.atomic():
        contact = _locked_contact(contact_id)
        _check_participant(contact, who)
        state = _replay(contact.pk, now)
        found = state.proposals.get(proposal)
        if found is None:
            raise Conflict("that proposal was answered, withdrawn or has lapsed")
        if found.by == who.side:
            raise NotAllowed("the other participant answers this proposal")
        sockets = {found.by: found.socket, who.side: who.socket}
        session = state.session
        if session is not None and session.sockets != sockets:
            # A session between other sockets (a closed tab, a worker that
            # went away): the new pair replaces it.
            _stop(contact, session, set(session.kinds), None, now, reason="replaced")
            session = None
        if session is not None and found.kind in session.kinds:
            raise Conflict(f"{found.kind} is already on")
        new_session = session is None
        if new_session:
            session = Session(uuid.uuid4().hex, sockets, _relay_required(contact))
        session.kinds.add(found.kind)
        _record(
            contact,
            f"{found.kind}.started",
            who,
            now,
            session=session.id,
            proposal=proposal,
            by=found.by,
            accepted_by=who.side,
            sockets=sockets,
            relay_only=session.relay_only,
            new_session=new_session,
        )
        public_id = str(contact.public_id)
        publish_on_commit(
            contact_group(public_id),
            {
                "type": "rtc.start",
                "contact": public_id,
                "session": session.id,
                "proposal": proposal,
                "kind": found.kind,
                "kinds": sorted(session.kinds),
                "by": found.by,
                "sockets": sockets,
                "relay_only": session.relay_only,
                "new_session": new_session,
            },
        )
    log.info("contact %s: %s started, session %s", contact_id, found.kind, session.id)
    return session.id


def decline(*, contact_id: int, who: Participant, proposal: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        contact = _locked_contact(contact_id)
        _check_participant(contact, who)
        found = _replay(contact.pk, now).proposals.get(proposal)
        if found is None:
            raise Conflict("that proposal was answered, withdrawn or has lapsed")
        if found.by == who.side:
            action = "withdrawn"  # the proposer takes it back
        else:
            action = "declined"
        _record(contact, f"{found.kind}.{action}", who, now, proposal=proposal, by=who.side)
        _publish_declined(contact, found, who.side, action)


def _publish_declined(contact: Contact, found: Proposal, by: str, reason: str) -> None:
    public_id = str(contact.public_id)
    publish_on_commit(
        contact_group(public_id),
        {
            "type": "rtc.declined",
            "contact": public_id,
            "proposal": found.id,
            "kind": found.kind,
            "by": by,
            "reason": reason,
        },
    )


def _stop(
    contact: Contact,
    session: Session,
    kinds: set[str],
    who: Participant | None,
    now: datetime,
    *,
    reason: str,
) -> None:
    by = who.side if who else "system"
    for kind in sorted(kinds & session.kinds):
        _record(
            contact, f"{kind}.stopped", who, now, session, session=session.id, by=by, reason=reason
        )
    session.kinds -= kinds
    public_id = str(contact.public_id)
    publish_on_commit(
        contact_group(public_id),
        {
            "type": "rtc.stopped",
            "contact": public_id,
            "session": session.id,
            "stopped": sorted(kinds),
            "kinds": sorted(session.kinds),
            "ended": not session.kinds,
            "by": by,
            "reason": reason,
            "sockets": session.sockets,
        },
    )


def stop(*, contact_id: int, who: Participant, kind: str = "all") -> None:
    """Either participant stops a kind, or everything ("all": hang up)."""
    if kind not in (*KINDS, "all"):
        raise InvalidInput("kind must be video, screen or all")
    now = timezone.now()
    with transaction.atomic():
        contact = _locked_contact(contact_id)
        if who.side == SUPPORTER:
            _check_participant(contact, who)
        state = _replay(contact.pk, now)
        session = state.session
        kinds = set(KINDS) if kind == "all" else {kind}
        if session is None or not kinds & session.kinds:
            if contact.state in TERMINAL_STATES:
                raise Conflict("the contact has ended")
            raise Conflict("nothing to stop: no video session is on")
        _stop(contact, session, kinds, who, now, reason="stopped")


def release_socket(*, contact_id: int, socket: str, reason: str) -> bool:
    """A socket went away or left the contact: end its session, withdraw its proposals.

    Called by the consumers (disconnect, contact ended or handed over); needs
    no participant check because it only ever stops things. True when
    something was stopped.
    """
    now = timezone.now()
    with transaction.atomic():
        contact = _locked_contact(contact_id)
        state = _replay(contact.pk, now)
        changed = False
        for found in list(state.proposals.values()):
            if found.socket == socket:
                _record(
                    contact, f"{found.kind}.withdrawn", None, now, proposal=found.id, by="system"
                )
                _publish_declined(contact, found, "system", "withdrawn")
                changed = True
        session = state.session
        if session is not None and socket in session.sockets.values():
            _stop(contact, session, set(session.kinds), None, now, reason=reason)
            changed = True
    return changed


def video_state(*, contact_id: int) -> VideoState:
    """The current session and open proposals (for tests and welcome frames)."""
    return _replay(contact_id, timezone.now())
