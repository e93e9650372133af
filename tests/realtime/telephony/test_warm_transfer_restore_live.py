"""Warm transfer against a live server, the loose ends: a request whose caller hangs up
is withdrawn (the asked supporters are told, accepting says why it cannot), and a
reloaded console reads the open transfers back from /telephony/transfers."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import urllib.request

import pytest
from channels.db import database_sync_to_async as adb
from django.utils import timezone

from helpdesk.models import Contact
from realtime.telephony.models import WarmTransfer
from tests.factories import make_provider, make_supporter
from tests.realtime.telephony.test_live import _no_number, _post_json, live_phone  # noqa: F401
from tests.realtime.telephony.test_warm_transfer_live import _ask, _bridged_call, _console, _people

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _get_json(server_url: str, path: str, session: str) -> tuple[int, dict]:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    request = urllib.request.Request(
        f"{server_url}{path}", headers={"Cookie": f"sessionid={session}"}
    )
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _colleague(first):
    """An available colleague of the same provider: asked when the provider is."""
    provider = first.providers.first()
    return make_supporter(
        providers=[provider.pk],
        kind="volunteer",
        presence="available",
        last_heartbeat=timezone.now(),
        display_name="Kaisa",
    ), provider


async def test_a_request_whose_caller_hangs_up_is_withdrawn(live_phone):  # noqa: F811
    first, target, (first_session, target_session) = await adb(_people)()
    server, driver, _stand_in = await asyncio.to_thread(live_phone)
    first_console = await _console(server, first_session)
    target_console = await _console(server, target_session)
    call, running, contact_id = await _bridged_call(server, driver, first_console, first_session)

    transfer_id = await _ask(
        server, first_session, contact_id, {"to_supporter": target.pk, "note": "Kela-lomake"}
    )
    await target_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["state"] == "asking"
    )

    # The caller hangs up before the target answers.
    await asyncio.to_thread(call.hang_up)
    call.redirect_event.set()  # the stand-in's talk ends with the call
    told = await target_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["transfer"] == transfer_id
        and f["state"] != "asking",
        wait=20,
    )  # fmt: skip
    assert (told["state"], told["reason"]) == ("cancelled", "caller_gone")
    mine = await first_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["transfer"] == transfer_id
        and f["state"] != "asking",
        wait=20,
    )  # fmt: skip
    assert (mine["state"], mine["reason"]) == ("cancelled", "caller_gone")

    # Accepting (or declining) the stale request says why it cannot, and dials nobody.
    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{transfer_id}/accept", target_session,
        {"via": "browser"},
    )  # fmt: skip
    assert status == 409 and "Soittaja sulki puhelun" in body["detail"], body
    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{transfer_id}/decline", target_session, {}
    )
    assert status == 409 and "Soittaja sulki puhelun" in body["detail"], body
    assert _stand_in.placed == []
    for session in (first_session, target_session):
        status, body = await asyncio.to_thread(
            _get_json, server.url, "/telephony/transfers", session
        )
        assert (status, body) == (200, {"transfers": []})

    transfer = await adb(WarmTransfer.objects.get)(pk=transfer_id)
    assert (transfer.state, transfer.reason) == ("cancelled", "caller_gone")
    contact = await adb(Contact.objects.get)(public_id=contact_id)
    kinds = await adb(lambda: list(contact.events.values_list("kind", flat=True)))()
    assert kinds.count("warm_transfer_withdrawn") == 1
    assert "warm_transfer_accepted" not in kinds
    # A repeated status callback withdraws nothing twice.
    await asyncio.to_thread(driver.status, call, "completed", CallDuration=5)
    kinds = await adb(lambda: list(contact.events.values_list("kind", flat=True)))()
    assert kinds.count("warm_transfer_withdrawn") == 1
    _no_number(first_console.frames + target_console.frames)
    await asyncio.wait_for(running, 30)
    await first_console.close()
    await target_console.close()


async def test_a_reloaded_console_reads_its_open_transfers_back(live_phone):  # noqa: F811
    first, target, (first_session, target_session) = await adb(_people)()
    server, driver, stand_in = await asyncio.to_thread(live_phone)
    stand_in.on_placed = lambda placed: placed.answer_in_thread()
    first_console = await _console(server, first_session)
    call, running, contact_id = await _bridged_call(server, driver, first_console, first_session)
    colleague, provider = await adb(_colleague)(first)
    colleague_session = await adb(_session_of)(colleague)
    outsider_session = await adb(_session_of)(await adb(_outsider)())

    transfer_id = await _ask(
        server, first_session, contact_id, {"to_provider": provider.pk, "note": "Verokortti"}
    )

    async def read(session):
        status, body = await asyncio.to_thread(
            _get_json, server.url, "/telephony/transfers", session
        )
        assert status == 200, body
        return body["transfers"]

    (asking,) = await read(first_session)
    assert asking == {
        "type": "phone.transfer",
        "transfer": transfer_id,
        "contact": contact_id,
        "state": "asking",
        "reason": "",
        "role": "from",
    }
    (asked,) = await read(colleague_session)
    assert asked["role"] == "asked" and asked["state"] == "asking"
    assert asked["from_name"] == "Aino" and asked["note"] == "Verokortti"
    assert asked["pseudonym"] and asked["contact"] == contact_id
    assert await read(target_session) == []  # away when asked: never sent the request
    assert await read(outsider_session) == []  # another provider's supporter

    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{transfer_id}/accept", colleague_session,
        {"via": "browser"},
    )  # fmt: skip
    assert (status, body["state"]) == (200, "connecting"), body
    await first_console.wait_for(
        lambda f: f["type"] == "phone.transfer" and f["state"] == "joined", wait=20
    )
    assert [t["state"] for t in await read(first_session)] == ["joined"]
    (joined,) = await read(colleague_session)
    assert (joined["role"], joined["state"]) == ("asked", "joined")
    _no_number([asking, asked, joined])

    status, body = await asyncio.to_thread(
        _post_json, server.url, f"/telephony/transfers/{transfer_id}/complete", first_session, {}
    )
    assert (status, body["state"]) == (200, "handed_over"), body
    assert await read(first_session) == [] and await read(colleague_session) == []
    status, _body = await asyncio.to_thread(
        _post_json, server.url, "/telephony/transfers", first_session, {}
    )
    assert status == 405
    await asyncio.to_thread(call.hang_up)
    call.redirect_event.set()
    await asyncio.wait_for(running, 30)
    await first_console.close()


def _outsider():
    """An available supporter of another provider: never asked."""
    other = make_provider(regions=["07"], name="Muu kirjasto")
    return make_supporter(providers=[other], kind="volunteer", presence="available")


def _session_of(supporter) -> str:
    from django.test import Client as HttpClient

    client = HttpClient()
    client.force_login(supporter.user)
    return client.cookies["sessionid"].value
