"""Calls against a live uvicorn server: the driver speaks HTTP as Twilio does, the
platform's REST calls reach a local stand-in (TWILIO_API_BASE_URL), and the
supporter is a console over a real WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import urllib.request

import pytest
from channels.db import database_sync_to_async as adb
from django.test import Client as HttpClient
from django.utils import timezone

from helpdesk.models import Contact, ContactEvent, Topic
from realtime.telephony.driver import DialResult
from realtime.telephony.models import PhoneCall
from tests.factories import make_provider, make_supporter
from tests.realtime.telephony.conftest import (
    JOENSUU_LANDLINE,
    MOBILE,
    PHONE_ENV,
    PLATFORM_NUMBER,
    PUBLIC,
    live_phone_server,
)
from tests.realtime.test_e2e_two_processes import Peer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NUMBER_DIGITS = ("131234567", "401234567")


def _no_number(frames) -> None:
    text = json.dumps(frames)
    for digits in NUMBER_DIGITS:
        assert digits not in text
    assert "callback_number" not in text


def _post_json(server_url: str, path: str, session: str, body: dict) -> tuple[int, dict]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    cookie = f"sessionid={session}"
    opener.open(urllib.request.Request(f"{server_url}/console/", headers={"Cookie": cookie}))
    token = next(c.value for c in jar if c.name == "csrftoken")
    request = urllib.request.Request(
        f"{server_url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Cookie": f"{cookie}; csrftoken={token}",
            "X-CSRFToken": token,
            "Content-Type": "application/json",
        },
    )
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def live_phone(asgi_servers):
    """Starts, when called, a server with the phone channel on, the REST stand-in and a
    driver speaking HTTP: (server, driver, stand_in); all stopped after the test."""
    with contextlib.ExitStack() as started:
        yield lambda: started.enter_context(live_phone_server(asgi_servers))


async def test_joensuu_caller_is_bridged_to_the_supporter_who_accepted(live_phone):
    def setup():
        pk = make_provider(regions=["12"], name="Joensuun kirjasto")
        make_provider(is_national=True)
        supporter = make_supporter(
            providers=[pk],
            kind="volunteer",
            presence="available",
            last_heartbeat=timezone.now(),
            skills=list(Topic.objects.values_list("slug", flat=True)),
        )
        http = HttpClient()
        http.force_login(supporter.user)
        return supporter, http.cookies["sessionid"].value

    supporter, session = await adb(setup)()
    server, driver, stand_in = await asyncio.to_thread(live_phone)
    console = await Peer.open(
        f"{server.ws_url}/ws/console/", server.url, {"Cookie": f"sessionid={session}"}
    )
    await console.send({"type": "hello", "contacts": {}})
    await console.wait_for(lambda f: f["type"] == "welcome")
    await console.send({"type": "presence.set", "presence": "available"})

    call = driver.call(
        JOENSUU_LANDLINE, digits=["1", "1"], on_dial=lambda *a: DialResult("completed", 80)
    )
    assert await asyncio.to_thread(call.start) == "queued"
    contact = await adb(Contact.objects.select_related("region").get)(
        phone_calls__call_sid=call.sid
    )
    assert contact.region.code == "12" and contact.language == "fi"

    offer = await console.wait_for(lambda f: f["type"] == "offer.new", wait=20)
    assert offer["contact"]["channel"] == "phone"
    assert offer["contact"]["id"] == str(contact.public_id)
    await console.send({"type": "offer.accept", "offer": offer["offer"]})
    await console.wait_for(lambda f: f["type"] == "contact.assigned")

    waiting = asyncio.create_task(asyncio.to_thread(call.wait_until_redirected, 30.0))
    status, body = await asyncio.to_thread(
        _post_json,
        server.url,
        f"/telephony/contacts/{contact.public_id}/connect",
        session,
        {"via": "browser"},
    )
    assert (status, body) == (200, {"state": "connecting"})
    assert await waiting == "completed"
    assert call.dialled[0][:2] == ("Client", f"supporter-{supporter.pk}")
    assert call.dialled[0][2]["callerId"] == PLATFORM_NUMBER
    await console.wait_for(lambda f: f["type"] == "phone.call" and f["call"] == "ended")

    phone = await adb(PhoneCall.objects.get)(call_sid=call.sid)
    assert phone.talk_s == 80 and phone.status == "completed"
    kinds = await adb(lambda: list(contact.events.values_list("kind", flat=True)))()
    for kind in ("created", "queued", "offered", "accepted", "call_answered", "call_talk_time"):
        assert kind in kinds
    _no_number(console.frames)
    assert all(f.status in (200, 204) for f in driver.fetched)
    await console.close()


async def test_silent_caller_reaches_the_national_queue_and_hanging_up_abandons(live_phone):
    await adb(lambda: (make_provider(regions=["12"]), make_provider(is_national=True)))()
    server, driver, _stand_in = await asyncio.to_thread(live_phone)
    call = driver.call(MOBILE)
    assert await asyncio.to_thread(call.start) == "queued"
    contact = await adb(Contact.objects.select_related("workflow").get)(
        phone_calls__call_sid=call.sid
    )
    assert contact.region_id is None and contact.workflow.is_national_first_line
    await asyncio.to_thread(call.wait_round)
    await asyncio.to_thread(call.hang_up)
    await adb(contact.refresh_from_db)()
    assert contact.state == "abandoned"
    abandoned = await adb(ContactEvent.objects.get)(contact=contact, kind="call_abandoned")
    assert abandoned.data["waited_s"] >= 0
    phone = await adb(PhoneCall.objects.get)(call_sid=call.sid)
    assert phone.queue_time_s is not None and phone.status == "completed"


async def test_out_of_hours_callback_keeps_priority_and_reordered_callbacks_agree(live_phone):
    from datetime import time as clock
    from datetime import timedelta

    from helpdesk.models import OpeningHours
    from routing.availability import HELSINKI
    from routing.services import CALLBACK_PRIORITY

    def closed_network():
        tomorrow = (timezone.now().astimezone(HELSINKI) + timedelta(days=1)).weekday()
        for provider in (
            make_provider(regions=["12"], always_open=False),
            make_provider(is_national=True, always_open=False),
        ):
            OpeningHours.objects.create(
                provider=provider, weekday=tomorrow, opens=clock(9), closes=clock(15)
            )

    await adb(closed_network)()
    server, driver, _stand_in = await asyncio.to_thread(live_phone)
    call = driver.call(JOENSUU_LANDLINE, digits=["1", None, None, "1"])
    assert await asyncio.to_thread(call.start) == "completed"
    assert "09:00" in call.transcript()
    contact = await adb(Contact.objects.get)(phone_calls__call_sid=call.sid)
    assert contact.state == "waiting" and contact.is_callback
    assert contact.priority == CALLBACK_PRIORITY

    # The same call's final callbacks again, repeated and in another order.
    for status in ("completed", "in-progress", "ringing", "completed"):
        fetched = await asyncio.to_thread(driver.status, call, status, CallDuration=33)
        assert fetched.status == 204
    await adb(contact.refresh_from_db)()
    assert contact.state == "waiting" and contact.priority == CALLBACK_PRIORITY
    phone = await adb(PhoneCall.objects.get)(call_sid=call.sid)
    assert phone.status == "completed" and phone.stage == "callback"
    kinds = await adb(lambda: list(contact.events.values_list("kind", flat=True)))()
    assert kinds.count("callback_requested") == 1 and "abandoned" not in kinds


def test_simulate_call_command_places_a_call_against_a_running_server(
    asgi_servers, reference_data, settings
):
    import io

    from django.core.management import call_command

    from tests.conftest import free_port

    make_provider(regions=["12"])
    make_provider(is_national=True)
    (server,) = asgi_servers(1, **PHONE_ENV)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"):
        setattr(settings, name, PHONE_ENV[name])
    out = io.StringIO()
    call_command(
        "simulate_call",
        url=server.url,
        public_url=PUBLIC,
        from_number=JOENSUU_LANDLINE,
        digits="1",
        wait=1.0,
        rest_port=free_port(),
        stdout=out,
    )
    text = out.getvalue()
    assert "waiting in the queue" in text and "over:" in text
    contact = Contact.objects.get()
    assert contact.channel == "phone" and contact.region.code == "12"
    assert contact.state == "abandoned"  # nobody answered within --wait
