"""Calls through the menus into routing, in-process (Django test client as Twilio's transport)."""

from __future__ import annotations

import pytest

from helpdesk.models import Contact, ContactEvent
from realtime.telephony.models import PhoneCall
from tests.factories import make_provider
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE, MOBILE

pytestmark = pytest.mark.django_db


@pytest.fixture
def network(reference_data):
    return {
        "pk": make_provider(regions=["12"], name="Joensuun kirjasto"),
        "national": make_provider(is_national=True, name="Kansalaisneuvonta"),
    }


def test_joensuu_caller_choosing_finnish_is_queued_in_pohjois_karjala(driver, network):
    call = driver.call(JOENSUU_LANDLINE, digits=["1", "1"])
    assert call.start() == "queued"
    contact = Contact.objects.get(phone_calls__call_sid=call.sid)
    assert contact.channel == "phone"
    assert contact.language == "fi"
    assert contact.region.code == "12"
    assert contact.callback_number == ""
    assert any(lang == "fi-FI" for _t, lang, _v in call.said)


def test_caller_pressing_nothing_reaches_national_queue(driver, network):
    call = driver.call(MOBILE)
    assert call.start() == "queued"
    contact = Contact.objects.get(phone_calls__call_sid=call.sid)
    assert contact.region is None
    assert contact.workflow.is_national_first_line
    phone = PhoneCall.objects.get(call_sid=call.sid)
    assert phone.region_code == ""
    kinds = list(ContactEvent.objects.filter(contact=contact).values_list("kind", flat=True))
    assert kinds[:2] == ["created", "queued"]


def test_the_caller_hears_each_language_in_its_own_voice(driver, network):
    call = driver.call(MOBILE, digits=["2"])
    call.start()
    said = {(text, lang, voice) for text, lang, voice in call.said}
    assert ("Palvelu suomeksi, paina 1.", "fi-FI", "Polly.Suvi-Neural") in said
    assert ("För service på svenska, tryck 2.", "sv-SE", "Polly.Elin-Neural") in said
    assert ("For service in English, press 3.", "en-GB", "Polly.Amy-Neural") in said
    # After choosing Swedish, the rest is in Swedish.
    assert any(text.startswith("Tack.") and lang == "sv-SE" for text, lang, _v in call.said)


@pytest.mark.parametrize(("every_s", "expected"), [(60, 1), (0, 3)])
def test_position_is_announced_now_and_then(driver, network, phone_settings, every_s, expected):
    phone_settings.PHONE_ANNOUNCE_EVERY_S = every_s
    call = driver.call(MOBILE, digits=["1"])
    call.start()
    Contact.objects.filter(phone_calls__call_sid=call.sid).update(
        last_position=2, last_estimated_wait_s=240
    )
    for _ in range(3):
        call.wait_round()
    heard = call.transcript()
    assert heard.count("Olet jonossa sijalla 2.") == expected
    assert heard.count("Arvioitu odotusaika on noin 4 minuuttia.") == expected
