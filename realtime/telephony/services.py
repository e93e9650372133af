"""Phone call state: the only writer of PhoneCall, and the phone's way into routing.

A call moves through the menus (language, region, topic) to the queue, where
it becomes a Contact with channel `phone`, created and queued by
routing.services.enqueue_contact like a chat. Twilio's callbacks (status,
queue, dial) repeat and arrive out of order: each keeps only what moves the
call forward (a status of lower rank, a second "completed", a queue result
after the call ended change nothing) and the contact is closed at most once,
under the PhoneCall row lock. A status callback is one conditional UPDATE.
The caller's number is read from the webhook and kept only when the caller
asks to be called back.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.models import Contact, Municipality, Region, Supporter, Topic
from helpdesk.models.contacts import (
    IN_SERVICE_STATES,
    QUEUED_STATES,
    TERMINAL_STATES,
    ContactState,
)
from helpdesk.permissions import Action, Actor, require, target_for_contact
from helpdesk.services.callbacks import normalise_phone_number
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from realtime.events import publish_on_commit, supporter_group
from realtime.telephony import client, rows
from realtime.telephony.areas import region_for_number
from realtime.telephony.models import FINAL_RANK, STATUS_RANK, Direction, PhoneCall, Stage
from realtime.telephony.twiml import LANGUAGE_DIGITS
from routing import lean_abandon, store
from routing import phone as routing_phone
from routing import services as routing

log = logging.getLogger(__name__)

MENU_STAGES = (Stage.LANGUAGE, Stage.REGION, Stage.TOPIC)
MAX_ATTEMPTS = 2
MAX_TOPICS = 8
_SID_CHARS = frozenset("ABCDEFabcdef0123456789")


def check_call_sid(value) -> str:
    """Twilio CallSids are "CA" and 32 hex digits; anything else is refused."""
    if not isinstance(value, str) or len(value) != 34 or not value.startswith("CA"):
        raise InvalidInput(_("Unknown call."))
    if not set(value[2:]) <= _SID_CHARS:
        raise InvalidInput(_("Unknown call."))
    return value


def _seconds(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 10**7 else None


def _call(call_sid: str, *, lock: bool = False, related: bool = True) -> PhoneCall:
    if related:
        qs = PhoneCall.objects.select_related("contact")
        if lock:
            qs = qs.select_for_update(of=("self",))
        call = qs.filter(call_sid=call_sid).first()
    else:
        # The menus, queue results and status callbacks need no contact: the
        # row alone, in a statement built once (rows.py).
        call = rows.load(PhoneCall, "call_sid", call_sid, lock=lock)
    if call is None:
        raise NotFound(_("Unknown call."))
    return call


def current_call(*, call_sid: str) -> PhoneCall:
    return _call(check_call_sid(call_sid))


def _event(call: PhoneCall, kind: str, *, now: datetime, **data) -> None:
    if call.contact_id is None:
        return
    rows.insert(
        [store.event(call.contact_id, kind, at=now, data={"call": call.call_sid[-6:], **data})]
    )


# --- menus -----------------------------------------------------------------


# The menus change with reference data, a few times a year: read once a minute.
MENU_CACHE_S = 60.0
_menu_cache: dict[object, tuple[float, list]] = {}


def _menu(key, read) -> list:
    now = time.monotonic()
    hit = _menu_cache.get(key)
    if hit is not None and now - hit[0] < MENU_CACHE_S:
        return hit[1]
    value = read()
    _menu_cache[key] = (now, value)
    return value


def region_menu() -> list[Region]:
    codes = tuple(settings.PHONE_REGION_MENU)[:9]

    def read() -> list[Region]:
        regions = {r.code: r for r in Region.objects.filter(code__in=codes)}
        return [regions[c] for c in codes if c in regions]

    return _menu(("regions", codes), read)


def topic_menu() -> list[Topic]:
    return _menu(
        "topics",
        lambda: list(
            Topic.objects.filter(parent__isnull=True).order_by("order", "slug")[:MAX_TOPICS]
        ),
    )


def _representative_municipality(region_code: str) -> str:
    """A region's most populous municipality stands for a caller known only by region."""

    def read() -> str:
        code = (
            Municipality.objects.filter(region__code=region_code)
            .order_by("-population", "code")
            .values_list("code", flat=True)
            .first()
        )
        return code or ""

    return _menu(("representative", region_code), read)


def start_call(*, call_sid: str, from_number: str) -> PhoneCall:
    """A new incoming call (or Twilio asking again for the same one)."""
    call_sid = check_call_sid(call_sid)
    region = region_for_number(from_number or "")
    # Twilio asking again (or a status callback that came first) finds the row.
    call, created = rows.load(PhoneCall, "call_sid", call_sid), False
    if call is None:
        call, created = PhoneCall.objects.get_or_create(
            call_sid=call_sid,
            defaults={
                "stage": Stage.LANGUAGE,
                "region_code": region or "",
                "municipality_code": _representative_municipality(region) if region else "",
            },
        )
    if not created and region and not call.region_code and call.stage == Stage.LANGUAGE:
        # A status callback came first and started the row without the number.
        call.region_code = region
        call.municipality_code = _representative_municipality(region)
        rows.update(call, ("region_code", "municipality_code"))
    if created:
        log.info("call %s: incoming, region known=%s", call_sid[-6:], bool(region))
    return call


def _advance(call: PhoneCall) -> None:
    """To the next menu the call still needs."""
    order = [Stage.LANGUAGE, Stage.REGION, Stage.TOPIC, Stage.QUEUED]
    nxt = order[order.index(call.stage) + 1]
    if nxt == Stage.REGION and (call.region_code or not region_menu()):
        nxt = Stage.TOPIC
    if nxt == Stage.TOPIC and not topic_menu():
        nxt = Stage.QUEUED
    call.stage = nxt
    call.attempt = 1


def _apply_choice(call: PhoneCall, digits: str) -> bool:
    if call.stage == Stage.LANGUAGE:
        language = LANGUAGE_DIGITS.get(digits)
        if language:
            call.language = language
        return language is not None
    if call.stage == Stage.REGION:
        regions = region_menu()
        if digits.isdigit() and 1 <= int(digits) <= len(regions):
            region = regions[int(digits) - 1]
            call.region_code = region.code
            call.municipality_code = _representative_municipality(region.code)
            return True
        return False
    if call.stage == Stage.TOPIC:
        topics = topic_menu()
        if digits.isdigit() and 1 <= int(digits) <= len(topics):
            call.topic_slug = topics[int(digits) - 1].slug
            return True
        return False
    return False


# What answering a menu can change on the call (the row is locked meanwhile).
_MENU_FIELDS = ("stage", "attempt", "language", "region_code", "municipality_code", "topic_slug")


@dataclass(frozen=True)
class Outcome:
    """What the caller hears next: the call and, once queued or closed, the routing result."""

    call: PhoneCall
    repeat: bool = False
    opens_at: datetime | None = None


def answer_menu(*, call_sid: str, stage: str, digits: str) -> Outcome:
    """A menu's answer (or its silence); a stale or repeated request changes nothing."""
    call_sid = check_call_sid(call_sid)
    digits = (digits or "").strip()[:4]
    with transaction.atomic():
        call = _call(call_sid, lock=True, related=False)
        if call.stage != stage or stage not in MENU_STAGES:
            return Outcome(call)
        repeat = False
        if _apply_choice(call, digits):
            _advance(call)
        elif call.attempt < MAX_ATTEMPTS:
            call.attempt += 1
            repeat = True
        else:
            # Twice nothing (or nothing valid): go on without this answer, so
            # that a caller who presses nothing still reaches a queue.
            _advance(call)
        if call.stage == Stage.QUEUED and call.contact_id is None:
            return _queue(call)
        rows.update(call, _MENU_FIELDS)
    return Outcome(call, repeat=repeat)


# Whether help is open changes a few times a day, and working it out reads
# every provider's hours: calls from the same municipality finishing their
# menus within a few seconds share one answer. A "closed" answer is not kept
# past the opening it announces.
OPENING_CACHE_S = 10.0
_opening_cache: dict[str, tuple[float, bool, datetime | None]] = {}


def _opening(municipality_code: str) -> tuple[bool, datetime | None]:
    now = time.monotonic()
    hit = _opening_cache.get(municipality_code)
    if hit is not None and now - hit[0] < OPENING_CACHE_S:
        is_open, opens_at = hit[1], hit[2]
        if is_open or opens_at is None or opens_at > timezone.now():
            return is_open, opens_at
    is_open, opens_at = routing_phone.opening_for(
        municipality_code=municipality_code or None, channel="phone"
    )
    _opening_cache[municipality_code] = (now, is_open, opens_at)
    return is_open, opens_at


def _queue(call: PhoneCall) -> Outcome:
    """Menus done: into routing if help is open, else the out-of-hours menu.

    Runs in answer_menu's transaction, with the call's row locked: a repeated
    menu answer waits for it and then finds the call queued.
    """
    is_open, opens_at = _opening(call.municipality_code or "")
    if not is_open:
        call.stage = Stage.CLOSED
        call.attempt = 1
        rows.update(call, _MENU_FIELDS)
        return Outcome(call, opens_at=opens_at)
    contact = routing.enqueue_contact(
        channel="phone",
        language=call.language,
        municipality_code=call.municipality_code or None,
        topic_slug=call.topic_slug or None,
        consent=True,
    )
    call.contact = contact
    rows.update(call, (*_MENU_FIELDS, "contact"))
    _event(call, "phone_queued", now=timezone.now(), region=call.region_code or None)
    log.info("call %s queued as contact %s", call.call_sid[-6:], contact.public_id)
    return Outcome(call)


def answer_closed(*, call_sid: str, digits: str, from_number: str) -> Outcome:
    """Out of hours: the callback key leaves a callback request, which keeps its priority."""
    call_sid = check_call_sid(call_sid)
    with transaction.atomic():
        call = _call(call_sid, lock=True)
        if call.stage != Stage.CLOSED:
            return Outcome(call)
        if (digits or "").strip() == "1":
            number = normalise_phone_number(from_number or "")
            contact = routing.enqueue_contact(
                channel="phone",
                language=call.language,
                municipality_code=call.municipality_code or None,
                topic_slug=call.topic_slug or None,
                consent=True,
                is_callback=True,
                callback_number=number,
            )
            call.contact = contact
            call.stage = Stage.CALLBACK
            call.save()
            _event(call, "callback_requested", now=timezone.now(), out_of_hours=True)
            return Outcome(call)
        if call.attempt < MAX_ATTEMPTS:
            call.attempt += 1
            call.save()
            return Outcome(call, repeat=True)  # the repeat says only the callback key
        call.stage = Stage.DONE
        call.save()
        return Outcome(call)


# --- waiting -----------------------------------------------------------------


@dataclass(frozen=True)
class WaitRound:
    call: PhoneCall
    announce: bool
    position: int | None
    wait_s: int | None
    over: bool  # the contact ended meanwhile: say goodbye
    queued: bool = False  # in the routing queue (not on hold with a supporter)


# The wait loop's one statement: the call, its contact's state and the position
# and estimate the last routing round left on it, and (only when an
# announcement is due) the conditional update that only one of two racing
# turns can win. No queue is scanned here: positions come from the round.
_WAIT_SQL = """
WITH cur AS (
    SELECT pc.id, pc.language, pc.stage, pc.contact_id, ct.state,
           ct.last_position, ct.last_estimated_wait_s,
           (ct.state = ANY(%(queued)s)
            AND (pc.last_announced_at IS NULL OR pc.last_announced_at <= %(due)s)) AS due
    FROM {call} pc LEFT JOIN {contact} ct ON ct.id = pc.contact_id
    WHERE pc.call_sid = %(sid)s
), announced AS (
    UPDATE {call} SET last_announced_at = %(now)s
    WHERE id = (SELECT id FROM cur WHERE due)
      AND (last_announced_at IS NULL OR last_announced_at <= %(due)s)
    RETURNING id
)
SELECT id, language, stage, contact_id, state, last_position, last_estimated_wait_s,
       EXISTS (SELECT 1 FROM announced)
FROM cur
"""
_WAITING_STATES = [str(s) for s in (*QUEUED_STATES, ContactState.OFFERED)]


def wait_round(*, call_sid: str) -> WaitRound:
    """One turn of the wait loop: announce position and wait when it is time.

    The most frequent webhook of all (every waiting caller, every turn), so it
    costs one statement and takes no row lock (_WAIT_SQL). The statement and
    the reading of its row are apart so that the webhook can run the
    statement from the event loop instead (webhooks.py, helpdesk/db_async.py).
    """
    call_sid, sql, params = wait_statement(call_sid=call_sid)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return wait_result(call_sid, cursor.fetchone())


def wait_statement(*, call_sid: str) -> tuple[str, str, dict]:
    """The checked CallSid, and the wait loop's one statement with its parameters."""
    call_sid = check_call_sid(call_sid)
    now = timezone.now()
    due = now - timedelta(seconds=settings.PHONE_ANNOUNCE_EVERY_S)
    sql = _WAIT_SQL.format(call=PhoneCall._meta.db_table, contact=Contact._meta.db_table)
    return call_sid, sql, {"sid": call_sid, "now": now, "due": due, "queued": _WAITING_STATES}


def wait_result(call_sid: str, row: tuple | None) -> WaitRound:
    """The turn the wait statement's row says."""
    if row is None:
        raise NotFound(_("Unknown call."))
    pk, language, stage, contact_id, state, position, wait_s, announce = row
    call = PhoneCall(
        pk=pk, call_sid=call_sid, language=language, stage=stage, contact_id=contact_id
    )
    if contact_id is None or state in TERMINAL_STATES:
        return WaitRound(call, False, None, None, over=contact_id is not None)
    queued = state in _WAITING_STATES
    return WaitRound(call, bool(announce), position, wait_s, over=False, queued=queued)


def callback_in_queue(*, call_sid: str, from_number: str) -> PhoneCall:
    """The waiting caller pressed the callback key: keep the place, then hang up."""
    call_sid = check_call_sid(call_sid)
    with transaction.atomic():
        call = _call(call_sid, lock=True)
        if call.contact is None or call.stage != Stage.QUEUED:
            raise Conflict(_("This call is no longer waiting in the queue."))
        routing_phone.keep_place_as_callback(
            public_id=call.contact.public_id, callback_number=from_number or ""
        )
        call.stage = Stage.CALLBACK
        call.save()
    return call


def queue_result(*, call_sid: str, result: str, queue_time) -> PhoneCall:
    """Twilio's answer to `<Enqueue action>`: how the caller left the queue, and when."""
    call_sid = check_call_sid(call_sid)
    seconds = _seconds(queue_time)
    with transaction.atomic():
        call = _call(call_sid, lock=True, related=False)
        if seconds is not None:
            call.queue_time_s = max(call.queue_time_s or 0, seconds)
        ends = result in ("hangup", "error", "system-error", "queue-full")
        if not (ends and call.ended_at is None):
            rows.update(call, ("queue_time_s",))  # otherwise _caller_gone writes it
        if result == "hangup":
            _caller_gone(call, reason="caller_hung_up", changed=("queue_time_s",))
        elif result in ("error", "system-error", "queue-full"):
            _caller_gone(call, reason=f"queue_{result}", changed=("queue_time_s",))
    return call


# --- status callbacks -------------------------------------------------------------


# A status callback in one statement: a status of lower rank than the one
# recorded (a repeat, or one that overtook a later one) leaves the status as
# it is, and the call's duration only grows. A callback that comes before the
# voice webhook starts the call's row with what it says (the INSERT's values).
# It says whether the call still has to be closed (no callback has ended it yet).
_STATUS_SQL = """
INSERT INTO {call} AS pc ({columns}) VALUES ({values})
ON CONFLICT (call_sid) DO UPDATE SET
    status = CASE WHEN %(rank)s > pc.status_rank THEN %(status)s ELSE pc.status END,
    status_rank = GREATEST(pc.status_rank, %(rank)s),
    duration_s = CASE WHEN %(final)s AND %(seconds)s::integer IS NOT NULL
                      THEN GREATEST(COALESCE(pc.duration_s, 0), %(seconds)s::integer)
                      ELSE pc.duration_s END,
    updated_at = %(now)s
RETURNING pc.ended_at IS NULL
"""


def record_status(*, call_sid: str, status: str, duration) -> None:
    """A status callback: idempotent, and a late one of lower rank changes nothing.

    Twilio sends several per call, repeated and out of order: each is one
    statement (status_statement); only the first final status of a call
    still open does more (close_ended_call). The two are apart so that the
    webhook can run the statement from the event loop instead (webhooks.py).
    """
    call_sid, sql, params = status_statement(call_sid=call_sid, status=status, duration=duration)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (open_,) = cursor.fetchone()
    if params["final"] and open_:
        close_ended_call(call_sid=call_sid, status=status)


def status_statement(*, call_sid: str, status: str, duration) -> tuple[str, str, dict]:
    """The checked CallSid, and the status callback's one statement with its parameters.

    Its row says whether the call is still open; when it is and
    params["final"] is true, close_ended_call must follow.
    """
    call_sid = check_call_sid(call_sid)
    rank = STATUS_RANK.get(status)
    if rank is None:
        raise InvalidInput(_("Unknown call status."))
    seconds = _seconds(duration)
    final = rank == FINAL_RANK
    now = timezone.now()
    fresh = PhoneCall(
        call_sid=call_sid,
        stage=Stage.LANGUAGE,
        status=status,
        status_rank=rank,
        duration_s=seconds if final else None,
        created_at=now,
        updated_at=now,
    )
    columns, values = rows.insert_values(fresh)
    params = {f"v{i}": value for i, value in enumerate(values)}
    params.update(status=status, rank=rank, final=final, seconds=seconds, now=now)
    sql = _STATUS_SQL.format(
        call=PhoneCall._meta.db_table,
        columns=", ".join(columns),
        values=", ".join(f"%(v{i})s" for i in range(len(values))),
    )
    return call_sid, sql, params


def close_ended_call(*, call_sid: str, status: str) -> None:
    """After the first final status of a call still open: close what it left open."""
    with transaction.atomic():
        call = _call(call_sid, lock=True, related=False)
        _caller_gone(call, reason="caller_hung_up", final_status=status)


def _caller_gone(
    call: PhoneCall, *, reason: str, final_status: str = "", changed: tuple[str, ...] = ()
) -> None:
    """The call is over: close what it left open, once, whichever callback told first.

    `call` is locked by the caller's transaction; `changed` names fields the
    caller changed and left for this to write with the rest.
    """
    now = timezone.now()
    first = call.ended_at is None
    if first:
        call.ended_at = now
        call.bridge_to = ""
        if call.stage not in (Stage.CALLBACK,):
            call.stage = Stage.DONE
        rows.update(call, ("ended_at", "bridge_to", "stage", *changed))
        if call.direction == Direction.INBOUND and call.supporter_id is not None:
            # Only a call a supporter connected can have a warm transfer open.
            from realtime.telephony import warm

            warm.caller_gone(call)
    if call.contact_id is None or not first:
        return
    # The contact as it is now (routing's services read it again under their
    # own conditions); kept on the call for _notify_supporter.
    contact = rows.load(Contact, "id", call.contact_id)
    call.contact = contact
    if contact is None:
        return
    if call.direction == Direction.CALLBACK:
        if final_status in ("busy", "no-answer", "failed", "canceled"):
            _event(call, "callback_not_answered", now=now, status=final_status)
            _notify_supporter(call, "callback_failed")
        else:
            _event(call, "call_ended", now=now)
        return
    if contact.state in TERMINAL_STATES:
        return
    if contact.is_callback:
        # The caller hung up after asking to be called back: their place stays.
        _event(call, "call_ended", now=now, callback=True)
        return
    if contact.state in QUEUED_STATES or contact.state == "offered":
        waited = int((now - (contact.waiting_since or contact.created_at)).total_seconds())
        # Most calls that end in the queue: one statement (routing/lean_abandon.py).
        if not lean_abandon.abandon_waiting(contact=contact, reason=reason, now=now):
            routing.abandon_contact(public_id=contact.public_id, reason=reason)
        _event(call, "call_abandoned", now=now, waited_s=max(0, waited))
    else:
        # In service: the supporter ends the contact with its outcome.
        _event(call, "call_ended", now=now)
        _notify_supporter(call, "ended")


def _notify_supporter(call: PhoneCall, kind: str) -> None:
    supporter_id = call.supporter_id or (call.contact.supporter_id if call.contact else None)
    if supporter_id and call.contact_id:
        publish_on_commit(
            supporter_group(supporter_id),
            {"type": "phone.call", "contact": str(call.contact.public_id), "call": kind},
        )


# --- bridging to a supporter ------------------------------------------------------


def _serving(supporter: Supporter, public_id) -> Contact:
    try:
        key = uuid.UUID(str(public_id))
    except (ValueError, TypeError):
        raise NotFound(_("Unknown contact.")) from None
    contact = Contact.objects.filter(public_id=key).first()
    if contact is None:
        raise NotFound(_("Unknown contact."))
    require(Actor.for_user(supporter.user), Action.CONTACT_CHAT, target_for_contact(contact))
    if contact.supporter_id != supporter.pk or contact.state not in IN_SERVICE_STATES:
        raise NotAllowed(_("You are not serving this contact."))
    if contact.channel != "phone":
        raise InvalidInput(_("This contact is not a phone call."))
    return contact


def client_identity(supporter: Supporter) -> str:
    """The softphone's identity: says nothing about the person."""
    return f"supporter-{supporter.pk}"


def _target(supporter: Supporter, via: str, number: str) -> str:
    if via == "browser":
        return "client:" + client_identity(supporter)
    if via == "phone":
        return normalise_phone_number(number or "")
    raise InvalidInput(_("Answer in the browser or on your own phone."))


def connect(*, supporter: Supporter, public_id, via: str, number: str = "") -> str:
    """Bridge the supporter to the caller: "connecting" (queued caller) or "dialling" (callback)."""
    if not isinstance(via, str) or not isinstance(number, str):
        raise InvalidInput(_("Answer in the browser or on your own phone."))
    contact = _serving(supporter, public_id)
    target = _target(supporter, via, number)
    base = settings.PUBLIC_BASE_URL
    with transaction.atomic():
        live = (
            PhoneCall.objects.select_for_update()
            .filter(
                contact=contact,
                direction=Direction.INBOUND,
                ended_at__isnull=True,
                stage__in=[Stage.QUEUED, Stage.BRIDGING],
            )
            .first()
        )
        if live is not None:
            live.bridge_to, live.supporter, live.stage = target, supporter, Stage.BRIDGING
            live.save()
    if live is not None:
        if contact.state == ContactState.ON_HOLD:
            routing.resume_contact(public_id=contact.public_id, supporter=supporter)
        try:
            client.redirect_call(call_sid=live.call_sid, url=f"{base}/telephony/voice/bridge")
        except client.TelephonyUnavailable:
            PhoneCall.objects.filter(pk=live.pk, stage=Stage.BRIDGING).update(stage=Stage.QUEUED)
            raise
        _event(live, "phone_connecting", now=timezone.now(), via=via)
        return "connecting"
    if not contact.is_callback or not contact.callback_number:
        raise Conflict(_("The caller is no longer on the line."))
    pending = PhoneCall.objects.create(
        call_sid=f"pending-{uuid.uuid4().hex}",
        direction=Direction.CALLBACK,
        contact=contact,
        stage=Stage.BRIDGING,
        language=contact.language,
        supporter=supporter,
        bridge_to=target,
    )
    try:
        sid = client.dial(
            to=contact.callback_number,
            url=f"{base}/telephony/voice/callback-answer/{pending.pk}",
            status_callback=f"{base}/telephony/voice/status",
        )
    except client.TelephonyUnavailable:
        pending.delete()
        raise
    PhoneCall.objects.filter(pk=pending.pk, call_sid=pending.call_sid).update(call_sid=sid)
    pending.call_sid = sid
    _event(pending, "callback_dialled", now=timezone.now(), via=via)
    return "dialling"


@dataclass(frozen=True)
class Bridge:
    call: PhoneCall
    client_identity: str
    number: str


def _bridge(call: PhoneCall) -> Bridge | None:
    if not call.bridge_to or call.ended_at is not None:
        return None
    call.stage = Stage.BRIDGED
    if call.answered_at is None:
        call.answered_at = timezone.now()
    call.save()
    if call.bridge_to.startswith("client:"):
        return Bridge(call, call.bridge_to[len("client:") :], "")
    return Bridge(call, "", call.bridge_to)


def bridge(*, call_sid: str) -> tuple[PhoneCall, Bridge | None]:
    """TwiML for a redirected caller: whom to dial (None: nobody, back to the queue)."""
    call_sid = check_call_sid(call_sid)
    with transaction.atomic():
        call = _call(call_sid, lock=True)
        result = _bridge(call)
        if result is None and call.stage == Stage.BRIDGING:
            call.stage = Stage.QUEUED
            call.save()
        if result is not None:
            _event(call, "call_answered", now=timezone.now())
    return call, result


def callback_answered(*, pk: int, call_sid: str) -> Bridge | None:
    """The called-back customer picked up: dial their supporter."""
    call_sid = check_call_sid(call_sid)
    with transaction.atomic():
        call = (
            PhoneCall.objects.select_for_update(of=("self",))
            .select_related("contact")
            .filter(pk=pk)
            .first()
        )
        if call is None or call.direction != Direction.CALLBACK:
            raise NotFound(_("Unknown call."))
        if call.call_sid != call_sid:
            if not call.call_sid.startswith("pending-"):
                raise NotFound(_("Unknown call."))
            call.call_sid = call_sid  # Twilio asked before our create() returned
        result = _bridge(call)
        if result is not None:
            _event(call, "call_answered", now=timezone.now(), callback=True)
    return result


def dial_result(*, call_sid: str, status: str, duration) -> PhoneCall:
    """`<Dial action>`: the supporter's leg ended, with its talk time, or never connected."""
    call_sid = check_call_sid(call_sid)
    seconds = _seconds(duration)
    with transaction.atomic():
        call = _call(call_sid, lock=True)
        if status == "completed":
            first = call.talk_s is None
            call.talk_s = max(call.talk_s or 0, seconds or 0)
            call.stage = Stage.DONE
            call.bridge_to = ""
            contact = call.contact
            if (
                call.direction == Direction.INBOUND
                and call.ended_at is None
                and contact is not None
                and contact.state in QUEUED_STATES
            ):
                # Transferred or escalated while talking: when the supporter
                # hangs up, the caller waits for the next one, in the same place.
                call.stage = Stage.QUEUED
            call.save()
            if first:
                _event(call, "call_talk_time", now=timezone.now(), talk_s=call.talk_s)
        elif call.stage == Stage.BRIDGED and call.ended_at is None:
            # The supporter's side did not answer: the caller waits again.
            call.stage = Stage.QUEUED if call.direction == Direction.INBOUND else Stage.DONE
            call.bridge_to = ""
            call.save()
            _event(call, "call_not_connected", now=timezone.now(), status=status[:16])
            _notify_supporter(call, "not_connected")
    return call


def hold(*, supporter: Supporter, public_id) -> PhoneCall:
    """Put the caller on hold: the contact goes on hold and the call back to the wait music.

    Redirecting the caller's leg ends the supporter's leg; connecting again
    (services.connect) resumes the contact and bridges the call anew.
    """
    contact = _serving(supporter, public_id)
    with transaction.atomic():
        live = (
            PhoneCall.objects.select_for_update()
            .filter(
                contact=contact,
                direction=Direction.INBOUND,
                ended_at__isnull=True,
                stage__in=[Stage.BRIDGING, Stage.BRIDGED],
            )
            .first()
        )
        if live is None:
            raise Conflict(_("The caller is not connected."))
        if contact.state == ContactState.ACTIVE:
            routing.hold_contact(public_id=contact.public_id, supporter=supporter)
        live.stage, live.bridge_to = Stage.QUEUED, ""
        live.save()
    client.redirect_call(
        call_sid=live.call_sid, url=f"{settings.PUBLIC_BASE_URL}/telephony/voice/hold"
    )
    _event(live, "call_on_hold", now=timezone.now())
    return live
