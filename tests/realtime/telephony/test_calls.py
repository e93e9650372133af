"""A call's life in-process: out of hours, callbacks, hanging up, repeated and reordered
callbacks, bridging to a supporter, and the TwiML vocabulary of everything the driver heard."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from helpdesk.models import AuditLogEntry, Contact, ContactEvent, OpeningHours, Topic
from realtime.telephony.driver import DialResult
from realtime.telephony.models import PhoneCall, Stage
from routing import services as routing
from routing.availability import HELSINKI
from routing.selectors import contact_summary
from routing.services import CALLBACK_PRIORITY
from tests.factories import make_provider, make_supporter
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE, MOBILE, PLATFORM_NUMBER, PUBLIC

pytestmark = pytest.mark.django_db

# Twilio's documented Programmable Voice TwiML: verb -> attributes, and nouns per verb.
ALLOWED_ATTRIBUTES = {
    "Response": set(),
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Gather": {
        "input", "numDigits", "timeout", "action", "method", "finishOnKey",
        "actionOnEmptyResult", "language", "hints", "speechTimeout", "partialResultCallback",
    },
    "Redirect": {"method"},
    "Hangup": set(),
    "Leave": set(),
    "Enqueue": {"action", "method", "waitUrl", "waitUrlMethod", "workflowSid"},
    "Dial": {
        "action", "method", "timeout", "callerId", "hangupOnStar", "timeLimit", "record",
        "answerOnBridge", "ringTone", "recordingStatusCallback",
    },
    "Client": {"url", "method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod"},
    "Number": {
        "sendDigits", "url", "method", "statusCallback", "statusCallbackEvent",
        "statusCallbackMethod",
    },
    # https://www.twilio.com/docs/voice/twiml/conference (attributes of the noun)
    "Conference": {
        "muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "participantLabel",
        "jitterBufferSize", "waitUrl", "waitMethod", "maxParticipants", "record", "region",
        "coach", "trim", "statusCallbackEvent", "statusCallback", "statusCallbackMethod",
        "recordingStatusCallback", "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent", "eventCallbackUrl",
    },
}  # fmt: skip
ALLOWED_CHILDREN = {
    "Response": {
        "Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Leave", "Enqueue", "Dial",
    },
    "Gather": {"Say", "Play", "Pause"},
    "Dial": {"Client", "Number", "Conference"},
}  # fmt: skip
VOICES = {"fi-FI": "Polly.Suvi-Neural", "sv-SE": "Polly.Elin-Neural", "en-GB": "Polly.Amy-Neural"}


@pytest.fixture
def network(reference_data):
    pk = make_provider(regions=["12"], name="Joensuun kirjasto")
    national = make_provider(is_national=True, name="Kansalaisneuvonta")
    return {"pk": pk, "national": national}


@pytest.fixture
def closed_network(reference_data):
    """Every provider opens only tomorrow 9-15 (Helsinki time)."""
    tomorrow = (timezone.now().astimezone(HELSINKI) + timedelta(days=1)).weekday()
    providers = [
        make_provider(regions=["12"], always_open=False),
        make_provider(is_national=True, always_open=False),
    ]
    for p in providers:
        OpeningHours.objects.create(provider=p, weekday=tomorrow, opens=time(9), closes=time(15))
    return providers


def _contact(call) -> Contact:
    return Contact.objects.get(phone_calls__call_sid=call.sid)


def _kinds(contact) -> list[str]:
    return list(ContactEvent.objects.filter(contact=contact).values_list("kind", flat=True))


def test_out_of_hours_caller_hears_next_opening_and_leaves_a_callback(driver, closed_network):
    call = driver.call(JOENSUU_LANDLINE, digits=["1", None, None, "1"])
    assert call.start() == "completed"
    heard = call.transcript()
    assert "klo 09:00" in heard or "09:00" in heard, heard
    assert "0 2 9 5 0 0 0 0 0 0" in heard  # Kansalaisneuvonta's number, digit by digit
    contact = _contact(call)
    assert contact.is_callback and contact.priority == CALLBACK_PRIORITY
    assert contact.callback_number == JOENSUU_LANDLINE
    assert contact.state == "waiting"  # the status callback "completed" did not abandon it
    assert contact.region.code == "12"
    assert "callback_requested" in _kinds(contact)
    assert PhoneCall.objects.get(call_sid=call.sid).stage == Stage.CALLBACK


def test_out_of_hours_caller_who_presses_nothing_leaves_nothing(driver, closed_network):
    call = driver.call(MOBILE)
    assert call.start() == "completed"
    assert not Contact.objects.exists()
    assert PhoneCall.objects.get(call_sid=call.sid).stage == Stage.DONE


def test_callback_key_in_the_queue_keeps_the_place_with_priority(driver, network):
    first = driver.call(MOBILE, digits=["1"])
    first.start()
    second = driver.call(JOENSUU_LANDLINE, digits=["1"], wait_keys=[None, "1"])
    assert second.start() == "queued"
    second.wait_round()
    assert second.state == "queued"
    second.wait_round()  # presses 1: <Leave>, Enqueue action "leave", goodbye, hang-up
    assert second.state == "completed"
    contact = _contact(second)
    assert contact.state == "waiting"
    assert contact.is_callback and contact.priority == CALLBACK_PRIORITY
    assert contact.callback_number == JOENSUU_LANDLINE
    assert contact.waiting_since < _contact(first).created_at + timedelta(seconds=5)
    kinds = _kinds(contact)
    assert kinds.count("callback_requested") == 1
    assert "abandoned" not in kinds


def test_hanging_up_in_the_queue_is_abandoned_with_its_wait(driver, network):
    call = driver.call(MOBILE, digits=["2"])
    call.start()
    call.wait_round()
    call.queue_entered -= 42  # the caller has waited 42 s
    call.hang_up()
    contact = _contact(call)
    assert contact.state == "abandoned"
    events = {e.kind: e.data for e in ContactEvent.objects.filter(contact=contact)}
    assert events["abandoned"]["reason"] == "caller_hung_up"
    assert "waited_s" in events["call_abandoned"]
    phone = PhoneCall.objects.get(call_sid=call.sid)
    assert phone.queue_time_s >= 42
    assert phone.status == "completed"
    assert phone.language == "sv"


def _record(call_sid: str) -> dict:
    phone = PhoneCall.objects.get(call_sid=call_sid)
    contact = phone.contact
    return {
        "status": phone.status,
        "duration": phone.duration_s,
        "queue_time": phone.queue_time_s,
        "stage": phone.stage,
        "state": contact.state,
        "events": sorted(_kinds(contact)),
    }


def test_repeated_and_reordered_callbacks_leave_the_same_record(driver, network):
    records = []
    orders = [
        ["queue", "in-progress", "completed"],
        ["completed", "in-progress", "queue", "completed", "ringing", "queue"],
        ["completed", "completed", "queue", "in-progress"],
    ]
    for order in orders:
        call = driver.call(MOBILE, digits=["1"])
        call.start()
        for item in order:
            if item == "queue":
                call.post(call.enqueue["action"], "action", QueueResult="hangup", QueueTime=30)
            else:
                extra = {"CallDuration": 75} if item == "completed" else {}
                call.state = "completed" if item == "completed" else call.state
                driver.status(call, item, **extra)
        assert all(f.status in (200, 204) for f in call.fetched), [
            (f.url, f.status) for f in call.fetched
        ]
        records.append(_record(call.sid))
    assert records[0] == records[1] == records[2]
    assert records[0]["state"] == "abandoned"
    assert records[0]["duration"] == 75 and records[0]["queue_time"] == 30
    assert records[0]["events"].count("abandoned") == 1


def test_supporter_accepts_and_the_call_is_bridged_to_the_softphone(driver, stand_in, network):
    supporter = make_supporter(
        providers=[network["pk"]],
        presence="available",
        kind="volunteer",
        last_heartbeat=timezone.now(),
        skills=list(Topic.objects.values_list("slug", flat=True)),
    )
    dialled = []

    def answer(kind, target, attrs):
        dialled.append((kind, target, attrs))
        return DialResult("completed", 95)

    call = driver.call(JOENSUU_LANDLINE, digits=["1", "1"], on_dial=answer)
    assert call.start() == "queued"
    contact = _contact(call)
    routing.dispatch()
    offer = contact.offers.get(state="pending")
    assert offer.supporter == supporter
    routing.accept_offer(offer_id=offer.pk, supporter=supporter)

    http = Client()
    http.force_login(supporter.user)
    response = http.post(
        f"/telephony/contacts/{contact.public_id}/connect",
        {"via": "browser"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"state": "connecting"}
    method, path, data = stand_in.requests[-1]
    assert path.endswith(f"/Calls/{call.sid}.json")
    assert data["Url"] == f"{PUBLIC}/telephony/voice/bridge"

    assert call.wait_until_redirected(5) == "completed"
    kind, target, attrs = dialled[0]
    assert (kind, target) == ("Client", f"supporter-{supporter.pk}")
    assert attrs["callerId"] == PLATFORM_NUMBER  # the supporter never sees the caller's number
    phone = PhoneCall.objects.get(call_sid=call.sid)
    assert phone.talk_s == 95 and phone.answered_at is not None
    assert phone.bridge_to == ""
    kinds = _kinds(contact)
    for kind in ("created", "queued", "offered", "accepted", "call_answered", "call_talk_time"):
        assert kind in kinds
    contact.refresh_from_db()
    assert contact.state == "active"  # the supporter ends it with its outcome
    # Twilio repeats the final status callback: the call ends once.
    for _ in range(2):
        assert driver.status(call, "completed", CallDuration=120).status == 204
    kinds = _kinds(contact)
    assert kinds.count("call_ended") == 1 and kinds.count("call_talk_time") == 1
    assert PhoneCall.objects.get(call_sid=call.sid).duration_s == 120


def test_connecting_someone_elses_call_is_refused(driver, stand_in, network):
    supporter = make_supporter(
        providers=[network["pk"]], presence="available", last_heartbeat=timezone.now()
    )
    other = make_supporter(providers=[network["pk"]])
    call = driver.call(JOENSUU_LANDLINE, digits=["1"])
    call.start()
    routing.dispatch()
    contact = _contact(call)
    routing.accept_offer(offer_id=contact.offers.get().pk, supporter=supporter)
    http = Client()
    http.force_login(other.user)
    response = http.post(
        f"/telephony/contacts/{contact.public_id}/connect",
        {"via": "browser"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert stand_in.requests == []
    for body in ("[]", "{", '{"via": "fax"}', '{"via": "phone", "number": "abc"}'):
        http.force_login(supporter.user)
        response = http.post(
            f"/telephony/contacts/{contact.public_id}/connect",
            body,
            content_type="application/json",
        )
        assert response.status_code == 400, body
    assert stand_in.requests == []


def test_callback_is_dialled_with_the_platform_number(driver, stand_in, closed_network):
    call = driver.call(JOENSUU_LANDLINE, digits=["1", None, None, "1"])
    call.start()
    contact = _contact(call)
    # Help opens: a staff member takes the callback and calls from the browser.
    OpeningHours.objects.filter(provider__in=closed_network).update(
        weekday=timezone.now().astimezone(HELSINKI).weekday(), opens=time(0), closes=time(23, 59)
    )
    staff = make_supporter(
        providers=[closed_network[0]], presence="available", last_heartbeat=timezone.now()
    )
    routing.dispatch()
    routing.accept_offer(offer_id=contact.offers.get(state="pending").pk, supporter=staff)
    # Staff serving a callback may see the number, and each view is audit-logged.
    contact.refresh_from_db()
    assert contact_summary(contact, viewer=staff)["callback_number"] == JOENSUU_LANDLINE
    assert AuditLogEntry.objects.filter(
        actor=staff.user, action="callback_number_view", contact=contact
    ).exists()
    http = Client()
    http.force_login(staff.user)
    response = http.post(
        f"/telephony/contacts/{contact.public_id}/connect",
        {"via": "phone", "number": "040 765 4321"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"state": "dialling"}
    _method, path, data = stand_in.requests[-1]
    assert path.endswith("/Calls.json")
    assert data["From"] == PLATFORM_NUMBER and data["To"] == JOENSUU_LANDLINE
    placed = stand_in.placed[-1]
    placed.on_dial = lambda kind, target, attrs: DialResult("completed", 30)
    assert placed.answer(placed.answer_url) == "completed"
    assert placed.dialled[0][:2] == ("Number", "+358407654321")
    assert placed.dialled[0][2]["callerId"] == PLATFORM_NUMBER
    assert PhoneCall.objects.get(call_sid=placed.sid).talk_s == 30


def test_every_twiml_answer_uses_only_documented_verbs_and_attributes(driver, stand_in, network):
    driver.call(MOBILE).start()
    for digits in (["2"], ["3"], ["9", "9", "9", "9"]):
        call = driver.call(JOENSUU_LANDLINE, digits=digits, wait_keys=[None, "5", "1"])
        call.start()
        for _ in range(3):
            call.wait_round()
    checked = 0
    for fetched in driver.fetched:
        if fetched.context == "status":
            assert fetched.status == 204
            continue
        assert fetched.status == 200, (fetched.url, fetched.body)
        import xml.etree.ElementTree as ET

        root = ET.fromstring(fetched.body)
        assert root.tag == "Response"
        for parent in root.iter():
            assert set(parent.attrib) <= ALLOWED_ATTRIBUTES[parent.tag], (parent.tag, parent.attrib)
            for child in parent:
                assert child.tag in ALLOWED_CHILDREN.get(parent.tag, set()), (parent.tag, child.tag)
            if parent.tag == "Say":
                assert VOICES[parent.get("language")] == parent.get("voice")
                assert (parent.text or "").strip()
            for url_attr in ("action", "waitUrl"):
                if parent.get(url_attr):
                    assert parent.get(url_attr).startswith(PUBLIC + "/telephony/voice/")
        checked += 1
    assert checked >= 20
    langs = {lang for call in driver.calls.values() for _t, lang, _v in call.said}
    assert {"fi-FI", "sv-SE", "en-GB"} <= langs


def test_transferred_caller_waits_again_when_the_supporter_hangs_up(driver, stand_in, network):
    first = make_supporter(
        providers=[network["pk"]], presence="available", last_heartbeat=timezone.now()
    )
    national = make_supporter(providers=[network["national"]])
    call = driver.call(
        JOENSUU_LANDLINE, digits=["1"], on_dial=lambda *a: DialResult("completed", 40)
    )
    call.start()
    contact = _contact(call)
    routing.dispatch()
    routing.accept_offer(offer_id=contact.offers.get().pk, supporter=first)
    http = Client()
    http.force_login(first.user)
    http.post(
        f"/telephony/contacts/{contact.public_id}/connect",
        {"via": "browser"},
        content_type="application/json",
    )
    # While talking, the supporter escalates to Kansalaisneuvonta, then hangs up.
    real_dial = call.on_dial

    def escalate_then_hang_up(kind, target, attrs):
        routing.escalate_contact(public_id=contact.public_id, supporter=first, note="Perukirja")
        return real_dial(kind, target, attrs)

    call.on_dial = escalate_then_hang_up
    assert call.wait_until_redirected(5) == "queued"  # back in the queue, not hung up
    contact.refresh_from_db()
    assert contact.state == "escalated"
    assert PhoneCall.objects.get(call_sid=call.sid).stage == Stage.QUEUED
    assert national.pk


def test_hold_plays_the_wait_music_and_connecting_again_resumes(driver, stand_in, network):
    supporter = make_supporter(
        providers=[network["pk"]], presence="available", last_heartbeat=timezone.now()
    )
    call = driver.call(JOENSUU_LANDLINE, digits=["1"], wait_keys=["1"])
    call.start()
    contact = _contact(call)
    routing.dispatch()
    routing.accept_offer(offer_id=contact.offers.get().pk, supporter=supporter)
    http = Client()
    http.force_login(supporter.user)
    url = f"/telephony/contacts/{contact.public_id}"

    def hold_while_talking(kind, target, attrs):
        response = http.post(f"{url}/hold", content_type="application/json")
        assert response.status_code == 200, response.content
        return DialResult("completed", 20)

    call.on_dial = hold_while_talking
    response = http.post(f"{url}/connect", {"via": "browser"}, content_type="application/json")
    assert response.status_code == 200, response.content
    # The hold redirect ends the bridge: the caller is back with the wait music.
    assert call.wait_until_redirected(5) == "queued"
    contact.refresh_from_db()
    assert contact.state == "on_hold"
    call.wait_round()  # no callback key is offered while a supporter holds the call
    assert list(call.wait_keys) == ["1"] and call.state == "queued"

    call.on_dial = lambda *a: DialResult("completed", 30)
    response = http.post(f"{url}/connect", {"via": "browser"}, content_type="application/json")
    assert response.json() == {"state": "connecting"}
    assert call.wait_until_redirected(5) == "completed"
    contact.refresh_from_db()
    assert contact.state == "active"
    kinds = _kinds(contact)
    assert kinds.count("call_answered") == 2
    assert "on_hold" in kinds and "resumed" in kinds and "call_on_hold" in kinds
