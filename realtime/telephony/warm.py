"""Warm transfer of a phone call: the only writer of WarmTransfer.

The serving supporter asks another supporter (or any available supporter of a
provider) to take the call. Nothing changes on the line until the target
accepts in their console: then the caller moves from the one-to-one bridge
into a conference, the first supporter is dialled back into it and the target
is dialled in too (conference_twiml.py). When the target has joined, the
first supporter hands over (routing.handover: the contact moves to the target
with the usual transfer events) and their leg is hung up, or cancels and the
target's leg is hung up. A target who declines, does not answer or leaves
before the handover leaves the call as it was: the caller stays with the first
supporter.

The caller's leg alone ends the conference. When the serving supporter's leg
ends (they hung up, or never answered the dial back), the caller is moved out
of the conference the way a one-to-one bridge ends: back to the queue if the
contact was transferred or escalated meanwhile or the supporter never
answered, else a goodbye. Twilio's leg status callbacks repeat and arrive
late: each takes the call's row lock and acts only on the leg that still
matters.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.models import Provider, Supporter
from helpdesk.models.contacts import QUEUED_STATES
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from realtime.events import publish_on_commit, supporter_group
from realtime.telephony import client, services
from realtime.telephony.models import (
    FINAL_RANK,
    OPEN_TRANSFER_STATES,
    STATUS_RANK,
    Direction,
    PhoneCall,
    Stage,
    TransferState,
    WarmTransfer,
)
from routing import handover, store

log = logging.getLogger(__name__)

MAX_NOTE = 500
MAX_ASKED = 20  # supporters of a provider asked at once
PREFIX = "/telephony/voice/transfer"
NOT_ANSWERED = ("busy", "no-answer", "failed", "canceled")


def _url(transfer: WarmTransfer, path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{PREFIX}/{transfer.pk}/{path}"


def _marker(conference: str) -> str:
    """PhoneCall.bridge_to while the caller is in a conference (never a number)."""
    return f"conference:{conference}"


def _as_id(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise NotFound(_("Unknown %(what)s.") % {"what": what})
    try:
        number = int(value)
    except ValueError:
        raise NotFound(_("Unknown %(what)s.") % {"what": what}) from None
    if not 0 < number < 2**62:
        raise NotFound(_("Unknown %(what)s.") % {"what": what})
    return number


# --- who hears about it ------------------------------------------------------------


def _asked_ids(transfer: WarmTransfer) -> list[int]:
    """The supporters asked to take the call: the named one, or a provider's available ones."""
    if transfer.to_supporter_id:
        return [transfer.to_supporter_id]
    if not transfer.to_provider_id:
        return []
    ids = (
        Supporter.objects.filter(providers=transfer.to_provider_id, presence="available")
        .exclude(pk=transfer.from_supporter_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:MAX_ASKED]
    )
    return list(ids)


def _frame(transfer: WarmTransfer) -> dict:
    """The `phone.transfer` frame's common part, as published and as restored."""
    return {
        "type": "phone.transfer",
        "transfer": transfer.pk,
        "contact": str(transfer.contact.public_id),
        "state": str(transfer.state),
        "reason": transfer.reason,
    }


def _publish(transfer: WarmTransfer, recipients, *, extra: dict | None = None) -> None:
    frame = _frame(transfer)
    frame.update(extra or {})
    for supporter_id in sorted({r for r in recipients if r}):
        publish_on_commit(supporter_group(supporter_id), frame)


def _request_details(transfer: WarmTransfer) -> dict:
    """What the asked supporters see: who asks, the caller's pseudonym, the note."""
    contact = transfer.contact
    return {
        "from_name": transfer.from_supporter.display_name if transfer.from_supporter else "",
        "pseudonym": contact.pseudonym,
        "language": contact.language,
        "note": transfer.note,
    }


def _event(transfer: WarmTransfer, kind: str, **data) -> None:
    store.save_events(
        [
            store.event(
                transfer.contact_id,
                kind,
                at=timezone.now(),
                data={"call": transfer.call.call_sid[-6:], "transfer": transfer.pk, **data},
            )
        ]
    )


# --- the first supporter asks ---------------------------------------------------------


def _live_call(contact) -> PhoneCall | None:
    return (
        PhoneCall.objects.select_for_update()
        .filter(
            contact=contact,
            direction=Direction.INBOUND,
            ended_at__isnull=True,
            stage=Stage.BRIDGED,
        )
        .first()
    )


def _latest(call: PhoneCall) -> WarmTransfer | None:
    return (
        WarmTransfer.objects.select_for_update(of=("self",))
        .select_related("contact", "call", "from_supporter")
        .filter(call=call)
        .order_by("-pk")
        .first()
    )


def _serving_side(latest: WarmTransfer | None, call: PhoneCall) -> tuple[str, str]:
    """(how to dial the serving supporter, their leg's CallSid in the conference or "")."""
    if latest is None or not call.bridge_to.startswith("conference:"):
        return call.bridge_to, ""
    if latest.state == TransferState.HANDED_OVER:
        return latest.target_dial, latest.target_sid
    return latest.host_dial, latest.host_sid


def start(
    *,
    supporter: Supporter,
    public_id,
    to_supporter=None,
    to_provider=None,
    note="",
) -> WarmTransfer:
    """Ask the target to take the connected call; the call itself does not change yet."""
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise InvalidInput(_("Note must be text."))
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(_("The note is too long."))
    if (to_supporter in (None, "")) == (to_provider in (None, "")):
        raise InvalidInput(_("Choose exactly one transfer target."))
    contact = services._serving(supporter, public_id)
    target_supporter = target_provider = None
    if to_supporter not in (None, ""):
        target_supporter = Supporter.objects.filter(pk=_as_id(to_supporter, _("supporter"))).first()
        if target_supporter is None:
            raise NotFound(_("Unknown supporter."))
        if target_supporter.pk == supporter.pk:
            raise InvalidInput(_("You cannot transfer a contact to yourself."))
    else:
        target_provider = Provider.objects.filter(
            pk=_as_id(to_provider, _("provider")), active=True
        ).first()
        if target_provider is None:
            raise NotFound(_("Unknown provider."))
        if "phone" not in (target_provider.channels or []):
            raise InvalidInput(_("That provider does not serve this channel."))
    with transaction.atomic():
        call = _live_call(contact)
        if call is None:
            raise Conflict(_("Connect the call first: a warm transfer starts from a live call."))
        latest = _latest(call)
        if latest is not None and latest.state in OPEN_TRANSFER_STATES:
            raise Conflict(_("A transfer of this call is already under way."))
        host_dial, host_sid = _serving_side(latest, call)
        in_conference = call.bridge_to.startswith("conference:")
        try:
            with transaction.atomic():
                transfer = WarmTransfer.objects.create(
                    call=call,
                    contact=contact,
                    from_supporter=supporter,
                    to_supporter=target_supporter,
                    to_provider=target_provider,
                    note=note,
                    conference=(
                        call.bridge_to[len("conference:") :]
                        if in_conference
                        else f"transfer-{secrets.token_hex(12)}"
                    ),
                    host_dial=host_dial,
                    host_sid=host_sid,
                )
        except IntegrityError:
            raise Conflict(_("A transfer of this call is already under way.")) from None
        transfer = WarmTransfer.objects.select_related("contact", "call", "from_supporter").get(
            pk=transfer.pk
        )
        asked = _asked_ids(transfer)
        _event(
            transfer,
            "warm_transfer_asked",
            to_supporter=transfer.to_supporter_id,
            to_provider=transfer.to_provider_id,
            asked=len(asked),
        )
        _publish(transfer, [supporter.pk])
        _publish(transfer, asked, extra=_request_details(transfer))
    log.info("call %s: warm transfer %s asked", call.call_sid[-6:], transfer.pk)
    return transfer


# --- the target answers ----------------------------------------------------------------


def _transfer(transfer_id, *, lock: bool = True) -> WarmTransfer:
    pk = _as_id(transfer_id, _("transfer"))
    qs = WarmTransfer.objects.select_related("contact", "call", "from_supporter")
    if lock:
        qs = qs.select_for_update(of=("self",))
    transfer = qs.filter(pk=pk).first()
    if transfer is None:
        raise NotFound(_("Unknown transfer."))
    return transfer


def _still_open(transfer: WarmTransfer) -> None:
    """An asked supporter may answer only a transfer that still asks."""
    if transfer.state == TransferState.ASKING:
        return
    if transfer.reason == "caller_gone":
        raise Conflict(_("The caller hung up: this transfer request was withdrawn."))
    raise Conflict(_("This transfer is no longer open."))


def _may_answer(transfer: WarmTransfer, supporter: Supporter) -> None:
    if supporter.pk == transfer.from_supporter_id:
        raise NotAllowed(_("This transfer was not asked of you."))
    if transfer.to_supporter_id and transfer.to_supporter_id != supporter.pk:
        raise NotAllowed(_("This transfer was not asked of you."))
    if (
        transfer.to_provider_id
        and not supporter.providers.filter(pk=transfer.to_provider_id).exists()
    ):
        raise NotAllowed(_("This transfer was not asked of you."))


def accept(*, supporter: Supporter, transfer_id, via, number="") -> WarmTransfer:
    """The target takes the call: everyone meets in the conference."""
    if not isinstance(via, str) or not isinstance(number, str):
        raise InvalidInput(_("Answer in the browser or on your own phone."))
    target = services._target(supporter, via, number)
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        _may_answer(transfer, supporter)
        _still_open(transfer)
        call = PhoneCall.objects.select_for_update().get(pk=transfer.call_id)
        asked = _asked_ids(transfer)
        gone = call.ended_at is not None or call.stage != Stage.BRIDGED
        if gone:
            transfer.state, transfer.reason = TransferState.CANCELLED, "caller_gone"
            transfer.save()
            _publish(transfer, [transfer.from_supporter_id, *asked])
    if gone:
        raise Conflict(_("The caller is no longer on the line."))
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        if transfer.state != TransferState.ASKING:
            raise Conflict(_("This transfer is no longer open."))
        call = PhoneCall.objects.select_for_update().get(pk=transfer.call_id)
        move_caller = not call.bridge_to.startswith("conference:")
        transfer.to_supporter = supporter
        transfer.target_dial = target
        transfer.state = TransferState.CONNECTING
        transfer.save()
        call.bridge_to = _marker(transfer.conference)
        call.save(update_fields=["bridge_to", "updated_at"])
        _event(transfer, "warm_transfer_accepted", by=supporter.pk, via=via)
        _publish(transfer, [transfer.from_supporter_id, *asked, supporter.pk])
    try:
        if move_caller:
            client.redirect_call(call_sid=call.call_sid, url=_url(transfer, "caller"))
            sid = client.dial(
                to=transfer.host_dial,
                url=_url(transfer, "host"),
                status_callback=_url(transfer, "leg/host"),
            )
            WarmTransfer.objects.filter(pk=transfer.pk, host_sid="").update(host_sid=sid)
        sid = client.dial(
            to=target,
            url=_url(transfer, "target"),
            status_callback=_url(transfer, "leg/target"),
        )
        WarmTransfer.objects.filter(pk=transfer.pk, target_sid="").update(target_sid=sid)
    except client.TelephonyUnavailable:
        _called_off(transfer.pk, reason="unavailable", restore_bridge=move_caller)
        raise
    log.info("call %s: warm transfer %s accepted", call.call_sid[-6:], transfer.pk)
    return transfer


def caller_gone(call: PhoneCall) -> None:
    """The caller hung up: a transfer still open is withdrawn and everyone asked is told.

    Runs inside the status callback's transaction, under the call's row lock,
    so an accept that comes later finds the transfer over. The caller's leg
    ends the conference too, so no supporter's leg needs hanging up here.
    """
    transfer = (
        WarmTransfer.objects.select_for_update(of=("self",))
        .select_related("contact", "call", "from_supporter")
        .filter(call=call, state__in=OPEN_TRANSFER_STATES)
        .order_by("-pk")
        .first()
    )
    if transfer is None:
        return
    asked = _asked_ids(transfer) if transfer.state == TransferState.ASKING else []
    was = str(transfer.state)
    transfer.state, transfer.reason = TransferState.CANCELLED, "caller_gone"
    transfer.save()
    _event(transfer, "warm_transfer_withdrawn", reason="caller_gone", was=was)
    _publish(transfer, [transfer.from_supporter_id, transfer.to_supporter_id, *asked])
    log.info("call %s: warm transfer %s withdrawn, caller gone", call.call_sid[-6:], transfer.pk)


def _called_off(transfer_id: int, *, reason: str, restore_bridge: bool) -> None:
    """The platform could not reach Twilio: the transfer is off, the call as it was."""
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        if transfer.state not in OPEN_TRANSFER_STATES:
            return
        transfer.state, transfer.reason = TransferState.CANCELLED, reason
        transfer.save()
        if restore_bridge:
            PhoneCall.objects.filter(pk=transfer.call_id).update(bridge_to=transfer.host_dial)
        _publish(transfer, [transfer.from_supporter_id, transfer.to_supporter_id])


def decline(*, supporter: Supporter, transfer_id) -> WarmTransfer:
    """The asked supporter says no: the caller stays with the first supporter, untouched."""
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        _may_answer(transfer, supporter)
        _still_open(transfer)
        asked = _asked_ids(transfer)
        transfer.state, transfer.reason = TransferState.DECLINED, "declined"
        transfer.save()
        _event(transfer, "warm_transfer_declined", by=supporter.pk)
        _publish(transfer, [transfer.from_supporter_id, *asked, supporter.pk])
    return transfer


# --- the first supporter decides ----------------------------------------------------


def _own(transfer: WarmTransfer, supporter: Supporter) -> None:
    if transfer.from_supporter_id != supporter.pk:
        raise NotAllowed(_("Only the supporter who asked can do this."))


def cancel(*, supporter: Supporter, transfer_id) -> WarmTransfer:
    """Call the transfer off: the target's leg (if any) is hung up, the caller stays."""
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        _own(transfer, supporter)
        if transfer.state not in OPEN_TRANSFER_STATES:
            raise Conflict(_("This transfer is no longer open."))
        asked = _asked_ids(transfer) if transfer.state == TransferState.ASKING else []
        target_sid = transfer.target_sid
        transfer.state, transfer.reason = TransferState.CANCELLED, "cancelled"
        transfer.save()
        _event(transfer, "warm_transfer_cancelled")
        _publish(transfer, [supporter.pk, transfer.to_supporter_id, *asked])
    if target_sid:
        client.hang_up(call_sid=target_sid)
    return transfer


def complete(*, supporter: Supporter, transfer_id) -> WarmTransfer:
    """Hand over: the contact becomes the target's, and the first supporter's leg ends."""
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        _own(transfer, supporter)
        if transfer.state != TransferState.JOINED:
            raise Conflict(_("The other supporter is not on the line yet."))
        call = PhoneCall.objects.select_for_update().get(pk=transfer.call_id)
        if call.ended_at is not None:
            raise Conflict(_("The caller is no longer on the line."))
        target = Supporter.objects.get(pk=transfer.to_supporter_id)
        handover.hand_over_contact(
            public_id=transfer.contact.public_id,
            supporter=supporter,
            to_supporter=target,
            to_provider_id=transfer.to_provider_id,
            note=transfer.note,
        )
        transfer.state = TransferState.HANDED_OVER
        transfer.save()
        call.supporter = target
        call.save(update_fields=["supporter", "updated_at"])
        _event(transfer, "warm_transfer_handed_over", to_supporter=target.pk)
        _publish(transfer, [supporter.pk, target.pk])
        host_sid = transfer.host_sid
    if host_sid:
        try:
            client.hang_up(call_sid=host_sid)
        except client.TelephonyUnavailable:
            # The contact is the target's already; the first supporter can hang up.
            log.warning("call %s: first supporter's leg not ended", call.call_sid[-6:])
    log.info("call %s: warm transfer %s handed over", call.call_sid[-6:], transfer.pk)
    return transfer


# --- Twilio: the legs ---------------------------------------------------------------


def leg_answered(*, transfer_id, role: str, call_sid: str) -> tuple[WarmTransfer, bool]:
    """A supporter's leg answered: (the transfer, whether it joins the conference)."""
    call_sid = services.check_call_sid(call_sid)
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        call = PhoneCall.objects.select_for_update().get(pk=transfer.call_id)
        in_conference = call.ended_at is None and call.bridge_to == _marker(transfer.conference)
        if role == "host":
            if transfer.host_sid in ("", call_sid):
                transfer.host_sid = call_sid
                transfer.save()
            return transfer, in_conference
        if transfer.state != TransferState.CONNECTING or not in_conference:
            return transfer, False
        transfer.target_sid = call_sid
        transfer.state = TransferState.JOINED
        transfer.save()
        _event(transfer, "warm_transfer_joined")
        _publish(transfer, [transfer.from_supporter_id, transfer.to_supporter_id])
    return transfer, True


def caller_conference(*, transfer_id, call_sid: str) -> tuple[WarmTransfer, bool]:
    """The caller's leg, redirected: (the transfer, whether it joins the conference)."""
    call_sid = services.check_call_sid(call_sid)
    transfer = _transfer(transfer_id, lock=False)
    call = transfer.call
    if call.call_sid != call_sid:
        raise NotFound(_("Unknown call."))
    return transfer, call.ended_at is None and call.bridge_to == _marker(transfer.conference)


def leg_status(*, transfer_id, call_sid: str, status: str) -> None:
    """A supporter's leg changed; only its end matters, and only once."""
    call_sid = services.check_call_sid(call_sid)
    rank = STATUS_RANK.get(status)
    if rank is None:
        raise InvalidInput(_("Unknown call status."))
    if rank != FINAL_RANK:
        return
    hang_up_sid = ""
    with transaction.atomic():
        transfer = _transfer(transfer_id)
        call = PhoneCall.objects.select_for_update().get(pk=transfer.call_id)
        latest = _latest(call)
        serving_dial, serving_sid = _serving_side(latest, call)
        in_conference = call.ended_at is None and call.bridge_to == _marker(latest.conference)
        is_target = latest.target_sid == call_sid or (
            latest.pk == transfer.pk and not latest.target_sid and status in NOT_ANSWERED
        )
        if latest.state in OPEN_TRANSFER_STATES and is_target and call_sid != serving_sid:
            joined = latest.state == TransferState.JOINED
            latest.state = TransferState.CANCELLED if joined else TransferState.DECLINED
            latest.reason = "target_left" if joined else "not_answered"
            latest.save()
            _event(latest, "warm_transfer_target_gone", status=status, joined=joined)
            _publish(latest, [latest.from_supporter_id, latest.to_supporter_id])
            return
        if not (in_conference and serving_sid and call_sid == serving_sid):
            return  # a leg that no longer matters (already handed over, or the call moved on)
        # The serving supporter left the conference: a transfer still open is off.
        if latest.state in OPEN_TRANSFER_STATES:
            hang_up_sid = latest.target_sid
            latest.state, latest.reason = TransferState.CANCELLED, "serving_left"
            latest.save()
            _publish(latest, [latest.from_supporter_id, latest.to_supporter_id])
        _caller_out(call, latest, answered=status not in NOT_ANSWERED)
    if hang_up_sid:
        try:
            client.hang_up(call_sid=hang_up_sid)
        except client.TelephonyUnavailable:
            log.warning("call %s: target leg not ended", call.call_sid[-6:])
    try:
        client.redirect_call(call_sid=call.call_sid, url=_url(latest, "over"))
    except client.TelephonyUnavailable:
        log.warning("call %s: caller not moved out of the conference", call.call_sid[-6:])


def _caller_out(call: PhoneCall, transfer: WarmTransfer, *, answered: bool) -> None:
    """Where the caller goes when the serving supporter's leg ends (like a bridge's end)."""
    contact = transfer.contact
    contact.refresh_from_db(fields=["state"])
    call.bridge_to = ""
    if not answered:
        call.stage = Stage.QUEUED
        services._event(call, "call_not_connected", now=timezone.now(), status="conference")
        services._notify_supporter(call, "not_connected")
    elif contact.state in QUEUED_STATES:
        call.stage = Stage.QUEUED  # transferred or escalated meanwhile: wait for the next one
    else:
        call.stage = Stage.DONE
    call.save()


def after_conference(*, transfer_id, call_sid: str) -> PhoneCall:
    """The caller, moved out of the conference: the call's stage says what comes next."""
    call_sid = services.check_call_sid(call_sid)
    transfer = _transfer(transfer_id, lock=False)
    if transfer.call.call_sid != call_sid:
        raise NotFound(_("Unknown call."))
    return services.current_call(call_sid=call_sid)


# --- the console, reloaded ------------------------------------------------------------


def open_for(supporter: Supporter) -> list[dict]:
    """The warm transfers still open that this supporter's console shows.

    Frames tell a console each change while it is open; a reloaded console
    reads its cards from here: the transfers it asked ("from", with hand over
    and cancel) and the requests asked of it ("asked", as the request frame
    carried them; an asked provider's request shows to whoever it would be
    sent to now).
    """
    mine = set(supporter.providers.values_list("pk", flat=True))
    rows = (
        WarmTransfer.objects.select_related("contact", "call", "from_supporter")
        .filter(state__in=OPEN_TRANSFER_STATES)
        .filter(
            models.Q(from_supporter=supporter)
            | models.Q(to_supporter=supporter)
            | models.Q(state=TransferState.ASKING, to_supporter__isnull=True, to_provider__in=mine)
        )
        .order_by("pk")[: MAX_ASKED * 2]
    )
    result = []
    for transfer in rows:
        frame = _frame(transfer)
        if transfer.from_supporter_id == supporter.pk:
            result.append({**frame, "role": "from"})
        elif transfer.state != TransferState.ASKING or supporter.pk in _asked_ids(transfer):
            result.append({**frame, "role": "asked", **_request_details(transfer)})
    return result
