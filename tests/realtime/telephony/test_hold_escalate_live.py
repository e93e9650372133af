"""Hold and escalation of a phone call against a live server: the held caller hears the
wait music and is connected again on resume; escalated to Kansalaisneuvonta, the caller
waits in the queue once the supporter hangs up and is bridged to the national supporter
who accepts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from channels.db import database_sync_to_async as adb
from django.test import Client as HttpClient
from django.utils import timezone

from helpdesk.models import Contact, Topic
from realtime.telephony.driver import DialResult
from realtime.telephony.models import PhoneCall
from tests.factories import make_provider, make_supporter
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE
from tests.realtime.telephony.test_live import _no_number, _post_json, live_phone  # noqa: F401
from tests.realtime.telephony.test_warm_transfer_live import _console, _until, _walk_twiml

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _people():
    pk = make_provider(regions=["12"], name="Joensuun kirjasto")
    national = make_provider(is_national=True, name="Kansalaisneuvonta")
    skills = list(Topic.objects.values_list("slug", flat=True))
    first = make_supporter(
        providers=[pk], kind="volunteer", presence="available", last_heartbeat=timezone.now(),
        skills=skills,
    )  # fmt: skip
    advisor = make_supporter(providers=[national], kind="staff", presence="away", skills=skills)
    sessions = []
    for who in (first, advisor):
        http = HttpClient()
        http.force_login(who.user)
        sessions.append(http.cookies["sessionid"].value)
    return first, advisor, national, sessions


async def test_hold_resume_and_escalation_end_to_end(live_phone):  # noqa: F811
    first, advisor, national, (first_session, advisor_session) = await adb(_people)()
    server, driver, _stand_in = await asyncio.to_thread(live_phone)
    first_console = await _console(server, first_session)
    advisor_console = await _console(server, advisor_session)
    await first_console.send({"type": "presence.set", "presence": "available"})

    call = driver.call(JOENSUU_LANDLINE, digits=["1", "1"], wait_keys=[])
    hang_up = threading.Event()  # the supporter's side hangs up

    def talk(_kind, _target, _attrs):
        deadline = time.monotonic() + 60
        while not (call.redirect_event.is_set() or hang_up.is_set()):
            if time.monotonic() > deadline:
                raise AssertionError("nobody ended the bridge")
            time.sleep(0.05)
        hang_up.clear()
        return DialResult("completed", 30)

    call.on_dial = talk
    assert await asyncio.to_thread(call.start) == "queued"
    offer = await first_console.wait_for(lambda f: f["type"] == "offer.new", wait=20)
    contact_id = offer["contact"]["id"]
    await first_console.send({"type": "offer.accept", "offer": offer["offer"]})
    await first_console.wait_for(lambda f: f["type"] == "contact.assigned")

    def drive() -> str:
        """Twilio keeps the call going: waiting, redirected, waiting again, until it ends."""
        deadline = time.monotonic() + 120
        while call.state != "completed" and time.monotonic() < deadline:
            call.wait_until_redirected(2.0)
            time.sleep(0.05)
        return call.state

    running = asyncio.create_task(asyncio.to_thread(drive))
    base = f"/telephony/contacts/{contact_id}"

    async def post(path, session, body=None):
        return await asyncio.to_thread(_post_json, server.url, path, session, body or {})

    assert await post(f"{base}/connect", first_session, {"via": "browser"}) == (
        200,
        {"state": "connecting"},
    )
    await _until(lambda: len(call.dialled) == 1 and call.state == "in-progress")

    # Hold: the caller is back with the wait music, the contact on hold.
    assert await post(f"{base}/hold", first_session) == (200, {"state": "on_hold"})
    await first_console.wait_for(lambda f: f["type"] == "contact.state" and f["state"] == "on_hold")
    await _until(lambda: call.state == "queued")
    assert "Your supporter will be back" in call.transcript() or "Tukihenkilösi" in (
        call.transcript()
    )
    contact = await adb(Contact.objects.get)(public_id=contact_id)
    assert contact.state == "on_hold" and contact.supporter_id == first.pk
    phone = await adb(PhoneCall.objects.get)(call_sid=call.sid)
    assert phone.stage == "queued" and phone.bridge_to == ""

    # Resume: connecting again bridges the caller to the same supporter.
    assert (await post(f"{base}/connect", first_session, {"via": "browser"}))[0] == 200
    await first_console.wait_for(lambda f: f["type"] == "contact.state" and f["state"] == "active")
    await _until(lambda: len(call.dialled) == 2 and call.state == "in-progress")
    assert [d[:2] for d in call.dialled] == [("Client", f"supporter-{first.pk}")] * 2

    # Escalation while talking; the supporter hangs up and the caller waits again.
    await first_console.send(
        {"type": "contact.escalate", "contact": contact_id, "note": "Perukirja"}
    )
    await first_console.wait_for(
        lambda f: f["type"] == "contact.state" and f["state"] == "escalated"
    )
    hang_up.set()
    await _until(lambda: call.state == "queued")
    await adb(contact.refresh_from_db)()
    assert contact.state == "escalated" and contact.pinned_provider_id == national.pk

    # Kansalaisneuvonta's advisor takes it and answers on their own phone.
    await advisor_console.send({"type": "presence.set", "presence": "available"})
    offer = await advisor_console.wait_for(lambda f: f["type"] == "offer.new", wait=20)
    assert offer["contact"]["id"] == contact_id
    await advisor_console.send({"type": "offer.accept", "offer": offer["offer"]})
    assigned = await advisor_console.wait_for(lambda f: f["type"] == "contact.assigned")
    assert assigned["contact"]["handover_note"] == "Perukirja"
    status, _body = await post(
        f"{base}/connect", advisor_session, {"via": "phone", "number": "040 765 4321"}
    )
    assert status == 200
    await _until(lambda: len(call.dialled) == 3 and call.state == "in-progress")
    assert call.dialled[2][:2] == ("Number", "+358407654321")
    hang_up.set()
    assert await running == "completed"

    await adb(contact.refresh_from_db)()
    assert contact.state == "active" and contact.supporter_id == advisor.pk
    kinds = await adb(lambda: list(contact.events.values_list("kind", flat=True)))()
    for kind in ("on_hold", "call_on_hold", "resumed", "escalated"):
        assert kinds.count(kind) == 1, kind
    assert kinds.count("call_answered") == 3 and kinds.count("accepted") == 2
    assert "abandoned" not in kinds
    _no_number(first_console.frames)  # the volunteer's; the advisor is staff
    assert "131234567" not in str(advisor_console.frames)  # no callback: nobody has it
    _walk_twiml(driver)
    await first_console.close()
    await advisor_console.close()
