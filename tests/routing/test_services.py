"""routing.services: every transition, its ContactEvents and its published events.

The `network` fixture (three regional providers, Kansalaisneuvonta and their
supporters) and the `events` capture are also used by the other routing
test modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from helpdesk.models import (
    Assignment,
    Contact,
    ContactEvent,
    ExceptionDate,
    Message,
    Offer,
    OpeningHours,
    Provider,
    Supporter,
)
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from realtime import events as realtime_events
from routing import services
from routing.availability import HELSINKI
from routing.models import ClosedNotice, Workflow
from routing.workflows import ensure_default_workflows
from tests.factories import make_provider, make_supporter

HELSINKI_CODE = "091"  # Uusimaa (01), development area porvoo
JOENSUU_CODE = "167"  # Pohjois-Karjala (12), development area joensuu
KUOPIO_CODE = "297"  # Pohjois-Savo (11), development area kuopio


@dataclass
class Network:
    uusimaa: Provider
    karjala: Provider
    savo: Provider
    national: Provider
    anna: Supporter  # staff, Uusimaa, fi/en, banking
    ville: Supporter  # volunteer, Uusimaa, fi
    pekka: Supporter  # volunteer, Pohjois-Karjala
    sari: Supporter  # staff, Pohjois-Savo
    kaisa: Supporter  # staff, Kansalaisneuvonta


@pytest.fixture
def network(reference_data, settings) -> Network:
    return build_network(settings)


def build_network(settings) -> Network:
    """Needs reference data; also used by the other routing test modules."""
    # Password hashing dominates the set-up time otherwise.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_default_workflows()
    uusimaa = make_provider(name="Uusimaa library", regions=["01"])
    karjala = make_provider(name="Karjala library", regions=["12"])
    savo = make_provider(name="Savo association", regions=["11"])
    national = make_provider(name="Kansalaisneuvonta", is_national=True)
    return Network(
        uusimaa=uusimaa,
        karjala=karjala,
        savo=savo,
        national=national,
        anna=make_supporter(providers=[uusimaa], languages=["fi", "en"], skills=["banking"]),
        ville=make_supporter(providers=[uusimaa], kind="volunteer"),
        pekka=make_supporter(providers=[karjala], kind="volunteer"),
        sari=make_supporter(providers=[savo]),
        kaisa=make_supporter(providers=[national], languages=["fi", "sv", "en"]),
    )


class Captured(list):
    """Events that left after commit, in order.

    The test's own transaction never commits, so the on-commit callbacks the
    services registered are run here, in order, whenever the test looks.
    Callbacks of a rolled-back block are dropped by Django and never run.
    """

    def __init__(self):
        super().__init__()
        self._done = 0

    def flush(self) -> None:
        from django.db import connection

        pending = connection.run_on_commit
        while self._done < len(pending):
            _sids, func, _robust = pending[self._done]
            self._done += 1
            func()

    def of(self, kind: str) -> list[tuple[str, dict]]:
        self.flush()
        return [(g, e) for g, e in self if e["type"] == kind]

    def to(self, group: str) -> list[dict]:
        self.flush()
        return [e for g, e in self if g == group]


@pytest.fixture
def events(db):
    """Records what would go to the channel layer, checked against EVENT_SCHEMAS."""
    captured = Captured()

    def record(batch):
        for group, event in batch:
            realtime_events.check_event(event)
            captured.append((group, event))

    with mock.patch.object(realtime_events, "_deliver", side_effect=record):
        yield captured


def online(*supporters: Supporter) -> None:
    for s in supporters:
        services.set_presence(supporter=s, presence="available")


def enqueue(municipality: str | None = HELSINKI_CODE, **kw) -> Contact:
    args = dict(
        channel="chat",
        language="fi",
        municipality_code=municipality,
        topic_slug=None,
        consent=True,
    )
    args.update(kw)
    return services.enqueue_contact(**args)


def kinds(contact: Contact) -> list[str]:
    return list(ContactEvent.objects.filter(contact=contact).values_list("kind", flat=True))


def pending_offer(contact: Contact) -> Offer:
    return Offer.objects.get(contact=contact, state="pending")


# --- enqueue -----------------------------------------------------------------


def test_enqueue_routes_by_region_and_publishes(network, events):
    contact = enqueue(description="pankkitunnukset", customer_key="k1")
    assert contact.state == "waiting"
    assert contact.region.code == "01"
    assert contact.workflow == Workflow.objects.get(is_default=True)
    assert re.fullmatch(r"Asiakas \d{4}", contact.pseudonym)
    assert contact.consent_at is not None and contact.waiting_since is not None
    assert kinds(contact) == ["created", "queued"]
    states = events.of("contact.state")
    assert states[0][1]["state"] == "waiting"
    # The request does no routing work: the next round tells the provider queues.
    assert events.of("queue.changed") == []
    services.dispatch()
    changed = {e["provider"] for _, e in events.of("queue.changed")}
    assert network.uusimaa.pk in changed and network.karjala.pk not in changed


@pytest.mark.parametrize("code", [None, "", "999"])
def test_unknown_municipality_goes_to_national_first_line(network, code):
    contact = enqueue(municipality=code)
    assert contact.workflow == Workflow.objects.get(is_national_first_line=True)
    assert contact.region is None


@pytest.mark.parametrize(
    "bad",
    [
        {"channel": "fax"},
        {"language": "de"},
        {"consent": False},
        {"municipality_code": "helsinki"},
        {"municipality_code": 91},
        {"topic_slug": "no-such-topic"},
        {"description": "x" * 2001},
        {"description": 12},
        {"is_callback": True, "callback_number": ""},
        {"is_callback": True, "callback_number": "call me"},
        {"entry_provider_slug": "nope"},
    ],
)
def test_enqueue_rejects_bad_input_and_stores_nothing(network, bad):
    before = Contact.objects.count()
    with pytest.raises(InvalidInput):
        enqueue(**bad)
    assert Contact.objects.count() == before


# --- dispatch, offers, accept, decline ----------------------------------------


def test_offer_then_accept(network, events):
    online(network.anna)
    contact = enqueue()
    services.dispatch()
    offer = pending_offer(contact)
    assert offer.supporter == network.anna
    contact.refresh_from_db()
    assert contact.state == "offered"
    new = events.to(realtime_events.supporter_group(network.anna.pk))
    offer_event = [e for e in new if e["type"] == "offer.new"][0]
    assert offer_event["offer"] == offer.pk and offer_event["expires_at"]
    assert offer_event["contact"]["pseudonym"] == contact.pseudonym
    assert "description" not in offer_event["contact"]

    result = services.accept_offer(offer_id=offer.pk, supporter=network.anna)
    assert result.state == "active" and result.supporter == network.anna
    assert result.provider == network.uusimaa and result.accepted_at is not None
    assert Assignment.objects.get(contact=contact, ended_at__isnull=True).supporter == network.anna
    assert kinds(contact) == ["created", "queued", "offered", "accepted"]
    last = events.to(realtime_events.contact_group(contact.public_id))[-1]
    assert last == {
        "type": "contact.state",
        "contact": str(contact.public_id),
        "state": "active",
        "supporter_name": network.anna.display_name,
    }


def test_accept_by_wrong_supporter_twice_or_unknown(network):
    online(network.anna)
    contact = enqueue()
    services.dispatch()
    offer = pending_offer(contact)
    with pytest.raises(NotAllowed):
        services.accept_offer(offer_id=offer.pk, supporter=network.ville)
    with pytest.raises(NotFound):
        services.accept_offer(offer_id=10**9, supporter=network.anna)
    with pytest.raises(NotFound):
        services.accept_offer(offer_id="abc", supporter=network.anna)
    services.accept_offer(offer_id=offer.pk, supporter=network.anna)
    with pytest.raises(Conflict):
        services.accept_offer(offer_id=offer.pk, supporter=network.anna)
    assert Assignment.objects.filter(contact=contact).count() == 1


def test_decline_goes_to_next_supporter(network, events):
    online(network.anna, network.ville)
    contact = enqueue()
    services.dispatch()
    first = pending_offer(contact)
    services.decline_offer(offer_id=first.pk, supporter=first.supporter)
    contact.refresh_from_db()
    assert contact.state == "waiting"
    services.dispatch()
    second = pending_offer(contact)
    assert second.supporter != first.supporter
    assert "offer_declined" in kinds(contact)
    # Declining again is harmless; declining someone else's offer is not allowed.
    services.decline_offer(offer_id=first.pk, supporter=first.supporter)
    with pytest.raises(NotAllowed):
        services.decline_offer(offer_id=second.pk, supporter=first.supporter)


def test_offer_timeout_moves_on_and_sets_the_silent_supporter_away(network, events):
    online(network.anna, network.ville)
    contact = enqueue()
    t0 = timezone.now()
    services.dispatch(now=t0)
    first = pending_offer(contact)
    services.dispatch(now=t0 + timedelta(seconds=31))
    first.refresh_from_db()
    assert first.state == "expired"
    silent = Supporter.objects.get(pk=first.supporter_id)
    assert silent.presence == "away"
    second = pending_offer(contact)
    assert second.supporter_id != first.supporter_id
    assert kinds(contact)[-2:] == ["offer_expired", "offered"]
    to_silent = events.to(realtime_events.supporter_group(silent.pk))
    assert {"type": "offer.withdrawn", "offer": first.pk, "reason": "expired"}.items() <= (
        [e for e in to_silent if e["type"] == "offer.withdrawn"][0].items()
    )
    assert any(e["type"] == "supporter.presence" and e["presence"] == "away" for e in to_silent)


def test_heartbeat_expiry_means_offline(network, events):
    online(network.anna)
    Supporter.objects.filter(pk=network.anna.pk).update(
        last_heartbeat=timezone.now() - timedelta(seconds=120)
    )
    contact = enqueue()
    services.dispatch()
    assert not Offer.objects.filter(contact=contact).values_list("supporter_id", "state").first()
    network.anna.refresh_from_db()
    assert network.anna.presence == "offline"
    # A heartbeat alone does not bring an offline supporter back.
    services.heartbeat(supporter=network.anna)
    services.dispatch()
    assert not Offer.objects.filter(contact=contact).exists()
    online(network.anna)
    services.dispatch()
    assert pending_offer(contact).supporter == network.anna


def test_callbacks_first(network):
    Supporter.objects.filter(pk=network.anna.pk).update(capacity_phone=1)
    live = enqueue(channel="phone")
    callback = enqueue(channel="phone", is_callback=True, callback_number="+358401234567")
    assert callback.priority > live.priority
    online(network.anna)
    services.dispatch()
    assert pending_offer(callback).supporter == network.anna
    assert not Offer.objects.filter(contact=live).exists()


def test_returning_customer_gets_the_same_supporter(network):
    online(network.ville)
    first = enqueue(customer_key="browser-1")
    services.dispatch()
    services.accept_offer(offer_id=pending_offer(first).pk, supporter=network.ville)
    services.end_contact(public_id=first.public_id, supporter=network.ville, outcome="solved")
    # Anna has been idle longer, but the returning customer prefers Ville.
    online(network.anna)
    Supporter.objects.filter(pk=network.anna.pk).update(
        idle_since=timezone.now() - timedelta(hours=2)
    )
    again = enqueue(customer_key="browser-1")
    assert again.preferred_supporter == network.ville
    services.dispatch()
    assert pending_offer(again).supporter == network.ville
    stranger = enqueue(customer_key="browser-2")
    assert stranger.preferred_supporter is None


def test_positions_published_only_when_changed(network, events):
    first, second = enqueue(), enqueue()
    services.dispatch()
    positions = {e["contact"]: e["position"] for _, e in events.of("queue.position")}
    assert positions == {str(first.public_id): 1, str(second.public_id): 2}
    count = len(events.of("queue.position"))
    services.dispatch()
    assert len(events.of("queue.position")) == count
    services.abandon_contact(public_id=first.public_id, reason="left")
    services.dispatch()
    # At most one frame a second per customer: the change waits for the next round
    # after that, which sends the value of that round.
    assert len(events.of("queue.position")) == count
    services.dispatch(now=timezone.now() + timedelta(seconds=1.1))
    assert len(events.of("queue.position")) == count + 1
    assert events.of("queue.position")[-1][1] == {
        "type": "queue.position",
        "contact": str(second.public_id),
        "position": 1,
        "estimated_wait_s": None,
    }


def test_closed_publishes_queue_closed_once_with_opens_at(network, events):
    # Everyone works Monday to Friday 9-16 only; a Saturday contact waits.
    OpeningHours.objects.all().delete()
    for provider in (network.uusimaa, network.karjala, network.savo, network.national):
        OpeningHours.objects.bulk_create(
            OpeningHours(provider=provider, weekday=d, opens=time(9), closes=time(16))
            for d in range(5)
        )
    ExceptionDate.objects.create(provider=network.national, date=datetime(2026, 11, 30).date())
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=HELSINKI)
    online(network.anna)
    contact = enqueue()
    services.dispatch(now=saturday)
    closed = events.of("queue.closed")
    assert len(closed) == 1
    opens_at = datetime.fromisoformat(closed[0][1]["opens_at"])
    assert opens_at == datetime(2026, 11, 30, 9, 0, tzinfo=HELSINKI)
    assert not Offer.objects.filter(contact=contact).exists()
    services.dispatch(now=saturday + timedelta(minutes=5))
    assert len(events.of("queue.closed")) == 1
    assert kinds(contact).count("closed_notice") == 1
    # Monday morning the region answers; the notice is cleared.
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=HELSINKI)
    Supporter.objects.filter(pk=network.anna.pk).update(presence="available", last_heartbeat=monday)
    services.dispatch(now=monday)
    assert pending_offer(contact).supporter == network.anna
    assert not ClosedNotice.objects.filter(contact=contact).exists()


# --- pick and permissions -----------------------------------------------------


def test_volunteer_cannot_pick_another_providers_contact(network):
    karjala_contact = enqueue(municipality=JOENSUU_CODE)
    with pytest.raises(NotAllowed):
        services.pick_contact(public_id=karjala_contact.public_id, supporter=network.ville)
    own = enqueue()
    picked = services.pick_contact(public_id=own.public_id, supporter=network.ville)
    assert picked.state == "active" and picked.supporter == network.ville
    assert kinds(own)[-1] == "picked"
    with pytest.raises(Conflict):
        services.pick_contact(public_id=own.public_id, supporter=network.anna)
    with pytest.raises(NotFound):
        services.pick_contact(public_id="not-a-uuid", supporter=network.anna)


def test_pick_withdraws_someone_elses_pending_offer(network, events):
    online(network.anna)
    contact = enqueue()
    services.dispatch()
    offer = pending_offer(contact)
    services.pick_contact(public_id=contact.public_id, supporter=network.ville)
    offer.refresh_from_db()
    assert offer.state == "withdrawn"
    withdrawn = [e for e in events.to(realtime_events.supporter_group(network.anna.pk))]
    assert withdrawn[-1]["type"] == "offer.withdrawn" and withdrawn[-1]["reason"] == "taken"
    with pytest.raises(Conflict):
        services.accept_offer(offer_id=offer.pk, supporter=network.anna)


def test_capacity_is_respected(network):
    Supporter.objects.filter(pk=network.ville.pk).update(capacity_chat=1)
    network.ville.refresh_from_db()
    a, b = enqueue(), enqueue()
    services.pick_contact(public_id=a.public_id, supporter=network.ville)
    with pytest.raises(Conflict):
        services.pick_contact(public_id=b.public_id, supporter=network.ville)


# --- in service ---------------------------------------------------------------


def serve(network, supporter=None, **kw) -> Contact:
    contact = enqueue(**kw)
    return services.pick_contact(public_id=contact.public_id, supporter=supporter or network.anna)


def test_transfer_to_named_supporter_keeps_transcript_and_pins(network, events):
    contact = serve(network)
    Message.objects.create(contact=contact, seq=1, author_kind="customer", body="hei")
    with pytest.raises(NotAllowed):
        services.transfer_contact(
            public_id=contact.public_id, supporter=network.ville, to_supporter_id=network.sari.pk
        )
    with pytest.raises(InvalidInput):
        services.transfer_contact(public_id=contact.public_id, supporter=network.anna)
    moved = services.transfer_contact(
        public_id=contact.public_id,
        supporter=network.anna,
        to_supporter_id=network.sari.pk,
        note="Needs Savo's help with Kela.",
    )
    assert moved.state == "transferred" and moved.pinned_supporter == network.sari
    assert moved.supporter is None and moved.handover_note.startswith("Needs")
    assert not Assignment.objects.filter(contact=contact, ended_at__isnull=True).exists()
    assert moved.messages.count() == 1
    online(network.ville, network.sari)
    services.dispatch()
    assert pending_offer(contact).supporter == network.sari
    # The old supporter can no longer act on it.
    with pytest.raises(NotAllowed):
        services.end_contact(public_id=contact.public_id, supporter=network.anna)


def test_transfer_to_provider_and_to_region(network):
    online(network.sari, network.pekka)
    contact = serve(network)
    moved = services.transfer_contact(
        public_id=contact.public_id, supporter=network.anna, to_provider_id=network.savo.pk
    )
    assert moved.pinned_provider == network.savo
    services.dispatch()
    offer = pending_offer(contact)
    assert offer.supporter == network.sari
    services.accept_offer(offer_id=offer.pk, supporter=network.sari)
    moved = services.transfer_contact(
        public_id=contact.public_id, supporter=network.sari, to_region_code="12"
    )
    assert moved.region.code == "12" and moved.pinned_provider is None and moved.step_index == 0
    services.dispatch()
    offer = pending_offer(contact)
    assert offer.supporter == network.pekka
    assert [k for k in kinds(contact) if k == "transferred"] == ["transferred", "transferred"]
    services.accept_offer(offer_id=offer.pk, supporter=network.pekka)
    with pytest.raises(NotFound):
        services.transfer_contact(
            public_id=contact.public_id, supporter=network.pekka, to_region_code="99"
        )


def test_escalation_pins_kansalaisneuvonta_with_note(network):
    online(network.kaisa)
    contact = serve(network)
    with pytest.raises(InvalidInput):
        services.escalate_contact(public_id=contact.public_id, supporter=network.anna, note=" ")
    escalated = services.escalate_contact(
        public_id=contact.public_id, supporter=network.anna, note="Perukirja: ohjaa maistraattiin"
    )
    assert escalated.state == "escalated" and escalated.pinned_provider == network.national
    assert escalated.handover_note == "Perukirja: ohjaa maistraattiin"
    services.dispatch()
    offer = pending_offer(contact)
    assert offer.supporter == network.kaisa
    taken = services.accept_offer(offer_id=offer.pk, supporter=network.kaisa)
    assert taken.provider == network.national
    assert "escalated" in kinds(contact)


def test_hold_resume_end(network, events):
    contact = serve(network)
    assert services.hold_contact(public_id=contact.public_id, supporter=network.anna).state == (
        "on_hold"
    )
    with pytest.raises(Conflict):
        services.hold_contact(public_id=contact.public_id, supporter=network.anna)
    assert services.resume_contact(public_id=contact.public_id, supporter=network.anna).state == (
        "active"
    )
    with pytest.raises(InvalidInput):
        services.end_contact(public_id=contact.public_id, supporter=network.anna, outcome="great")
    ended = services.end_contact(
        public_id=contact.public_id, supporter=network.anna, outcome="solved", topic_slug="kela"
    )
    assert ended.state == "ended" and ended.outcome == "solved" and ended.topic.slug == "kela"
    assert ended.ended_at is not None
    assert Assignment.objects.get(contact=contact).ended_at is not None
    assert kinds(contact)[-3:] == ["on_hold", "resumed", "ended"]
    # Ending again changes nothing.
    again = services.end_contact(public_id=contact.public_id, by_customer=True)
    assert again.state == "ended"


def test_customer_leaving_the_queue_abandons(network, events):
    online(network.anna)
    contact = enqueue()
    services.dispatch()
    offer = pending_offer(contact)
    left = services.end_contact(public_id=contact.public_id, by_customer=True)
    assert left.state == "abandoned"
    offer.refresh_from_db()
    assert offer.state == "withdrawn"
    withdrawn = events.to(realtime_events.supporter_group(network.anna.pk))[-1]
    assert withdrawn["type"] == "offer.withdrawn" and withdrawn["reason"] == "abandoned"
    with pytest.raises(InvalidInput):
        services.end_contact(public_id=contact.public_id)


def test_customer_ending_an_active_chat_ends_it(network):
    contact = serve(network)
    ended = services.end_contact(public_id=contact.public_id, by_customer=True)
    assert ended.state == "ended"
    assert ContactEvent.objects.get(contact=contact, kind="ended").data["by"] == "customer"


def test_abandon_active_contact_frees_the_supporter(network):
    contact = serve(network)
    gone = services.abandon_contact(public_id=contact.public_id, reason="hung_up")
    assert gone.state == "abandoned"
    assert not Assignment.objects.filter(supporter=network.anna, ended_at__isnull=True).exists()
    assert ContactEvent.objects.get(contact=contact, kind="abandoned").data["reason"] == "hung_up"


# --- presence -----------------------------------------------------------------


def test_presence(network, events):
    with pytest.raises(InvalidInput):
        services.set_presence(supporter=network.anna, presence="sleeping")
    online(network.anna)
    contact = enqueue()
    services.dispatch()
    offer = pending_offer(contact)
    me = services.set_presence(supporter=network.anna, presence="away")
    assert me.presence == "away"
    offer.refresh_from_db()
    assert offer.state == "withdrawn"
    contact.refresh_from_db()
    assert contact.state == "waiting"
    assert events.of("supporter.presence")[-1][1]["presence"] == "away"
