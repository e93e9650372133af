"""The retention purge: what goes, what stays, when, in batches, from the command and the timer."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from helpdesk.lifespan import LifespanMiddleware
from helpdesk.models import (
    Assignment,
    AuditLogEntry,
    Contact,
    ContactEvent,
    Feedback,
    Message,
    Offer,
)
from helpdesk.models.contacts import OPEN_STATES
from helpdesk.retention_timer import RetentionPurgeTimer
from helpdesk.services import messages as message_service
from helpdesk.services.callbacks import request_callback
from helpdesk.services.errors import Conflict
from helpdesk.services.feedback import submit_feedback
from helpdesk.services.retention import AUDIT_ACTION, PURGE_LOCK_KEY, purge_expired
from helpdesk.tokens import make_contact_token
from routing import services as routing
from tests.factories import make_user
from tests.routing.test_services import HELSINKI_CODE, Network, build_network

RETENTION_DAYS = 90
DESCRIPTION = "Verkkopankki ei aukea, tilini FI21 1234 5600 0007 85"
HANDOVER = "Perukirja: asiakas Matti Meikäläinen, ohjaa maistraattiin"
CUSTOMER_TEXT = "Hei, olen Matti ja asun Kalliossa"
SUPPORTER_TEXT = "Hei Matti, autan mielelläni"
NOTE_TEXT = "Asiakas kuulostaa huolestuneelta"
COMMENT = "Kiitos Kaisa, pärjään nyt itse"


@pytest.fixture(autouse=True)
def retention_settings(settings):
    settings.TRANSCRIPT_RETENTION_DAYS = RETENTION_DAYS
    # Password hashing dominates the set-up time otherwise.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def network(reference_data, settings) -> Network:
    return build_network(settings)


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def backdate(contact: Contact, *, ended_days: float | None, created_days: float) -> None:
    """Move a contact into the past (auto_now_add leaves no other way)."""
    Contact.objects.filter(pk=contact.pk).update(
        created_at=days_ago(created_days),
        ended_at=None if ended_days is None else days_ago(ended_days),
    )


def bare_contact(*, state: str = "ended", ended_days: float | None, created_days: float, **kw):
    """A contact with a description, a handover note, a customer key and one message."""
    contact = Contact.objects.create(
        channel=kw.pop("channel", "chat"),
        language=kw.pop("language", "fi"),
        state=state,
        description=DESCRIPTION,
        handover_note=HANDOVER,
        customer_key=hashlib.sha256(b"browser").hexdigest(),
        pseudonym="Asiakas 4321",
        **kw,
    )
    Message.objects.create(contact=contact, seq=1, author_kind="customer", body=CUSTOMER_TEXT)
    Contact.objects.filter(pk=contact.pk).update(next_seq=2)
    backdate(contact, ended_days=ended_days, created_days=created_days)
    contact.refresh_from_db()
    return contact


def untouched(contact: Contact) -> bool:
    contact.refresh_from_db()
    return (
        contact.purged_at is None
        and contact.description == DESCRIPTION
        and contact.messages.exists()
    )


def served_and_escalated(network: Network, *, customer_key: str) -> Contact:
    """A real conversation: queued, served, notes and cards, escalated, ended, rated."""
    contact = routing.enqueue_contact(
        channel="chat",
        language="fi",
        municipality_code=HELSINKI_CODE,
        topic_slug="banking",
        description=DESCRIPTION,
        customer_key=customer_key,
        consent=True,
    )
    routing.pick_contact(public_id=contact.public_id, supporter=network.anna)
    say = message_service.post_message
    say(contact_id=contact.pk, client_msg_id="c1", body=CUSTOMER_TEXT)
    say(contact_id=contact.pk, client_msg_id="s1", body=SUPPORTER_TEXT, supporter=network.anna)
    say(
        contact_id=contact.pk,
        client_msg_id="n1",
        body=NOTE_TEXT,
        supporter=network.anna,
        kind=Message.Kind.NOTE,
    )
    routing.escalate_contact(public_id=contact.public_id, supporter=network.anna, note=HANDOVER)
    routing.set_presence(supporter=network.kaisa, presence="available")
    routing.dispatch()
    offer = Offer.objects.get(contact=contact, state="pending")
    routing.accept_offer(offer_id=offer.pk, supporter=network.kaisa)
    routing.end_contact(
        public_id=contact.public_id, supporter=network.kaisa, outcome="solved", topic_slug="banking"
    )
    submit_feedback(contact_id=contact.pk, rating=4, comment=COMMENT, can_do_myself=True)
    return Contact.objects.get(pk=contact.pk)


# --- what goes and what stays --------------------------------------------------


@pytest.mark.django_db
def test_expired_contact_loses_personal_content_and_keeps_statistics(network):
    key = hashlib.sha256(b"browser-of-matti").hexdigest()
    first = routing.enqueue_contact(
        channel="chat",
        language="fi",
        municipality_code=HELSINKI_CODE,
        topic_slug=None,
        customer_key=key,
        consent=True,
    )
    routing.pick_contact(public_id=first.public_id, supporter=network.anna)
    routing.end_contact(public_id=first.public_id, supporter=network.anna, outcome="partly")
    contact = served_and_escalated(network, customer_key=key)
    # The same browser within a day: routing remembered the supporter.
    assert contact.preferred_supporter == network.anna
    assert contact.handover_note == HANDOVER and contact.messages.count() == 3
    events_before = list(
        ContactEvent.objects.filter(contact=contact).values_list("kind", "at", "supporter_id")
    )
    offers_before = Offer.objects.filter(contact=contact).count()
    assignments_before = Assignment.objects.filter(contact=contact).count()
    created_at, accepted_at = contact.created_at, contact.accepted_at
    expired_end = days_ago(RETENTION_DAYS + 1)
    Contact.objects.filter(pk__in=[first.pk, contact.pk]).update(ended_at=expired_end)
    now = timezone.now()

    report = purge_expired(now=now)

    assert (report.contacts, report.messages, report.feedback_comments) == (2, 3, 1)
    assert report.batches == 1 and not report.busy and not report.dry_run
    contact.refresh_from_db()
    # Personal content: gone.
    assert contact.description == ""
    assert contact.handover_note == ""
    assert contact.customer_key == ""
    assert contact.callback_number == ""
    assert contact.preferred_supporter is None
    assert not Message.objects.filter(contact=contact).exists()
    feedback = Feedback.objects.get(contact=contact)
    assert feedback.comment == ""
    assert contact.purged_at == now
    # Statistics: kept.
    assert (contact.state, contact.channel, contact.language) == ("ended", "chat", "fi")
    assert contact.topic.slug == "banking"
    assert contact.municipality.code == HELSINKI_CODE and contact.region.code == "01"
    assert contact.provider == network.national and contact.supporter == network.kaisa
    assert contact.outcome == "solved"
    assert (contact.created_at, contact.accepted_at) == (created_at, accepted_at)
    assert contact.ended_at == expired_end and contact.consent_at is not None
    assert contact.is_callback is False and contact.workflow_id is not None
    assert contact.pseudonym.startswith(("Asiakas", "Kund", "Customer"))
    assert (feedback.rating, feedback.can_do_myself) == (4, True)
    assert (
        list(ContactEvent.objects.filter(contact=contact).values_list("kind", "at", "supporter_id"))
        == events_before
    )
    assert Offer.objects.filter(contact=contact).count() == offers_before
    assert Assignment.objects.filter(contact=contact).count() == assignments_before
    # No personal text hides in the events that stay.
    event_data = json.dumps(list(ContactEvent.objects.values_list("data", flat=True)))
    for text in (DESCRIPTION, HANDOVER, CUSTOMER_TEXT, NOTE_TEXT, COMMENT, key):
        assert text not in event_data
    # One audit entry for the run, with its counts.
    entry = AuditLogEntry.objects.get(action=AUDIT_ACTION)
    assert entry.actor is None and entry.contact is None
    assert entry.detail["contacts"] == 2 and entry.detail["messages"] == 3
    assert entry.detail["feedback_comments"] == 1 and entry.detail["batches"] == 1
    assert entry.detail["retention_days"] == RETENTION_DAYS
    assert entry.detail["cutoff"] == (now - timedelta(days=RETENTION_DAYS)).isoformat()


@pytest.mark.django_db
def test_callback_request_loses_its_phone_number(network):
    chat = routing.enqueue_contact(
        channel="chat",
        language="sv",
        municipality_code=HELSINKI_CODE,
        topic_slug=None,
        description=DESCRIPTION,
        consent=True,
    )
    callback = request_callback(contact=chat, callback_number="040 123 4567")
    assert callback.callback_number == "+358401234567"
    routing.abandon_contact(public_id=callback.public_id, reason="no_answer")
    for contact in (chat, callback):
        backdate(contact, ended_days=RETENTION_DAYS + 2, created_days=RETENTION_DAYS + 2)

    assert purge_expired().contacts == 2

    callback.refresh_from_db()
    assert callback.callback_number == "" and callback.description == ""
    assert callback.is_callback and callback.channel == "phone" and callback.language == "sv"
    assert callback.state == "abandoned" and callback.purged_at is not None
    chat.refresh_from_db()
    assert chat.description == "" and chat.purged_at is not None


# --- when -----------------------------------------------------------------------


@pytest.mark.django_db
def test_contact_ended_just_inside_the_period_is_kept():
    inside = bare_contact(ended_days=RETENTION_DAYS - 0.01, created_days=RETENTION_DAYS + 5)
    outside = bare_contact(ended_days=RETENTION_DAYS + 0.01, created_days=RETENTION_DAYS + 5)

    report = purge_expired()

    assert report.contacts == 1
    assert untouched(inside)
    outside.refresh_from_db()
    assert outside.purged_at is not None and outside.description == ""


@pytest.mark.django_db
@pytest.mark.parametrize("state", sorted(OPEN_STATES))
def test_open_contact_is_never_purged_however_old(state):
    # Even with a stray old ended_at: only a terminal state makes a contact purgeable.
    stray = bare_contact(state=state, ended_days=400, created_days=400)
    plain = bare_contact(state=state, ended_days=None, created_days=400)

    assert purge_expired().contacts == 0

    assert untouched(stray) and untouched(plain)
    assert not AuditLogEntry.objects.filter(action=AUDIT_ACTION).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["ended", "abandoned"])
def test_terminal_contact_without_end_time_counts_from_creation(state):
    old = bare_contact(state=state, ended_days=None, created_days=RETENTION_DAYS + 1)
    young = bare_contact(state=state, ended_days=None, created_days=RETENTION_DAYS - 1)

    assert purge_expired().contacts == 1

    old.refresh_from_db()
    assert old.purged_at is not None and not old.messages.exists()
    assert untouched(young)


@pytest.mark.django_db
def test_second_run_purges_nothing():
    contact = bare_contact(ended_days=RETENTION_DAYS + 3, created_days=RETENTION_DAYS + 3)
    first_now = timezone.now()
    assert purge_expired(now=first_now).contacts == 1

    again = purge_expired(now=first_now + timedelta(hours=1))

    assert (again.contacts, again.messages, again.feedback_comments, again.batches) == (0, 0, 0, 0)
    contact.refresh_from_db()
    assert contact.purged_at == first_now
    # A run that found nothing leaves no audit entry.
    assert AuditLogEntry.objects.filter(action=AUDIT_ACTION).count() == 1


@pytest.mark.django_db
def test_negative_retention_is_refused(settings):
    settings.TRANSCRIPT_RETENTION_DAYS = -1
    contact = bare_contact(ended_days=1, created_days=1)
    with pytest.raises(ValueError, match="TRANSCRIPT_RETENTION_DAYS"):
        purge_expired()
    assert untouched(contact)


# --- batches and concurrency ---------------------------------------------------------


@pytest.mark.django_db
def test_backlog_is_purged_in_batches():
    contacts = [
        bare_contact(ended_days=RETENTION_DAYS + 1 + i, created_days=RETENTION_DAYS + 10)
        for i in range(7)
    ]
    kept = bare_contact(ended_days=1, created_days=2)

    report = purge_expired(batch_size=3)

    assert (report.contacts, report.messages, report.batches) == (7, 7, 3)
    assert (
        Contact.objects.filter(pk__in=[c.pk for c in contacts], purged_at__isnull=True).count() == 0
    )
    assert untouched(kept)
    entries = AuditLogEntry.objects.filter(action=AUDIT_ACTION)
    assert [(e.detail["contacts"], e.detail["batches"]) for e in entries] == [(7, 3)]


@pytest.mark.django_db
def test_stop_request_ends_the_run_between_batches():
    for i in range(5):
        bare_contact(ended_days=RETENTION_DAYS + 1 + i, created_days=RETENTION_DAYS + 10)
    asked = []

    def stop_after_first_batch() -> bool:
        asked.append(True)
        return len(asked) > 1

    report = purge_expired(batch_size=2, should_stop=stop_after_first_batch)

    assert (report.contacts, report.batches) == (2, 1)
    assert Contact.objects.filter(purged_at__isnull=True).count() == 3


def _other_connection():
    """A second session on the test database, as another worker process would have."""
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s.get("USER") or None,
        password=s.get("PASSWORD") or None,
        host=s.get("HOST") or None,
        port=s.get("PORT") or None,
        autocommit=True,
    )


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_run_finding_another_purge_in_progress_stops_at_once():
    contact = bare_contact(ended_days=RETENTION_DAYS + 1, created_days=RETENTION_DAYS + 1)
    with _other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [PURGE_LOCK_KEY])
        report = purge_expired()
    assert report.busy and report.contacts == 0
    assert untouched(contact)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_held_by_another_writer_is_skipped_not_waited_for():
    held = bare_contact(ended_days=RETENTION_DAYS + 2, created_days=RETENTION_DAYS + 2)
    free = bare_contact(ended_days=RETENTION_DAYS + 1, created_days=RETENTION_DAYS + 1)
    with _other_connection() as other:
        with other.transaction():
            other.execute("SELECT id FROM helpdesk_contact WHERE id = %s FOR UPDATE", [held.pk])
            started = time.monotonic()
            report = purge_expired(batch_size=10)
            took = time.monotonic() - started
    assert took < 5 and report.contacts == 1
    free.refresh_from_db()
    assert free.purged_at is not None
    assert untouched(held)
    # Once the writer is done, the next run has it.
    assert purge_expired().contacts == 1


# --- the command ------------------------------------------------------------------


@pytest.mark.django_db
def test_command_dry_run_counts_and_changes_nothing():
    expired = [
        bare_contact(ended_days=RETENTION_DAYS + 1, created_days=RETENTION_DAYS + 1)
        for _ in range(2)
    ]
    Feedback.objects.create(contact=expired[0], rating=5, comment=COMMENT)
    out = io.StringIO()

    call_command("purge_expired_data", "--dry-run", stdout=out)

    assert "would purge contacts=2 messages=2 feedback_comments=1" in out.getvalue()
    assert all(untouched(c) for c in expired)
    assert Feedback.objects.get(contact=expired[0]).comment == COMMENT
    assert not AuditLogEntry.objects.filter(action=AUDIT_ACTION).exists()

    out = io.StringIO()
    call_command("purge_expired_data", "--batch-size", "1", stdout=out)

    assert "purged contacts=2 messages=2 feedback_comments=1" in out.getvalue()
    assert not Message.objects.filter(contact__in=expired).exists()
    assert AuditLogEntry.objects.get(action=AUDIT_ACTION).detail["batches"] == 2


# --- the timer in the worker --------------------------------------------------------------


async def _wait_for(predicate, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await sync_to_async(predicate)():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
async def test_lifespan_timer_runs_the_purge_and_stops_cleanly():
    contact = await sync_to_async(bare_contact)(
        ended_days=RETENTION_DAYS + 1, created_days=RETENTION_DAYS + 1
    )
    timer = RetentionPurgeTimer(interval_s=3600, first_delay_s=0)
    await timer.start()
    try:
        assert timer.running
        purged = await _wait_for(
            lambda: Contact.objects.filter(pk=contact.pk, purged_at__isnull=False).exists()
        )
        assert purged
        assert not await sync_to_async(Message.objects.filter(contact_id=contact.pk).exists)()
    finally:
        started = time.monotonic()
        await timer.stop()
    # Stopping wakes the thread out of its hour-long wait.
    assert time.monotonic() - started < 5
    assert not timer.running
    assert (timer.runs, timer.errors) == (1, 0)


def test_timer_survives_a_failing_purge():
    calls = []
    third_failure = threading.Event()

    def failing(**kwargs):
        calls.append(kwargs)
        if len(calls) >= 3:
            third_failure.set()
        raise RuntimeError("database is restarting")

    async def scenario():
        timer = RetentionPurgeTimer(interval_s=0.02, first_delay_s=0, purge=failing)
        await timer.start()
        await asyncio.get_running_loop().run_in_executor(None, third_failure.wait, 5)
        assert timer.running  # still there after every failure
        await timer.stop()
        return timer

    timer = asyncio.run(scenario())
    assert len(calls) >= 3 and timer.errors >= 3 and timer.runs == 0
    assert not timer.running
    # The purge is told to stop between batches when the worker stops.
    assert callable(calls[0]["should_stop"])


def test_timer_is_off_when_the_interval_is_zero(settings):
    settings.RETENTION_PURGE_EVERY_S = 0
    timer = RetentionPurgeTimer()

    asyncio.run(timer.start())

    assert not timer.running
    asyncio.run(timer.stop())  # a stop without a start is harmless


def test_timer_is_a_lifespan_hook_of_every_worker(settings):
    assert "helpdesk.retention_timer.RetentionPurgeTimer" in settings.LIFESPAN_HOOKS
    settings.LIFESPAN_HOOKS = ["helpdesk.retention_timer.RetentionPurgeTimer"]
    settings.RETENTION_PURGE_EVERY_S = 3600

    def purge_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "retention-purge"]

    async def lifespan() -> tuple[list[str], int]:
        inbox: asyncio.Queue = asyncio.Queue()
        sent: list[str] = []
        for kind in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": kind})
        alive_between = []

        async def receive():
            message = await inbox.get()
            if message["type"] == "lifespan.shutdown":
                alive_between.append(len(purge_threads()))
            return message

        async def send(message):
            sent.append(message["type"])

        await LifespanMiddleware(app=None)({"type": "lifespan"}, receive, send)
        return sent, alive_between[0]

    before = len(purge_threads())
    sent, alive = asyncio.run(lifespan())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert alive == before + 1
    assert len(purge_threads()) == before


# --- reading a purged contact ------------------------------------------------------------


@pytest.mark.django_db
def test_transcript_of_a_purged_contact_says_the_messages_were_deleted(client):
    contact = bare_contact(
        language="en", ended_days=RETENTION_DAYS + 1, created_days=RETENTION_DAYS + 1
    )
    now = timezone.now()
    purge_expired(now=now)
    token = make_contact_token(contact.public_id)

    response = client.get(
        f"/api/contacts/{contact.public_id}/transcript", HTTP_X_CONTACT_TOKEN=token
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert text.startswith("Digituki chat transcript\n")
    date = f"{timezone.localtime(now):%d.%m.%Y}"
    assert f"The messages of this conversation were deleted on {date}" in text
    assert CUSTOMER_TEXT not in text and DESCRIPTION not in text


@pytest.mark.django_db
def test_admin_page_of_a_purged_contact_shows_the_deletion_and_logs_no_read(client):
    admin = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    kept = bare_contact(ended_days=1, created_days=1)
    purged = bare_contact(ended_days=RETENTION_DAYS + 1, created_days=RETENTION_DAYS + 1)
    purge_expired()

    page = client.get(f"/admin/helpdesk/contact/{purged.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")

    assert page.status_code == 200
    html = page.content.decode()
    assert "personal data deleted" in html.lower()
    assert CUSTOMER_TEXT not in html and DESCRIPTION not in html
    assert not AuditLogEntry.objects.filter(contact=purged).exists()
    # A contact still within its period shows its transcript, and the read is logged.
    page = client.get(f"/admin/helpdesk/contact/{kept.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and CUSTOMER_TEXT in page.content.decode()
    assert AuditLogEntry.objects.filter(contact=kept, action="transcript_read_admin").exists()


@pytest.mark.django_db
def test_feedback_after_the_purge_is_refused():
    contact = bare_contact(ended_days=RETENTION_DAYS + 1, created_days=RETENTION_DAYS + 1)
    purge_expired()

    with pytest.raises(Conflict):
        submit_feedback(contact_id=contact.pk, rating=5, comment=COMMENT)

    assert not Feedback.objects.filter(contact=contact).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "promise"),
    [
        ("fi", "poistetaan automaattisesti 45 päivän kuluttua keskustelun päättymisestä"),
        ("sv", "raderas automatiskt 45 dagar efter att samtalet avslutats"),
        ("en", "are deleted automatically 45 days after the conversation ended"),
    ],
)
def test_privacy_notice_promises_the_configured_period(client, settings, language, promise):
    settings.TRANSCRIPT_RETENTION_DAYS = 45
    html = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert promise in html
