"""Contact creation's statements (routing/intake.py) write what the ORM wrote, in three queries.

`orm_enqueue` below is the ORM version of the lookups and inserts that
enqueue_contact ran before routing/intake.py, kept here as the oracle: the
same inputs through it and through `services.enqueue_contact` must give the
same Contact and ContactEvent rows (ids, the random public id and pseudonym
aside; the clock is frozen), and the same errors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from helpdesk.models import Contact, ContactEvent, Municipality, Provider, Topic
from helpdesk.models.contacts import ContactState
from helpdesk.services.errors import InvalidInput
from routing import services, store
from routing.models import Workflow
from routing.workflows import ensure_default_workflows
from tests.routing.test_services import HELSINKI_CODE, JOENSUU_CODE, build_network

NOW = datetime.fromisoformat("2026-11-30T10:15:00+00:00")
PSEUDONYM = "Asiakas 1234"
# Fields that differ between any two creations whatever the path.
UNIQUE = {"id", "public_id"}


def orm_enqueue(**kwargs) -> Contact:
    """enqueue_contact's lookups and inserts as the ORM wrote them (the oracle)."""
    args = {
        "description": "",
        "customer_key": "",
        "entry_provider_slug": None,
        "is_callback": False,
        "callback_number": "",
        "refuse_unknown_municipality": False,
        **kwargs,
    }
    code = services._municipality_code(args["municipality_code"])
    municipality = None
    if code:
        municipality = (
            Municipality.objects.select_related("region__development_area")
            .filter(code=code)
            .first()
        )
    if municipality is None and code and args["refuse_unknown_municipality"]:
        raise InvalidInput("Unknown municipality code.")
    topic = None
    if args["topic_slug"] not in (None, ""):
        topic = Topic.objects.filter(slug=args["topic_slug"].strip()).first()
        if topic is None:
            raise InvalidInput("Unknown topic.")
    entry = None
    if args["entry_provider_slug"]:
        entry = Provider.objects.filter(slug=args["entry_provider_slug"], active=True).first()
        if entry is None:
            raise InvalidInput("Unknown provider.")
    region = municipality.region if municipality else None
    now = NOW
    with transaction.atomic():
        if region is None:
            workflow = Workflow.objects.filter(is_national_first_line=True).first()
        else:
            found = Workflow.objects.filter(Q(region=region) | Q(is_default=True))
            workflow = next((w for w in found if w.region_id == region.pk), None)
            workflow = workflow or next(w for w in found if w.is_default)
        preferred = None
        key = args["customer_key"]
        if key:
            preferred = (
                Contact.objects.filter(
                    customer_key=key,
                    created_at__gte=now - services.RETURNING_WINDOW,
                    supporter__isnull=False,
                )
                .order_by("-created_at")
                .values_list("supporter_id", flat=True)
                .first()
            )
        callback = args["is_callback"]
        contact = Contact.objects.create(
            channel=args["channel"],
            language=args["language"],
            municipality=municipality,
            region=region,
            topic=topic,
            description=services.mask_customer_text(args["description"].strip()),
            state=ContactState.WAITING,
            priority=services.CALLBACK_PRIORITY if callback else 0,
            is_callback=bool(callback),
            callback_number=args["callback_number"] if callback else "",
            customer_key=key,
            pseudonym=PSEUDONYM,
            entry_provider=entry,
            workflow=workflow,
            step_index=0,
            step_started_at=now,
            waiting_since=now,
            preferred_supporter_id=preferred,
            consent_at=now,
        )
        data = {
            "channel": args["channel"],
            "language": args["language"],
            "callback": bool(callback),
            "returning": preferred is not None,
        }
        store.save_events(
            [
                store.event(
                    contact.pk, "created", at=now, provider_id=entry and entry.pk, data=data
                ),
                store.event(
                    contact.pk, "queued", at=now, step_index=0, data={"workflow": workflow.pk}
                ),
            ]
        )
    return contact


def _rows(contact: Contact) -> tuple[dict, list[dict]]:
    row = Contact.objects.filter(pk=contact.pk).values().get()
    events = list(
        ContactEvent.objects.filter(contact_id=contact.pk)
        .order_by("id")
        .values("kind", "at", "actor_id", "supporter_id", "provider_id", "step_index", "data")
    )
    return {k: v for k, v in row.items() if k not in UNIQUE}, events


@pytest.fixture
def frozen():
    with (
        mock.patch("django.utils.timezone.now", return_value=NOW),
        mock.patch.object(services, "_pseudonym", return_value=PSEUDONYM),
        mock.patch.object(services, "_kick_after_commit"),
    ):
        yield


@pytest.fixture
def setup(reference_data, settings, frozen):
    network = build_network(settings)
    # Pohjois-Karjala has a workflow of its own; Uusimaa takes the default one.
    karjala = Municipality.objects.get(code=JOENSUU_CODE).region
    own = Workflow.objects.create(name="Karjala's own", region=karjala)
    widget = Provider.objects.create(slug="widget-lib", name="Widget library", kind="library")
    Provider.objects.create(slug="closed-lib", name="Closed", kind="library", active=False)
    return network, own, widget


CASES = {
    "region default workflow": dict(municipality_code=HELSINKI_CODE),
    "region's own workflow": dict(municipality_code=JOENSUU_CODE, language="sv"),
    "code with its zero dropped": dict(municipality_code="91"),
    "no municipality: national first line": dict(municipality_code=None),
    "unknown code, not refused: national": dict(municipality_code="999"),
    "topic and description (masked)": dict(
        municipality_code=HELSINKI_CODE,
        topic_slug="banking",
        description="  my card 4111 1111 1111 1111 fails  ",
    ),
    "entry provider": dict(municipality_code=None, entry_provider_slug="widget-lib"),
    "callback": dict(
        channel="phone",
        municipality_code=JOENSUU_CODE,
        is_callback=True,
        callback_number="+358 40 123 4567",
    ),
    "returning customer": dict(municipality_code=HELSINKI_CODE, customer_key="k" * 64),
    "new customer key": dict(municipality_code=HELSINKI_CODE, customer_key="fresh"),
}


@pytest.mark.parametrize("case", CASES)
def test_the_same_rows_as_the_orm(setup, case):
    network, _own, _widget = setup
    # An earlier served contact of the returning customer, inside the window.
    served = orm_enqueue(
        channel="chat",
        language="fi",
        municipality_code=None,
        topic_slug=None,
        consent=True,
        customer_key="k" * 64,
    )
    Contact.objects.filter(pk=served.pk).update(
        supporter=network.anna, created_at=NOW - timedelta(hours=2)
    )
    args = {"channel": "chat", "language": "fi", "topic_slug": None, "consent": True}
    args.update(CASES[case])
    expected = orm_enqueue(**args)
    made = services.enqueue_contact(**args)
    assert _rows(made) == _rows(expected)
    assert made.pk and made.public_id != expected.public_id
    if case == "returning customer":
        assert made.preferred_supporter_id == network.anna.pk
    # What the API's answer reads off the returned contact, with no query.
    with CaptureQueriesContext(connection) as queries:
        assert (made.topic.slug if made.topic_id else None) == args["topic_slug"]
        assert made.state == ContactState.WAITING and made.next_seq == 1
    assert len(queries) == 0


ERRORS = {
    "unknown code, refused": (
        dict(municipality_code="999", refuse_unknown_municipality=True),
        "Unknown municipality code.",
    ),
    "unknown topic": (dict(topic_slug="no-such-topic"), "Unknown topic."),
    "blank topic": (dict(topic_slug="   "), "Unknown topic."),
    "unknown provider": (dict(entry_provider_slug="nobody"), "Unknown provider."),
    "inactive provider": (dict(entry_provider_slug="closed-lib"), "Unknown provider."),
    # Checked in this order: the municipality first, then the topic.
    "unknown code and topic": (
        dict(municipality_code="998", refuse_unknown_municipality=True, topic_slug="nope"),
        "Unknown municipality code.",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_the_same_refusals_as_the_orm_and_nothing_written(setup, settings, case):
    settings.LANGUAGE_CODE = "en"
    given, message = ERRORS[case]
    args = {"channel": "chat", "language": "fi", "municipality_code": HELSINKI_CODE}
    args.update({"topic_slug": None, "consent": True, **given})
    before = (Contact.objects.count(), ContactEvent.objects.count())
    with pytest.raises(InvalidInput) as orm:
        orm_enqueue(**args)
    with pytest.raises(InvalidInput) as new:
        services.enqueue_contact(**args)
    assert new.value.message == orm.value.message == message
    assert (Contact.objects.count(), ContactEvent.objects.count()) == before


def test_creation_is_one_lookup_and_two_inserts(setup):
    """The query count a regression would change (savepoints of the test's transaction aside)."""
    with CaptureQueriesContext(connection) as queries:
        services.enqueue_contact(
            channel="chat",
            language="fi",
            municipality_code=HELSINKI_CODE,
            topic_slug="banking",
            consent=True,
            customer_key="someone",
            entry_provider_slug="widget-lib",
        )
    statements = [
        q["sql"].split(None, 1)[0].upper()
        for q in queries.captured_queries
        if "SAVEPOINT" not in q["sql"].upper()
    ]
    assert statements == ["SELECT", "INSERT", "INSERT"]


def test_missing_workflows_are_made_as_before(reference_data, frozen):
    """A fresh installation has no workflows yet: the first contact creates them."""
    Workflow.objects.all().delete()
    contact = services.enqueue_contact(
        channel="chat",
        language="fi",
        municipality_code=HELSINKI_CODE,
        topic_slug=None,
        consent=True,
    )
    default, national = ensure_default_workflows()
    assert contact.workflow_id == default.pk
    loose = services.enqueue_contact(
        channel="chat", language="fi", municipality_code=None, topic_slug=None, consent=True
    )
    assert loose.workflow_id == national.pk
