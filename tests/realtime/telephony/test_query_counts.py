"""SQL statements per voice webhook, pinned: the wait loop and status callbacks stay one each.

At 200 webhooks a second every statement counts (bench/twilio_webhook_cost.py
prints the same figures with the CPU each kind costs). A change that adds
statements to a webhook fails here and must say why it needs them.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from helpdesk.models import Contact
from realtime.telephony.driver import DjangoTransport
from tests.factories import make_provider
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE, MOBILE, PUBLIC

pytestmark = pytest.mark.django_db

# The most each kind may run once the menus and caches are warm (BEGIN,
# SAVEPOINT and COMMIT count too). The two that matter most are exact.
EXACT = {
    "wait": 1,
    "status:ringing": 1,  # one upsert, also when it is the call's first request
    "status:completed": 1,  # after the queue's hang-up closed the call
    # The hang-up: the call's row, the contact, routing's abandon in one statement
    # (routing/lean_abandon.py) and the call's event, within a savepoint.
    "queue-done": 7,
}
AT_MOST = {
    "incoming": 2,
    "menu/language": 4,
    "menu/region": 4,
    "menu/topic": 12,  # the answer that queues the call: routing's enqueue
}


@pytest.fixture
def counted(driver):
    counts: dict[str, list[int]] = defaultdict(list)
    inner = DjangoTransport(PUBLIC)

    class Counting(DjangoTransport):
        def post(self, url, params, headers):
            path = url.split("/telephony/voice/", 1)[1]
            kind = f"status:{params['CallStatus']}" if path == "status" else path
            with CaptureQueriesContext(connection) as captured:
                result = inner.post(url, params, headers)
            counts[kind].append(len(captured.captured_queries))
            return result

    driver.transport = Counting(PUBLIC, inner.client)
    return counts


def _call(driver, number: str, *, rounds: int = 3) -> None:
    call = driver.call(number, digits=["1", "1"])
    assert call.start() == "queued"
    for _ in range(rounds):
        call.wait_round()
    call.hang_up()


def test_statements_per_webhook_stay_pinned(reference_data, driver, counted, phone_settings):
    phone_settings.PHONE_ANNOUNCE_EVERY_S = 0  # every turn announces: the update runs each time
    make_provider(regions=["12"], name="Joensuun kirjasto")
    make_provider(is_national=True, name="Kansalaisneuvonta")
    _call(driver, JOENSUU_LANDLINE)  # fills the menu and opening caches
    _call(driver, MOBILE)
    counted.clear()
    _call(driver, JOENSUU_LANDLINE)
    _call(driver, MOBILE)
    seen = {kind: max(values) for kind, values in counted.items()}
    assert set(seen) == set(EXACT) | set(AT_MOST), seen
    for kind, expected in EXACT.items():
        assert seen[kind] == expected, (kind, seen)
    for kind, most in AT_MOST.items():
        assert seen[kind] <= most, (kind, seen)
    # The calls were really queued and then abandoned by the hang-up.
    assert Contact.objects.filter(channel="phone", state="abandoned").count() == 4
