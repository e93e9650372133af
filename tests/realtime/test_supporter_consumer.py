"""The supporter's console socket: welcome, offers, picks, chat, notes, hand-overs, presence."""

import pytest
from channels.db import database_sync_to_async as adb
from channels.testing import WebsocketCommunicator
from django.test import Client as HttpClient
from django.utils import timezone

from helpdesk.models import Contact, Message, Offer, Supporter
from helpdesk.services import messages as message_service
from realtime import events
from tests.factories import make_provider, make_supporter, make_user
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_contact, make_pair

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pair(reference_data):
    return make_pair()


@pytest.fixture
def waiting(reference_data):
    """A provider for Uusimaa, two supporters of it, a contact waiting in Helsinki."""
    provider = make_provider(regions=["01"])
    first = make_supporter(providers=[provider], presence="available")
    second = make_supporter(providers=[provider], presence="available")
    contact = make_contact(state="waiting", callback_number="+358401234567")
    return provider, first, second, contact


async def test_refused_when_not_logged_in_or_not_a_supporter(ws_app, transactional_db):
    from django.contrib.auth.models import AnonymousUser

    client = await supporter_client(ws_app, AnonymousUser())
    assert await client.close_code() == 4401
    await client.disconnect()
    user = await adb(make_user)()
    client = await supporter_client(ws_app, user)
    assert await client.close_code() == 4403
    await client.disconnect()


async def test_session_cookie_authenticates_through_the_real_stack(transactional_db):
    from helpdesk.asgi import application

    def login():
        provider = make_provider()
        supporter = make_supporter(providers=[provider])
        http = HttpClient()
        http.force_login(supporter.user)
        return http.cookies["sessionid"].value

    session = await adb(login)()
    headers = [(b"cookie", f"sessionid={session}".encode()), (b"origin", b"http://127.0.0.1")]
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()
    anonymous = WebsocketCommunicator(application, "/ws/console/", headers=headers[1:])
    await anonymous.connect(timeout=5)
    assert (await anonymous.receive_output(timeout=5))["code"] == 4401
    await anonymous.disconnect()


async def test_welcome_has_serving_contacts_offers_and_queue(ws_app, waiting):
    provider, first, second, queued = waiting

    def setup():
        served = make_contact(state="active", supporter=first, provider=provider)
        for i, (who, kind) in enumerate([(None, "text"), (first, "text"), (first, "note")]):
            message_service.post_message(
                contact_id=served.pk, client_msg_id=f"m{i}", body=f"b{i}", supporter=who, kind=kind
            )
        offered = make_contact(state="offered")
        offer = Offer.objects.create(contact=offered, supporter=first)
        return served, offer

    served, offer = await adb(setup)()
    console = await supporter_client(ws_app, first.user, hello={str(served.public_id): 1})
    welcome = console.welcome
    assert welcome["supporter"]["id"] == first.pk
    assert welcome["supporter"]["display_name"] == first.display_name
    assert welcome["supporter"]["presence"] == "available"
    [contact] = welcome["contacts"]
    assert contact["id"] == str(served.public_id)
    assert [m["seq"] for m in contact["messages"]] == [2, 3]  # notes included for supporters
    assert contact["messages"][1]["kind"] == "note"
    assert [o["offer"] for o in welcome["offers"]] == [offer.pk]
    assert str(queued.public_id) in [c["id"] for c in welcome["queue"]]
    await console.disconnect()


async def test_pick_chat_and_conflict_for_the_second(ws_app, waiting):
    _, first, second, contact = waiting
    cid = str(contact.public_id)
    a = await supporter_client(ws_app, first.user, hello={})
    b = await supporter_client(ws_app, second.user, hello={})
    customer = await customer_client(ws_app, contact)
    await customer.send(
        {"type": "message.send", "client_msg_id": "q1", "body": "Apua verokortin kanssa"}
    )
    await customer.expect("message.ack")
    await a.send({"type": "contact.pick", "contact": cid})
    assigned = await a.expect("contact.assigned")
    assert assigned["contact"]["id"] == cid
    assert [m["body"] for m in assigned["messages"]] == ["Apua verokortin kanssa"]
    assert assigned["contact"]["callback_number"] == "+358401234567"  # staff may see it
    state = await customer.expect("contact.state")
    assert state == {
        "type": "contact.state",
        "contact": cid,
        "state": "active",
        "supporter_name": first.display_name,
    }
    await b.send({"type": "contact.pick", "contact": cid})
    assert (await b.error("conflict"))["ref"] == "contact.pick"

    await a.send({"type": "message.send", "contact": cid, "client_msg_id": "s1", "body": "Hei!"})
    assert (await a.expect("message.ack"))["seq"] == 2
    assert (await customer.expect("message.new"))["message"]["author_name"] == first.display_name
    await a.send({"type": "note.add", "contact": cid, "client_msg_id": "n1", "body": "muistiin"})
    note = await a.expect("message.ack")
    assert note["seq"] == 3 and note["message"]["kind"] == "note"
    assert note["message"]["body"] == "muistiin"
    await customer.send({"type": "message.send", "client_msg_id": "q2", "body": "Kiitos"})
    assert (await customer.expect("message.ack"))["message"]["seq"] == 4
    assert (await a.expect("message.new", contact=cid))["message"]["body"] == "Kiitos"
    assert all(f["type"] != "message.new" or f["message"]["kind"] != "note" for f in customer.seen)
    # the second supporter may not write into a contact they do not serve
    await b.send({"type": "message.send", "contact": cid, "client_msg_id": "x", "body": "hi"})
    assert (await b.error("not_allowed"))["ref"] == "x"
    await b.send({"type": "typing", "contact": cid, "active": True})
    await b.error("not_allowed")
    await a.send({"type": "receipt", "contact": cid, "read_seq": 4})
    receipt = await customer.expect("message.receipt")
    assert receipt["who"] == "supporter" and receipt["read_seq"] == 4
    for client in (a, b, customer):
        await client.disconnect()


async def test_volunteer_never_sees_a_callback_number(ws_app, reference_data):
    def setup():
        provider = make_provider(regions=["01"])
        volunteer = make_supporter(providers=[provider], kind="volunteer", presence="available")
        contact = make_contact(state="waiting", callback_number="+358401234567", is_callback=True)
        return volunteer, contact

    volunteer, contact = await adb(setup)()
    console = await supporter_client(ws_app, volunteer.user, hello={})
    await console.send({"type": "contact.pick", "contact": str(contact.public_id)})
    assigned = await console.expect("contact.assigned")
    assert "callback_number" not in assigned["contact"]
    await events.apublish(
        events.supporter_group(volunteer.pk),
        {
            "type": "offer.new",
            "offer": 1,
            "contact": {"id": "x", "callback_number": "+358401234567"},
            "expires_at": "2026-01-01T00:00:00+00:00",
        },
    )
    offer = await console.expect("offer.new")
    assert "callback_number" not in offer["contact"]
    assert "+358" not in str(console.seen)
    await console.disconnect()


async def test_offer_accept_decline_and_errors(ws_app, waiting):
    provider, first, second, _ = waiting

    def setup():
        one = make_contact(state="offered")
        two = make_contact(state="offered")
        return (
            one,
            Offer.objects.create(contact=one, supporter=first),
            Offer.objects.create(contact=two, supporter=first),
        )

    contact, offer, other_offer = await adb(setup)()
    a = await supporter_client(ws_app, first.user, hello={})
    b = await supporter_client(ws_app, second.user, hello={})
    await b.send({"type": "offer.accept", "offer": offer.pk})
    assert (await b.error("not_allowed"))["ref"] == "offer.accept"
    await a.send({"type": "offer.accept", "offer": 10**8})
    await a.error("not_found")
    await a.send({"type": "offer.accept", "offer": offer.pk})
    assigned = await a.expect("contact.assigned")
    assert assigned["contact"]["id"] == str(contact.public_id)
    await a.send({"type": "offer.accept", "offer": offer.pk})
    await a.error("conflict")
    await a.send({"type": "offer.decline", "offer": other_offer.pk})
    await a.no_error()
    state = await adb(lambda: Offer.objects.get(pk=other_offer.pk).state)()
    assert state == "declined"
    await a.send({"type": "offer.accept", "offer": "1"})
    await a.error("invalid")
    await a.disconnect()
    await b.disconnect()


async def test_hold_resume_transfer_escalate_end(ws_app, reference_data):
    def setup():
        provider = make_provider(regions=["01"])
        other = make_provider(regions=["02"])
        make_provider(is_national=True)
        supporter = make_supporter(providers=[provider], presence="available")
        contacts = [
            make_contact(state="active", supporter=supporter, provider=provider) for _ in range(3)
        ]
        return supporter, other, contacts

    supporter, other, (c1, c2, c3) = await adb(setup)()
    console = await supporter_client(ws_app, supporter.user, hello={})
    assert len(console.welcome["contacts"]) == 3
    one, two, three = (str(c.public_id) for c in (c1, c2, c3))
    await console.send({"type": "hold", "contact": one})
    assert (await console.expect("contact.state", contact=one))["state"] == "on_hold"
    await console.send({"type": "hold", "contact": one})
    await console.error("conflict")
    await console.send({"type": "resume", "contact": one})
    assert (await console.expect("contact.state", contact=one))["state"] == "active"
    await console.send({"type": "contact.transfer", "contact": two, "to_provider": other.pk})
    await console.expect("contact.state", contact=two, state="transferred")
    assert (await adb(lambda: Contact.objects.get(pk=c2.pk).state)()) == "transferred"
    await console.send({"type": "message.send", "contact": two, "client_msg_id": "t", "body": "x"})
    await console.error("not_allowed")
    await console.send({"type": "contact.escalate", "contact": three, "note": ""})
    await console.error("invalid")
    await console.send({"type": "contact.escalate", "contact": three, "note": "DVV asia"})
    await console.expect("contact.state", contact=three, state="escalated")
    assert (await adb(lambda: Contact.objects.get(pk=c3.pk).state)()) == "escalated"
    await console.send({"type": "contact.end", "contact": one, "outcome": "solved"})
    await console.expect("contact.state", contact=one, state="ended")
    assert (await adb(lambda: Contact.objects.get(pk=c1.pk).state)()) == "ended"
    await console.send({"type": "contact.end", "contact": one, "outcome": "solved"})
    await console.error("not_allowed")  # no longer theirs
    await console.send({"type": "contact.end", "contact": one, "outcome": "great"})
    await console.error("invalid")
    await console.send({"type": "hold", "contact": "not-a-uuid"})
    await console.error("invalid")
    await console.disconnect()


async def test_article_share(ws_app, pair, monkeypatch):
    _, supporter, contact = pair
    cid = str(contact.public_id)
    import knowledge.selectors

    card = {"id": 7, "title": "Verokortti", "summary": "s", "url": "/kb/x", "language": "fi"}
    monkeypatch.setattr(
        knowledge.selectors, "article_card", lambda a, lang: card if a == 7 else None
    )
    console = await supporter_client(ws_app, supporter.user, hello={})
    customer = await customer_client(ws_app, contact)
    await console.send(
        {"type": "article.share", "contact": cid, "article": 8, "client_msg_id": "a"}
    )
    await console.error("not_found")
    await console.send(
        {"type": "article.share", "contact": cid, "article": 7, "client_msg_id": "b"}
    )
    assert (await console.expect("message.ack"))["seq"] == 1
    shared = await customer.expect("message.new")
    assert shared["message"]["kind"] == "article"
    assert shared["message"]["payload"]["article"] == card
    await console.disconnect()
    await customer.disconnect()


async def test_queue_snapshot_on_queue_changed_and_events_forwarded(ws_app, waiting):
    provider, first, _, contact = waiting
    console = await supporter_client(ws_app, first.user, hello={})
    group = events.provider_queue_group(provider.pk)
    # The welcome carried the queue: a change that changes nothing sends nothing.
    await events.apublish(group, {"type": "queue.changed", "provider": provider.pk})
    await console.nothing(2.2)
    newcomer = await adb(make_contact)(state="waiting")
    for _ in range(5):  # a burst is coalesced
        await events.apublish(group, {"type": "queue.changed", "provider": provider.pk})
    snapshot = await console.expect("queue.snapshot")
    ids = [c["id"] for c in snapshot["queue"]]
    assert str(contact.public_id) in ids and str(newcomer.public_id) in ids
    await console.nothing(0.3)
    withdrawn = {
        "type": "offer.withdrawn",
        "offer": 5,
        "contact": str(contact.public_id),
        "reason": "expired",
    }
    await events.apublish(events.supporter_group(first.pk), withdrawn)
    assert await console.expect("offer.withdrawn") == withdrawn
    await console.disconnect()


async def test_presence_set_and_follows_sockets(ws_app, pair):
    _, supporter, _ = pair
    tab1 = await supporter_client(ws_app, supporter.user, hello={})
    tab2 = await supporter_client(ws_app, supporter.user, hello={})
    await tab1.send({"type": "presence.set", "presence": "busy"})
    assert await tab1.expect("presence") == {"type": "presence", "presence": "busy"}
    assert (await tab2.expect("presence"))["presence"] == "busy"  # the other tab follows
    await tab1.send({"type": "presence.set", "presence": "offline"})
    await tab1.error("invalid")
    await tab1.send({"type": "presence.set", "presence": "available"})
    await tab1.expect("presence", presence="available")

    def presence():
        return Supporter.objects.values_list("presence", "last_heartbeat").get(pk=supporter.pk)

    assert (await adb(presence)())[1] is not None  # heartbeat on connect
    await tab1.disconnect()
    assert (await adb(presence)())[0] == "available"  # one tab still open
    await tab2.disconnect()
    assert (await adb(presence)())[0] == "offline"


async def test_second_tab_shows_contact_taken_in_the_first(ws_app, waiting):
    provider, first, _, contact = waiting
    cid = str(contact.public_id)
    tab1 = await supporter_client(ws_app, first.user, hello={})
    tab2 = await supporter_client(ws_app, first.user, hello={})
    await adb(message_service.post_message)(contact_id=contact.pk, client_msg_id="c", body="hei")
    await tab1.send({"type": "contact.pick", "contact": cid})
    await tab1.expect("contact.assigned")
    # Routing's queue.changed makes tab 2 re-read what it serves: it shows
    # the contact as a pick would, transcript and all, without a new hello.
    shown = await tab2.expect("contact.assigned")
    assert shown["contact"]["id"] == cid
    assert [m["body"] for m in shown["messages"]] == ["hei"]
    await adb(message_service.post_message)(contact_id=contact.pk, client_msg_id="d", body="taas")
    assert (await tab2.expect("message.new", contact=cid))["message"]["body"] == "taas"
    assert [f["type"] for f in await tab2.drain(0.5)].count("contact.assigned") == 0
    # A new hello still lists it, with what was said.
    await tab2.send({"type": "hello", "contacts": {cid: 0}})
    welcome = await tab2.expect("welcome")
    assert [m["body"] for m in welcome["contacts"][0]["messages"]] == ["hei", "taas"]
    await tab1.disconnect()
    await tab2.disconnect()


async def test_a_handed_over_call_is_shown_once_however_its_events_arrive(ws_app, waiting):
    """The target may hear of its new contact first from another event, then the hand-over."""
    from routing import services as routing_services

    _, _, second, contact = waiting
    cid = str(contact.public_id)
    console = await supporter_client(ws_app, second.user, hello={})
    await adb(routing_services.pick_contact)(public_id=cid, supporter=second)
    own = events.supporter_group(second.pk)
    await events.apublish(own, {"type": "contact.state", "contact": cid, "state": "active"})
    handed_over = {"type": "phone.transfer", "transfer": 7, "contact": cid, "state": "handed_over"}
    await events.apublish(own, handed_over)
    frames = await console.drain(1.5)
    kinds = [f["type"] for f in frames]
    assert kinds.count("contact.assigned") == 1, kinds
    assert kinds.index("contact.assigned") < kinds.index("phone.transfer"), kinds
    # The hand-over's frame to a console that shows the contact already: no second card.
    await events.apublish(own, handed_over)
    assert [f["type"] for f in await console.drain(0.5)] == ["phone.transfer"]
    await console.disconnect()


async def test_suggestions_go_to_the_serving_supporter(ws_app, pair, monkeypatch):
    _, supporter, contact = pair
    import knowledge.services

    calls = []

    def suggest(*, text, language, limit=3, topic=None):
        calls.append((text, language))
        return [{"id": 1, "title": "Verokortti", "summary": "", "url": "/kb/v", "language": "fi"}]

    monkeypatch.setattr(knowledge.services, "suggest_articles", suggest)
    console = await supporter_client(ws_app, supporter.user, hello={})
    customer = await customer_client(ws_app, contact)
    for i in range(3):
        await customer.send(
            {"type": "message.send", "client_msg_id": f"s{i}", "body": f"verokortti {i}"}
        )
        await customer.expect("message.ack")
    frame = await console.expect("suggestions")
    assert frame["contact"] == str(contact.public_id)
    assert frame["articles"][0]["title"] == "Verokortti"
    assert len(calls) <= 2  # debounced
    assert all(f["type"] != "suggestions" for f in await customer.drain())
    await console.disconnect()
    await customer.disconnect()


async def test_supporter_bad_frames(ws_app, pair):
    _, supporter, contact = pair
    console = await supporter_client(ws_app, supporter.user, hello={})
    cid = str(contact.public_id)
    table = [
        ({"type": "message.send", "client_msg_id": "c", "body": "x"}, "invalid"),  # no contact
        ({"type": "feedback", "rating": 5}, "unknown_type"),
        ({"type": "hello", "contacts": []}, "invalid"),
        ({"type": "hello", "contacts": {"nope": 1}}, "invalid"),
        ({"type": "presence.set", "presence": "sleeping"}, "invalid"),
        ({"type": "contact.transfer", "contact": cid}, "invalid"),  # no target
        ({"type": "contact.transfer", "contact": cid, "to_supporter": 10**8}, "not_found"),
        ({"type": "contact.pick", "contact": "6f1c6f2e-0000-4000-8000-000000000000"}, "not_found"),
        (
            {"type": "note.add", "contact": cid, "client_msg_id": "n", "body": "x" * 4001},
            "too_large",
        ),
    ]
    for frame, code in table:
        await console.send(frame)
        error = await console.recv()
        assert (error["type"], error["code"]) == ("error", code), frame
    assert await adb(Message.objects.count)() == 0
    await console.disconnect()


# A console's opening: the supporter's row with whether it holds any role
# grant (1), its providers (1), the contacts it serves (1, their groups are
# joined with the others); the grants themselves only when it holds some.
OPEN_QUERIES = 3
# Its first welcome, with the actor read at opening: the contacts it serves
# (1), its presence with whether any offer is pending (1), their messages (1), the
# transcripts' audit (one bulk insert: BEGIN, INSERT, COMMIT); then the queue
# read its worker's consoles share: the waiting contacts (1; who serves where
# comes from routing's hint cache, filled by the first read). The offers are
# read (1 more) only when one is pending.
WELCOME_QUERIES = 7


def test_welcome_costs_the_same_queries_for_one_contact_or_many(reference_data, transactional_db):
    """A worker restart brings every console back at once: the welcome stays cheap."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from realtime.consumers.supporter import _open_console, _welcome
    from routing.selectors import queue_rows, read_queue, serving_contact_ids

    provider = make_provider(regions=["01"])
    supporter = make_supporter(providers=[provider], presence="available")
    make_contact(state="waiting")
    served = [make_contact(state="active", supporter=supporter, provider=provider)]
    with CaptureQueriesContext(connection) as opening:
        refused, (_, _, actor, joined, _) = _open_console(supporter.user, None)
    assert (refused, len(opening)) == (0, OPEN_QUERIES)
    assert actor.provider_ids == {provider.pk}
    assert joined == {str(served[0].public_id): served[0].pk}

    def welcome_queries() -> tuple[int, dict]:
        serving = serving_contact_ids(supporter)
        with CaptureQueriesContext(connection) as queries:
            welcome = _welcome(supporter, serving, {}, actor)
            read = read_queue(welcome["actor"].provider_ids)
            welcome["frame"]["queue"] = queue_rows(read, supporter, welcome["actor"])
        return len(queries), welcome

    def with_message(contact):
        message_service.post_message(contact_id=contact.pk, client_msg_id="m", body="hei")
        return contact

    with_message(served[0])
    welcome_queries()  # routing's per-process caches (workflows, providers) filled
    one, welcome = welcome_queries()
    assert len(welcome["frame"]["queue"]) == 1
    served += [
        with_message(make_contact(state="active", supporter=supporter, provider=provider))
        for _ in range(9)
    ]
    for _ in range(5):
        make_contact(state="waiting")
    ten, welcome = welcome_queries()
    assert len(welcome["frame"]["queue"]) == 6
    assert all([m["body"] for m in c["messages"]] == ["hei"] for c in welcome["frame"]["contacts"])
    # Constant whatever the number of contacts served or queued.
    assert (one, ten) == (WELCOME_QUERIES, WELCOME_QUERIES)
    assert {c["id"] for c in welcome["frame"]["contacts"]} == {str(c.public_id) for c in served}
    assert all("description" in c for c in welcome["frame"]["contacts"])
    # A replay only after its contact's group was joined: served contacts the
    # socket has not joined (assigned since it subscribed) are to be joined
    # first, and nothing else is read (no transcript shown, none audited).
    with CaptureQueriesContext(connection) as unjoined:
        assert _welcome(supporter, {}, {}, actor) == {
            "join": {str(c.public_id): c.pk for c in served},
            "leave": [],
        }
    assert len(unjoined) == 1
    gone = {"0b8d5c52-3f4e-4f59-9f3c-6d1b6a3e9c11": 10**9}
    assert _welcome(supporter, {**serving_contact_ids(supporter), **gone}, {}, actor) == {
        "join": {},
        "leave": list(gone),
    }
    # A pending offer costs its own read, in that welcome only.
    Offer.objects.create(contact=make_contact(state="offered"), supporter=supporter)
    offered, welcome = welcome_queries()
    assert (offered, len(welcome["frame"]["offers"])) == (WELCOME_QUERIES + 1, 1)


async def test_contacts_assigned_or_ended_between_opening_and_hello_are_joined_or_left(
    ws_app, pair
):
    """A console joins the groups of the contacts it serves as it opens. One
    assigned before its hello, with no event reaching it (routing's could be on
    its way), is joined before its transcript is read, so what is written
    after the welcome arrives; one ended meanwhile is left out."""
    from helpdesk.models import Assignment

    provider, supporter, ended = pair
    console = await supporter_client(ws_app, supporter.user)  # opened, no hello yet

    def change():
        Contact.objects.filter(pk=ended.pk).update(state="ended")
        Assignment.objects.filter(contact=ended).update(ended_at=timezone.now())
        added = make_contact(state="active", supporter=supporter, provider=provider)
        message_service.post_message(contact_id=added.pk, client_msg_id="a", body="ennen")
        return added

    added = await adb(change)()
    await console.send({"type": "hello", "contacts": {}})
    welcome = await console.expect("welcome")
    [contact] = welcome["contacts"]
    assert contact["id"] == str(added.public_id)
    assert [m["body"] for m in contact["messages"]] == ["ennen"]
    customer = await customer_client(ws_app, added)
    await customer.send({"type": "message.send", "client_msg_id": "b", "body": "jälkeen"})
    new = await console.expect("message.new", contact=str(added.public_id))
    assert new["message"]["body"] == "jälkeen"
    await customer.disconnect()
    await console.disconnect()


async def test_a_welcome_never_lists_a_queue_older_than_its_subscription(ws_app, waiting):
    """Consoles share a queue read, but never one begun before they subscribed:
    what was queued in between reaches the later console's welcome."""
    provider, first, second, queued = waiting
    early = await supporter_client(ws_app, first.user, hello={})
    assert [c["id"] for c in early.welcome["queue"]] == [str(queued.public_id)]
    # Queued without a queue.changed reaching anyone (routing's event could
    # be on its way): only a fresh read can show it.
    later_contact = await adb(make_contact)(state="waiting")
    late = await supporter_client(ws_app, second.user, hello={})
    assert {c["id"] for c in late.welcome["queue"]} == {
        str(queued.public_id),
        str(later_contact.public_id),
    }
    await early.disconnect()
    await late.disconnect()


async def test_a_supporter_removed_from_a_provider_loses_its_queue_at_the_next_welcome(
    ws_app, waiting
):
    """The actor a socket read when it opened serves its first welcome only: a
    later hello, or the next socket, reads the supporter's providers afresh."""
    provider, first, _, queued = waiting
    console = await supporter_client(ws_app, first.user, hello={})
    assert [c["id"] for c in console.welcome["queue"]] == [str(queued.public_id)]
    await adb(first.providers.remove)(provider)
    await console.send({"type": "hello", "contacts": {}})
    assert (await console.expect("welcome"))["queue"] == []
    await console.disconnect()
    again = await supporter_client(ws_app, first.user, hello={})
    assert again.welcome["queue"] == []
    await again.disconnect()


async def test_the_first_welcome_has_the_presence_set_while_the_socket_opened(ws_app, pair):
    """The actor is read at opening, the presence again at the welcome: a change
    in between, announced before the socket had joined, is not lost."""
    _, supporter, _ = pair
    console = await supporter_client(ws_app, supporter.user)
    await adb(Supporter.objects.filter(pk=supporter.pk).update)(presence="busy")
    await console.send({"type": "hello", "contacts": {}})
    assert (await console.expect("welcome"))["supporter"]["presence"] == "busy"
    await console.disconnect()


async def test_taking_a_contact_suggests_guides_for_what_the_customer_wrote(
    ws_app, waiting, monkeypatch
):
    """Issue 11 item 9: the panel fills when the chat opens, from the customer's
    words and the topic they chose, not only after their next message."""
    import knowledge.services

    _, first, _second, contact = waiting
    calls = []

    def suggest(*, text, language, limit=3, topic=None):
        calls.append((text, language, topic))
        return [{"id": 1, "title": "Verokortti", "summary": "", "url": "/kb/v", "language": "fi"}]

    monkeypatch.setattr(knowledge.services, "suggest_articles", suggest)
    customer = await customer_client(ws_app, contact)
    await customer.send(
        {"type": "message.send", "client_msg_id": "q1", "body": "Apua verokortin kanssa"}
    )
    await customer.expect("message.ack")
    console = await supporter_client(ws_app, first.user, hello={})
    await console.send({"type": "contact.pick", "contact": str(contact.public_id)})
    await console.expect("contact.assigned")
    frame = await console.expect("suggestions")
    assert frame["articles"][0]["title"] == "Verokortti"
    text, language, topic = calls[-1]
    assert "Apua verokortin kanssa" in text and language == contact.language
    assert topic == (contact.topic.slug if contact.topic_id else None)
    await console.disconnect()
    await customer.disconnect()
