"""Warm transfer against a live server: the caller and the first supporter meet the
target in a conference, then the first supporter hands over and drops; a target who
declines or never answers leaves the caller with the first supporter."""

from __future__ import annotations

import asyncio
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from channels.db import database_sync_to_async as adb
from django.test import Client as HttpClient
from django.utils import timezone

from helpdesk.models import Assignment, Contact, Topic
from realtime.telephony.models import PhoneCall, WarmTransfer
from tests.factories import make_provider, make_supporter
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE
from tests.realtime.telephony.test_calls import ALLOWED_ATTRIBUTES, ALLOWED_CHILDREN, VOICES
from tests.realtime.telephony.test_live import _no_number, _post_json, live_phone  # noqa: F401
from tests.realtime.test_e2e_two_processes import Peer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _people():
    pk = make_provider(regions=["12"], name="Joensuun kirjasto")
    make_provider(is_national=True)
    skills = list(Topic.objects.values_list("slug", flat=True))
    first = make_supporter(
        providers=[pk],
        kind="volunteer",
        presence="available",
        last_heartbeat=timezone.now(),
        skills=skills,
        display_name="Aino",
    )
    # Away: routing offers the call to the first supporter only.
    target = make_supporter(providers=[pk], kind="volunteer", presence="away", display_name="Eero")
    sessions = []
    for who in (first, target):
        http = HttpClient()
        http.force_login(who.user)
        sessions.append(http.cookies["sessionid"].value)
    return first, target, sessions


async def _console(server, session) -> Peer:
    peer = await Peer.open(
        f"{server.ws_url}/ws/console/", server.url, {"Cookie": f"sessionid={session}"}
    )
    await peer.send({"type": "hello", "contacts": {}})
    await peer.wait_for(lambda f: f["type"] == "welcome")
    return peer


async def _until(predicate, wait: float = 15.0) -> None:
    deadline = time.monotonic() + wait
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def _ask(server, session: str, contact_id, target: dict) -> int:
    """The first supporter asks for a warm transfer; the request is open ("asking")."""
    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/contacts/{contact_id}/warm-transfer", session, target
    )
    assert (status, body["state"]) == (200, "asking"), body
    return body["transfer"]


async def _bridged_call(server, driver, first_console, session):
    """A Joensuu caller, accepted by the first supporter and connected to their softphone."""
    await first_console.send({"type": "presence.set", "presence": "available"})
    call = driver.call(JOENSUU_LANDLINE, digits=["1", "1"])
    call.on_dial = call.talking(60)
    assert await asyncio.to_thread(call.start) == "queued"
    offer = await first_console.wait_for(lambda f: f["type"] == "offer.new", wait=20)
    await first_console.send({"type": "offer.accept", "offer": offer["offer"]})
    await first_console.wait_for(lambda f: f["type"] == "contact.assigned")
    running = asyncio.create_task(asyncio.to_thread(call.wait_until_redirected, 90.0))
    contact_id = offer["contact"]["id"]
    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/contacts/{contact_id}/connect", session, {}
    )
    assert status == 400  # no "via": nothing happens
    status, body = await asyncio.to_thread(
        _post_json,
        server.url,
        f"/telephony/contacts/{contact_id}/connect",
        session,
        {"via": "browser"},
    )
    assert (status, body) == (200, {"state": "connecting"})
    await _until(lambda: any(kind == "Client" for kind, _t, _a in call.dialled))
    return call, running, contact_id


def _walk_twiml(driver) -> int:
    """Every TwiML answer: XML, and only the verbs and attributes Twilio documents."""
    checked = 0
    for fetched in driver.fetched:
        if fetched.context == "status":
            assert fetched.status == 204, (fetched.url, fetched.body)
            continue
        assert fetched.status == 200, (fetched.url, fetched.body)
        root = ET.fromstring(fetched.body)
        assert root.tag == "Response"
        for node in root.iter():
            assert set(node.attrib) <= ALLOWED_ATTRIBUTES[node.tag], (node.tag, node.attrib)
            for child in node:
                assert child.tag in ALLOWED_CHILDREN.get(node.tag, set()), (node.tag, child.tag)
            if node.tag == "Say":
                assert VOICES[node.get("language")] == node.get("voice")
        checked += 1
    return checked


async def test_warm_transfer_hands_the_caller_over_to_the_target(live_phone):  # noqa: F811
    first, target, (first_session, target_session) = await adb(_people)()
    server, driver, stand_in = await asyncio.to_thread(live_phone)
    stand_in.on_placed = lambda placed: placed.answer_in_thread()  # softphones answer
    first_console = await _console(server, first_session)
    target_console = await _console(server, target_session)
    call, running, contact_id = await _bridged_call(server, driver, first_console, first_session)

    transfer_id = await _ask(
        server, first_session, contact_id, {"to_supporter": target.pk, "note": "Pankkitunnukset"}
    )
    asked = await target_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["state"] == "asking"
    )
    assert asked["from_name"] == "Aino" and asked["note"] == "Pankkitunnukset"
    assert asked["contact"] == contact_id and asked["pseudonym"]
    assert not [r for r in stand_in.requests if r[1].endswith("/Calls.json")]  # nobody dialled

    status, body = await asyncio.to_thread(
        _post_json,
        server.url,
        f"/telephony/transfers/{transfer_id}/accept",
        target_session,
        {"via": "browser"},
    )
    assert (status, body["state"]) == (200, "connecting"), body
    await first_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["state"] == "joined", wait=20
    )
    transfer = await adb(WarmTransfer.objects.get)(pk=transfer_id)
    await _until(lambda: len(driver.in_conference(transfer.conference)) == 3)
    placed_to = sorted(p.to_number for p in stand_in.placed)
    assert placed_to == [f"client:supporter-{first.pk}", f"client:supporter-{target.pk}"]
    assert all(p.from_number == driver.platform_number for p in stand_in.placed)

    # Only the first supporter hands over.
    status, _body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{transfer_id}/complete", target_session, {}
    )
    assert status == 403
    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{transfer_id}/complete", first_session, {}
    )
    assert (status, body["state"]) == (200, "handed_over"), body
    assigned = await target_console.wait_for(
        lambda f: f["type"] == "contact.assigned" and f["contact"]["id"] == contact_id
    )
    assert assigned["contact"]["channel"] == "phone"
    await first_console.wait_for(
        lambda f: f["type"] == "contact.state" and f["state"] == "transferred"
    )
    host = next(p for p in stand_in.placed if p.to_number.endswith(f"-{first.pk}"))
    await _until(lambda: host.state == "completed")
    target_leg = next(p for p in stand_in.placed if p is not host)
    await _until(lambda: driver.in_conference(transfer.conference) == {call.sid, target_leg.sid})
    assert call.state == "in-progress"  # the caller stays on, with the target

    contact = await adb(Contact.objects.get)(public_id=contact_id)
    assert contact.state == "active" and contact.supporter_id == target.pk
    rows = await adb(lambda: list(Assignment.objects.filter(contact=contact).order_by("pk")))()
    assert [(a.supporter_id, a.ended_at is None) for a in rows] == [
        (first.pk, False),
        (target.pk, True),
    ]
    phone = await adb(PhoneCall.objects.get)(call_sid=call.sid)
    assert phone.supporter_id == target.pk
    kinds = await adb(lambda: list(contact.events.values_list("kind", flat=True)))()
    for kind in (
        "accepted",
        "call_answered",
        "warm_transfer_asked",
        "warm_transfer_accepted",
        "warm_transfer_joined",
        "transferred",
        "picked",
        "warm_transfer_handed_over",
    ):
        assert kind in kinds, kind
    assert "abandoned" not in kinds and kinds.count("transferred") == 1

    # The target escalates to Kansalaisneuvonta and hangs up, as a softphone does on
    # "escalated": the caller leaves the conference for the queue, in the same place.
    escalate = {"type": "contact.escalate", "contact": contact_id, "note": "Perukirja"}
    await target_console.send(escalate)
    await target_console.wait_for(
        lambda f: f["type"] == "contact.state" and f["state"] == "escalated"
    )
    await asyncio.to_thread(target_leg.hang_up)
    assert await running == "queued"
    await _until(lambda: not driver.in_conference(transfer.conference))
    phone = await adb(PhoneCall.objects.get)(call_sid=call.sid)
    assert phone.stage == "queued" and phone.bridge_to == ""
    await adb(contact.refresh_from_db)()
    assert contact.state == "escalated"
    await asyncio.to_thread(call.wait_round)  # the wait music again
    await asyncio.to_thread(call.hang_up)
    await _until(lambda: all(p.state == "completed" for p in stand_in.placed))
    await adb(contact.refresh_from_db)()
    assert contact.state == "abandoned"  # hung up while waiting for Kansalaisneuvonta
    _no_number(first_console.frames + target_console.frames)
    assert _walk_twiml(driver) >= 8
    await first_console.close()
    await target_console.close()


async def test_a_declining_or_silent_target_leaves_the_caller_with_the_first_supporter(
    live_phone,  # noqa: F811
):
    first, target, (first_session, target_session) = await adb(_people)()
    server, driver, stand_in = await asyncio.to_thread(live_phone)
    first_console = await _console(server, first_session)
    target_console = await _console(server, target_session)
    call, running, contact_id = await _bridged_call(server, driver, first_console, first_session)
    path = f"/telephony/contacts/{contact_id}/warm-transfer"

    # 1. The target declines in the console: the call is never touched.
    status, body = await asyncio.to_thread(
        _post_json, server.url, path, first_session, {"to_supporter": target.pk}
    )
    assert status == 200, body
    declined_id = body["transfer"]
    status, body = await asyncio.to_thread(
        _post_json, server.url, path, first_session, {"to_supporter": target.pk}
    )
    assert status == 409  # one transfer at a time
    await target_console.wait_for(lambda f: f["type"] == "phone.transfer")
    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{declined_id}/decline", target_session, {}
    )
    assert (status, body["state"]) == (200, "declined")
    await first_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["state"] == "declined"
    )
    status, _body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{declined_id}/accept", target_session,
        {"via": "browser"},
    )  # fmt: skip
    assert status == 409
    assert [k for k, _t, _a in call.dialled] == ["Client"] and call.state == "in-progress"
    assert stand_in.placed == []

    # 2. The target accepts but their phone never answers: the caller and the
    # first supporter, already in the conference, talk on.
    def answer(placed):
        if placed.answer_url.endswith("/host"):
            placed.answer_in_thread()
        else:
            threading.Thread(target=placed.not_answered, daemon=True).start()

    stand_in.on_placed = answer
    status, body = await asyncio.to_thread(
        _post_json, server.url, path, first_session, {"to_supporter": target.pk}
    )
    silent_id = body["transfer"]
    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{silent_id}/accept", target_session,
        {"via": "phone", "number": "040 111 2222"},
    )  # fmt: skip
    assert (status, body["state"]) == (200, "connecting"), body
    gone = await first_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["transfer"] == silent_id
        and f["state"] == "declined",
        wait=20,
    )  # fmt: skip
    assert gone["reason"] == "not_answered"
    transfer = await adb(WarmTransfer.objects.get)(pk=silent_id)
    host = next(p for p in stand_in.placed if p.answer_url.endswith("/host"))
    await _until(lambda: driver.in_conference(transfer.conference) == {call.sid, host.sid})
    contact = await adb(Contact.objects.get)(public_id=contact_id)
    assert contact.state == "active" and contact.supporter_id == first.pk
    kinds = await adb(lambda: list(contact.events.values_list("kind", flat=True)))()
    assert "transferred" not in kinds and "warm_transfer_declined" in kinds
    assert "warm_transfer_target_gone" in kinds

    # 3. The first supporter hangs up: the caller hears goodbye, as after any call.
    await asyncio.to_thread(host.hang_up)
    assert await running == "completed"
    phone = await adb(PhoneCall.objects.get)(call_sid=call.sid)
    assert phone.stage == "done" and phone.bridge_to == ""
    await adb(contact.refresh_from_db)()
    assert contact.state == "active" and contact.supporter_id == first.pk
    _no_number(first_console.frames + target_console.frames)
    assert "401112222" not in str(first_console.frames)
    _walk_twiml(driver)
    await first_console.close()
    await target_console.close()
