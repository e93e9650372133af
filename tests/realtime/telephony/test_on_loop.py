"""The one-statement webhooks (wait loop, status callbacks) run from the event loop.

As deployed: through the server's ASGI application, the webhook pool on
(PHONE_WEBHOOK_THREADS), the statement on helpdesk/db_async.py's pool. A call
placed that way hears the same TwiML and leaves the same rows and events as
one whose webhooks all run on the pool's threads; forged requests are still
refused before anything runs.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from helpdesk.asgi import application
from helpdesk.models import ContactEvent
from realtime.telephony import runner
from realtime.telephony.driver import CallDriver, Transport, new_call_sid
from realtime.telephony.models import PhoneCall
from tests.factories import make_provider
from tests.realtime.telephony.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MOBILE,
    PLATFORM_NUMBER,
    PUBLIC,
)
from tests.realtime.telephony.test_lean_asgi import _post, _signed

# The webhooks' threads and the loop's pool see committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


class AsgiTransport(Transport):
    """Into the server's ASGI application, on the test's event loop."""

    def post(self, url, params, headers):
        path = url[len(PUBLIC) :]
        status, _, body = async_to_sync(_post)(
            application, path, urlencode(params).encode(), headers
        )
        return status, body.decode()


@pytest.fixture
def deployed(phone_settings, reference_data):
    phone_settings.PHONE_WEBHOOK_THREADS = 4
    phone_settings.PHONE_ANNOUNCE_EVERY_S = 0  # every turn announces: the UPDATE runs
    make_provider(regions=["12"], name="Joensuun kirjasto")
    make_provider(is_national=True, name="Kansalaisneuvonta")
    return phone_settings


@pytest.fixture
def ran_on_threads(monkeypatch):
    """Names of what ran on the webhook pool's threads."""
    names = []
    real = runner.run

    async def recording(fn, *args, **kwargs):
        names.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(runner, "run", recording)
    return names


def _place_call(*, status_first: bool) -> tuple[list, dict]:
    driver = CallDriver(
        public_base_url=PUBLIC,
        auth_token=AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        platform_number=PLATFORM_NUMBER,
        transport=AsgiTransport(),
    )
    call = driver.call(MOBILE, digits=["1", "1"])
    assert call.start() == "queued"
    for _ in range(3):
        call.wait_round()
    if status_first:
        # The final status overtakes the queue's result: the status callback closes the call.
        call.state = "completed"
        driver.status(call, "completed", CallDuration=80)
        call.post(call.enqueue["action"], "action", QueueResult="hangup", QueueTime=30)
    else:
        call.hang_up()
    answers = [(f.url, f.context, f.status, f.body) for f in driver.fetched]
    phone = PhoneCall.objects.select_related("contact").get(call_sid=call.sid)
    row = {
        "stage": phone.stage,
        "status": phone.status,
        "status_rank": phone.status_rank,
        "language": phone.language,
        "topic": phone.topic_slug,
        "queue_time": phone.queue_time_s,
        "ended": phone.ended_at is not None,
        "announced": phone.last_announced_at is not None,
        "contact_state": phone.contact.state,
        "events": sorted(
            ContactEvent.objects.filter(contact=phone.contact).values_list("kind", flat=True)
        ),
    }
    return answers, row


@pytest.mark.parametrize("status_first", [False, True], ids=["queue-result-first", "status-first"])
async def test_loop_and_threads_answer_and_record_the_same(deployed, ran_on_threads, status_first):
    assert runner.on_loop()
    on_loop = await sync_to_async(_place_call)(status_first=status_first)
    loop_threads = list(ran_on_threads)
    ran_on_threads.clear()
    deployed.PHONE_WEBHOOK_ON_LOOP = False
    assert not runner.on_loop()
    on_threads = await sync_to_async(_place_call)(status_first=status_first)
    thread_path_ran = list(ran_on_threads)

    assert on_loop == on_threads
    answers, row = on_loop
    assert all(status in (200, 204) for _, _, status, _ in answers), answers
    assert row["contact_state"] == "abandoned" and row["ended"] and row["announced"]
    assert row["events"].count("call_abandoned") == 1
    # The wait loop and the status callbacks never went to a thread on the loop's path;
    # only closing the call after a final status did.
    assert "wait" in thread_path_ran and "status" in thread_path_ran
    assert "wait" not in loop_threads and "status" not in loop_threads
    expected = ["close_ended_call"] if status_first else []
    assert [n for n in loop_threads if n in ("close_ended_call", "status")] == expected


@pytest.mark.parametrize("path", ["/telephony/voice/wait", "/telephony/voice/status"])
async def test_forged_request_is_refused_on_the_loop_path(deployed, ran_on_threads, path):
    assert runner.on_loop()
    params = {"CallSid": new_call_sid(), "From": MOBILE, "CallStatus": "ringing"}
    status, _, _ = await _post(
        application,
        path,
        urlencode(params).encode(),
        {"X-Twilio-Signature": _signed(path, params, token="wrong")},
    )
    assert status == 403
    unsigned, _, _ = await _post(application, path, urlencode(params).encode())
    assert unsigned == 403
    assert not await PhoneCall.objects.filter(call_sid=params["CallSid"]).aexists()


async def test_unknown_call_in_the_wait_loop_is_a_clear_404_on_the_loop_path(deployed):
    assert runner.on_loop()
    params = {"CallSid": new_call_sid(), "From": MOBILE}
    path = "/telephony/voice/wait"
    status, _, body = await _post(
        application, path, urlencode(params).encode(), {"X-Twilio-Signature": _signed(path, params)}
    )
    assert status == 404
    assert b"Unknown call" in body or b"Tuntematon" in body


async def test_status_first_on_the_loop_path_starts_the_row(deployed):
    params = {"CallSid": new_call_sid(), "From": MOBILE, "CallStatus": "in-progress"}
    path = "/telephony/voice/status"
    status, _, _ = await _post(
        application, path, urlencode(params).encode(), {"X-Twilio-Signature": _signed(path, params)}
    )
    assert status == 204
    phone = await PhoneCall.objects.aget(call_sid=params["CallSid"])
    assert (phone.stage, phone.status, phone.status_rank, phone.duration_s) == (
        "language",
        "in-progress",
        3,
        None,
    )


@pytest.mark.parametrize(
    "fields",
    [{"CallSid": "CA-not-a-sid", "CallStatus": "ringing"}, {"CallStatus": "teleported"}],
    ids=["bad-sid", "unknown-status"],
)
async def test_bad_fields_are_a_clear_400_on_the_loop_path(deployed, ran_on_threads, fields):
    assert runner.on_loop()
    params = {"CallSid": new_call_sid(), "From": MOBILE, **fields}
    path = "/telephony/voice/status"
    status, _, body = await _post(
        application, path, urlencode(params).encode(), {"X-Twilio-Signature": _signed(path, params)}
    )
    assert status == 400 and body.strip()
    assert ran_on_threads == []
    assert not await PhoneCall.objects.filter(call_sid=params["CallSid"]).aexists()
