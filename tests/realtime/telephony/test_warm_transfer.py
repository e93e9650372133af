"""Warm transfer in-process: who may ask, answer, hand over or cancel, bad input, and
what the platform asks of Twilio when the target accepts (the REST stand-in records it)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from helpdesk.models import Contact
from realtime.telephony import client as twilio_client
from realtime.telephony.driver import StandInHttpClient, TwilioStandIn
from realtime.telephony.models import PhoneCall, Stage, TransferState, WarmTransfer
from routing import services as routing
from tests.factories import make_provider, make_supporter
from tests.realtime.telephony.conftest import JOENSUU_LANDLINE, PLATFORM_NUMBER, PUBLIC

pytestmark = pytest.mark.django_db


@pytest.fixture
def talking(driver, stand_in, reference_data):
    """A Joensuu caller connected to the first supporter's softphone."""
    pk = make_provider(regions=["12"], name="Joensuun kirjasto")
    make_provider(is_national=True)
    first = make_supporter(
        providers=[pk], kind="volunteer", presence="available", last_heartbeat=timezone.now()
    )
    target = make_supporter(providers=[pk], kind="volunteer", presence="away")
    call = driver.call(JOENSUU_LANDLINE, digits=["1"])
    call.start()
    contact = Contact.objects.get(phone_calls__call_sid=call.sid)
    routing.dispatch()
    routing.accept_offer(offer_id=contact.offers.get().pk, supporter=first)
    PhoneCall.objects.filter(call_sid=call.sid).update(
        stage=Stage.BRIDGED, bridge_to=f"client:supporter-{first.pk}", supporter=first
    )
    return {"pk": pk, "first": first, "target": target, "call": call, "contact": contact}


def _http(supporter) -> Client:
    http = Client()
    http.force_login(supporter.user)
    return http


def _ask(http, contact, body):
    return http.post(
        f"/telephony/contacts/{contact.public_id}/warm-transfer",
        body,
        content_type="application/json",
    )


def _act(http, transfer_id, action, body=None):
    return http.post(
        f"/telephony/transfers/{transfer_id}/{action}", body or {}, content_type="application/json"
    )


def test_asking_needs_a_connected_call_and_one_valid_target(talking, stand_in):
    first, target, contact = talking["first"], talking["target"], talking["contact"]
    http = _http(first)
    no_phone = make_provider(regions=["07"], channels=["chat"])
    for body, status in (
        ("[]", 400),
        ("{", 400),
        ({}, 400),
        ({"to_supporter": target.pk, "to_provider": talking["pk"].pk}, 400),
        ({"to_supporter": first.pk}, 400),
        ({"to_supporter": "x"}, 404),
        ({"to_supporter": True}, 404),
        ({"to_supporter": 10**20}, 404),
        ({"to_provider": no_phone.pk}, 400),
        ({"to_supporter": target.pk, "note": "x" * 501}, 400),
        ({"to_supporter": target.pk, "note": ["x"]}, 400),
    ):
        response = _ask(http, contact, body)
        assert response.status_code == status, (body, response.content)
    # Someone not serving the contact may not ask.
    assert _ask(_http(target), contact, {"to_supporter": first.pk}).status_code == 403
    # Not connected (waiting for the supporter to answer): nothing to transfer warm.
    PhoneCall.objects.filter(call_sid=talking["call"].sid).update(stage=Stage.QUEUED)
    assert _ask(http, contact, {"to_supporter": target.pk}).status_code == 409
    assert not WarmTransfer.objects.exists()
    assert stand_in.requests == []


def test_only_the_asked_answer_and_only_the_asker_hands_over(talking, stand_in):
    first, target, contact = talking["first"], talking["target"], talking["contact"]
    stranger = make_supporter(providers=[talking["pk"]])
    response = _ask(_http(first), contact, {"to_supporter": target.pk, "note": "Kela"})
    assert response.status_code == 200, response.content
    transfer_id = response.json()["transfer"]
    assert response.json()["state"] == "asking"
    assert _ask(_http(first), contact, {"to_supporter": target.pk}).status_code == 409

    assert _act(_http(stranger), transfer_id, "accept", {"via": "browser"}).status_code == 403
    assert _act(_http(first), transfer_id, "accept", {"via": "browser"}).status_code == 403
    assert _act(_http(first), transfer_id, "decline").status_code == 403
    assert _act(_http(target), transfer_id, "cancel").status_code == 403
    assert _act(_http(first), transfer_id, "complete").status_code == 409  # not joined yet
    assert _act(_http(first), transfer_id, "shout").status_code == 404
    assert _act(_http(first), 999999, "cancel").status_code == 404
    assert _act(_http(target), transfer_id, "accept", {"via": "fax"}).status_code == 400
    assert _act(_http(target), transfer_id, "accept", "[1]").status_code == 400
    assert stand_in.requests == []  # nothing reached Twilio

    assert _act(_http(first), transfer_id, "cancel").json()["state"] == "cancelled"
    assert _act(_http(target), transfer_id, "accept", {"via": "browser"}).status_code == 409
    contact.refresh_from_db()
    assert contact.supporter_id == first.pk and contact.state == "active"
    kinds = list(contact.events.values_list("kind", flat=True))
    assert "warm_transfer_asked" in kinds and "warm_transfer_cancelled" in kinds


def test_accepting_moves_the_caller_and_dials_both_supporters(talking, stand_in):
    first, target, contact, call = (
        talking["first"], talking["target"], talking["contact"], talking["call"],
    )  # fmt: skip
    # Asked through the provider: any available supporter of it may take the call.
    target.presence = "available"
    target.save()
    transfer_id = _ask(_http(first), contact, {"to_provider": talking["pk"].pk}).json()["transfer"]
    response = _act(_http(target), transfer_id, "accept", {"via": "phone", "number": "040 1112222"})
    assert response.status_code == 200, response.content
    transfer = WarmTransfer.objects.get(pk=transfer_id)
    assert transfer.state == TransferState.CONNECTING and transfer.to_supporter_id == target.pk
    assert transfer.conference.startswith("transfer-") and "358" not in transfer.conference
    phone = PhoneCall.objects.get(call_sid=call.sid)
    assert phone.bridge_to == f"conference:{transfer.conference}"
    redirect, *dials = [data for _m, _path, data in stand_in.requests]
    assert redirect["Url"] == f"{PUBLIC}/telephony/voice/transfer/{transfer_id}/caller"
    assert [(d["To"], d["From"]) for d in dials] == [
        (f"client:supporter-{first.pk}", PLATFORM_NUMBER),
        ("+358401112222", PLATFORM_NUMBER),
    ]
    assert (
        dials[1]["StatusCallback"] == f"{PUBLIC}/telephony/voice/transfer/{transfer_id}/leg/target"
    )
    assert transfer.host_sid and transfer.target_sid  # from Twilio's answers


def test_twilio_unreachable_on_accept_leaves_the_call_as_it_was(talking, stand_in):
    first, target, contact, call = (
        talking["first"], talking["target"], talking["contact"], talking["call"],
    )  # fmt: skip
    transfer_id = _ask(_http(first), contact, {"to_supporter": target.pk}).json()["transfer"]
    twilio_client.http_client_override = StandInHttpClient(TwilioStandIn(account_sid="ACnone"))
    response = _act(_http(target), transfer_id, "accept", {"via": "browser"})
    assert response.status_code == 503
    assert WarmTransfer.objects.get(pk=transfer_id).state == TransferState.CANCELLED
    phone = PhoneCall.objects.get(call_sid=call.sid)
    assert phone.bridge_to == f"client:supporter-{first.pk}" and phone.stage == Stage.BRIDGED


class _NoOutgoingCalls(TwilioStandIn):
    """Redirects work, placing a call fails (as when Twilio refuses the target)."""

    def _create(self, data):
        return 500, {"code": 20500, "message": "internal error", "status": 500}


def test_a_caller_moved_before_the_dial_failed_goes_back_to_the_supporter(talking, driver):
    first, target, contact, call = (
        talking["first"], talking["target"], talking["contact"], talking["call"],
    )  # fmt: skip
    transfer_id = _ask(_http(first), contact, {"to_supporter": target.pk}).json()["transfer"]
    twilio_client.http_client_override = StandInHttpClient(_NoOutgoingCalls(driver))
    response = _act(_http(target), transfer_id, "accept", {"via": "browser"})
    assert response.status_code == 503
    assert WarmTransfer.objects.get(pk=transfer_id).state == TransferState.CANCELLED
    # The caller was already redirected: they reach the first supporter again.
    assert call.pending_redirect.endswith(f"/transfer/{transfer_id}/caller")
    call.wait_until_redirected(5)
    assert call.dialled[-1][:2] == ("Client", f"supporter-{first.pk}")
    assert not [d for d in call.dialled if d[0] == "Conference"]
