"""Claims across OS processes on PostgreSQL: exactly one winner, nothing lost.

Each worker is a separate process (multiprocessing, spawn) that calls
django.setup() against the same test database, so the races below are between
real database sessions, as between ASGI workers in production. This module
imports Django only inside functions: the spawned workers import it before
Django is set up.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
from collections import Counter
from urllib.parse import quote

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- worker side -------------------------------------------------------------


def _init_worker(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = ""  # events go nowhere; this test is about the database
    os.environ["ROUTING_OFFER_TIMEOUT_S"] = "2"
    os.environ["ROUTING_TICKER_ENABLED"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()


def _at(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def _race_threads(start_at: float, jobs: list) -> list[str]:
    """Run the jobs in threads released at the same instant; 'won' or an error code."""
    from django.db import connection

    results: list[str] = []
    lock = threading.Lock()

    def run(job):
        try:
            connection.ensure_connection()
            _at(start_at)
            try:
                job()
                outcome = "won"
            except Exception as exc:  # the typed service errors carry a code
                outcome = getattr(exc, "code", type(exc).__name__)
            with lock:
                results.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _pick_worker(args) -> list[str]:
    public_id, supporter_ids, start_at = args
    from helpdesk.models import Supporter
    from routing.services import pick_contact

    supporters = list(Supporter.objects.select_related("user").filter(pk__in=supporter_ids))
    jobs = [(lambda s=s: pick_contact(public_id=public_id, supporter=s)) for s in supporters]
    return _race_threads(start_at, jobs)


def _accept_worker(args) -> list[str]:
    offer_id, supporter_id, start_at = args
    from helpdesk.models import Supporter
    from routing.services import accept_offer

    supporter = Supporter.objects.select_related("user").get(pk=supporter_id)
    return _race_threads(start_at, [lambda: accept_offer(offer_id=offer_id, supporter=supporter)])


def _chaos_worker(args) -> dict:
    """One console process: its supporters take, decline, drop out and finish contacts.

    Reads are plain queries for speed; every write goes through the services.
    """
    supporter_ids, seed, quota, settle_s = args
    from helpdesk.models import Assignment, Contact, Offer, Supporter
    from helpdesk.services.errors import ServiceError
    from routing import services

    rng = random.Random(seed)
    stats = {"accepted": 0, "picked": 0, "declined": 0, "offline": 0, "ended": 0, "conflicts": 0}
    stats["rounds"] = 0
    created: list[int] = []
    deadline = time.time() + 120
    supporters = {
        s.pk: s for s in Supporter.objects.select_related("user").filter(pk__in=supporter_ids)
    }
    for s in supporters.values():
        services.set_presence(supporter=s, presence="available")
    offline: dict[int, float] = {}
    last_heartbeat = time.time()

    def attempt(key, action, **kwargs):
        try:
            action(**kwargs)
            stats[key] += 1
        except ServiceError:
            stats["conflicts"] += 1

    municipalities = ["091", "049", "167", None]
    while time.time() < deadline:
        # Customers keep arriving (in every process) while the consoles work.
        for _ in range(min(8, quota - len(created))):
            contact = services.enqueue_contact(
                channel="chat",
                language=rng.choice(["fi", "fi", "sv", "en"]),
                municipality_code=municipalities[len(created) % 4],
                topic_slug=None,
                consent=True,
            )
            created.append(contact.pk)
            if len(created) == quota:
                deadline = time.time() + settle_s
        if services.dispatch() is not None:
            stats["rounds"] += 1
        now = time.time()
        for sid, back_at in list(offline.items()):
            if now >= back_at:
                del offline[sid]
                services.set_presence(supporter=supporters[sid], presence="available")
        if now - last_heartbeat > 5:
            for sid in set(supporters) - set(offline):
                services.heartbeat(supporter=supporters[sid])
            last_heartbeat = now
        offers = Offer.objects.filter(state="pending", supporter_id__in=list(supporters))
        for offer_id, sid in offers.values_list("pk", "supporter_id"):
            if sid in offline:
                continue
            s, roll = supporters[sid], rng.random()
            if roll < 0.7:
                attempt("accepted", services.accept_offer, offer_id=offer_id, supporter=s)
            elif roll < 0.85:
                attempt("declined", services.decline_offer, offer_id=offer_id, supporter=s)
            elif roll < 0.92:
                services.set_presence(supporter=s, presence="offline")
                offline[sid] = time.time() + rng.uniform(0.2, 1.5)
                stats["offline"] += 1
            # else: ignore it and let it expire
        if rng.random() < 0.3:
            # Grab a waiting contact by id, racing routing and the other processes.
            waiting = list(
                Contact.objects.filter(state__in=("waiting", "offered"))
                .order_by("?")
                .values_list("public_id", flat=True)[:1]
            )
            free = [sid for sid in supporters if sid not in offline]
            if waiting and free:
                s = supporters[rng.choice(free)]
                attempt("picked", services.pick_contact, public_id=waiting[0], supporter=s)
        serving = Assignment.objects.filter(
            ended_at__isnull=True, supporter_id__in=list(supporters)
        )
        for public_id, sid in serving.values_list("contact__public_id", "supporter_id"):
            if rng.random() < 0.5:
                s = supporters[sid]
                attempt(
                    "ended",
                    services.end_contact,
                    public_id=public_id,
                    supporter=s,
                    outcome="solved",
                )
    for s in supporters.values():
        services.set_presence(supporter=s, presence="offline")
    from django.db import connection

    connection.close()
    stats["created"] = created
    return stats


# --- test side ---------------------------------------------------------------


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    user = quote(s.get("USER") or "")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def pool():
    """Four spawned processes on the test database (PostgreSQL: see the `postgres` marker)."""
    ctx = multiprocessing.get_context("spawn")
    workers = ctx.Pool(processes=4, initializer=_init_worker, initargs=(_database_url(),))
    try:
        yield workers
    finally:
        workers.terminate()
        workers.join()


def _bulk_supporters(providers, n: int, *, capacity_chat: int = 3) -> list[int]:
    from django.contrib.auth import get_user_model

    from helpdesk.models import Supporter

    User = get_user_model()
    stamp = int(time.time() * 1000) % 10**8
    users = User.objects.bulk_create(
        [User(username=f"race-{stamp}-{i}", password="!") for i in range(n)]
    )
    supporters = Supporter.objects.bulk_create(
        [
            Supporter(
                user=u,
                kind="volunteer" if i % 2 else "staff",
                display_name=f"S{i}",
                languages=["fi", "sv", "en"],
                capacity_chat=capacity_chat,
            )
            for i, u in enumerate(users)
        ]
    )
    through = Supporter.providers.through
    through.objects.bulk_create(
        [
            through(supporter_id=s.pk, provider_id=providers[i % len(providers)].pk)
            for i, s in enumerate(supporters)
        ]
    )
    return [s.pk for s in supporters]


def _providers():
    from routing.workflows import ensure_default_workflows
    from tests.factories import make_provider

    ensure_default_workflows()
    return [
        make_provider(name="Uusimaa", regions=["01"]),
        make_provider(name="Karjala", regions=["12"]),
        make_provider(name="National", is_national=True),
    ]


def test_fifty_supporters_pick_the_same_contact(reference_data, pool):
    from helpdesk.models import Assignment, ContactEvent
    from routing.services import enqueue_contact

    providers = _providers()
    ids = _bulk_supporters(providers[:1], 50)
    contact = enqueue_contact(
        channel="chat", language="fi", municipality_code="091", topic_slug=None, consent=True
    )
    start_at = time.time() + 4.0
    chunks = [(contact.public_id, ids[i::4], start_at) for i in range(4)]
    results = [r for chunk in pool.map(_pick_worker, chunks) for r in chunk]
    assert len(results) == 50
    assert results.count("won") == 1, results
    assert set(results) - {"won"} <= {"conflict"}
    assert Assignment.objects.filter(contact=contact).count() == 1
    assert ContactEvent.objects.filter(contact=contact, kind="picked").count() == 1
    contact.refresh_from_db()
    assert contact.state == "active"


def test_one_offer_accepted_from_five_processes(reference_data, pool):
    from helpdesk.models import Assignment, Offer
    from routing.services import dispatch, enqueue_contact, set_presence

    providers = _providers()
    (sid,) = _bulk_supporters(providers[:1], 1)
    from helpdesk.models import Supporter

    set_presence(supporter=Supporter.objects.get(pk=sid), presence="available")
    contact = enqueue_contact(
        channel="chat", language="fi", municipality_code="091", topic_slug=None, consent=True
    )
    dispatch()
    offer = Offer.objects.get(contact=contact, state="pending")
    start_at = time.time() + 4.0
    results = [
        r
        for chunk in pool.map(_accept_worker, [(offer.pk, sid, start_at)] * 5, chunksize=1)
        for r in chunk
    ]
    assert sorted(results) == ["conflict"] * 4 + ["won"], results
    assert Assignment.objects.filter(contact=contact).count() == 1


def test_random_traffic_loses_nothing_and_never_double_assigns(reference_data, pool):
    from helpdesk.models import Assignment, Contact, ContactEvent, Offer
    from routing import store

    providers = _providers()
    supporter_ids = _bulk_supporters(providers, 100, capacity_chat=2)
    chunks = [(supporter_ids[i::4], i, 125, 8.0) for i in range(4)]
    stats = pool.map(_chaos_worker, chunks)
    created = [pk for s in stats for pk in s.pop("created")]
    totals = {k: sum(s[k] for s in stats) for k in stats[0]}
    print(f"chaos: {len(created)} contacts, {len(supporter_ids)} supporters: {totals}")
    # Enough happened for the race to mean something, whatever the machine's load.
    assert totals["accepted"] + totals["picked"] > 40 and totals["rounds"] > 10
    assert totals["declined"] > 0 and totals["offline"] > 0 and totals["ended"] > 0

    # Never vanished: every contact is still there, in a known state.
    states = dict(Contact.objects.filter(pk__in=created).values_list("pk", "state"))
    assert len(states) == 500
    assert set(states.values()) <= {"waiting", "offered", "active", "ended"}
    # Never double-assigned. (At most one active assignment per contact is a
    # unique index; what the races can still break is checked here.) Nothing
    # here transfers or re-queues, so the event trail, which every claim
    # writes in the transaction of its assignment, must show each contact
    # taken into service exactly once if it was served, and never otherwise;
    # the assignment rows must agree one to one, and every ended contact was
    # ended exactly once, after it was taken.
    trail: dict[int, list[str]] = {pk: [] for pk in created}
    for contact_id, kind in (
        ContactEvent.objects.filter(contact_id__in=created)
        .order_by("at", "id")
        .values_list("contact_id", "kind")
    ):
        trail[contact_id].append(kind)
    assigned = Counter(
        Assignment.objects.filter(contact_id__in=created).values_list("contact_id", flat=True)
    )
    for pk, state in states.items():
        taken = [k for k in trail[pk] if k in ("accepted", "picked")]
        served = state in ("active", "ended")
        assert len(taken) == (1 if served else 0), (pk, state, trail[pk])
        assert assigned[pk] == len(taken), (pk, trail[pk])
        if state == "ended":
            assert trail[pk].count("ended") == 1
            assert trail[pk].index("ended") > trail[pk].index(taken[0]), trail[pk]
    assert store.overlapping_assignments() == 0
    active = set(
        Assignment.objects.filter(ended_at__isnull=True).values_list("contact_id", flat=True)
    )
    assert active == {pk for pk, state in states.items() if state == "active"}
    pending = list(Offer.objects.filter(state="pending").values_list("contact_id", flat=True))
    assert len(pending) == len(set(pending))
    assert set(pending) <= {pk for pk, state in states.items() if state == "offered"}
    # The event trail agrees: one start (accepted/picked) per assignment.
    starts = ContactEvent.objects.filter(kind__in=("accepted", "picked")).count()
    assert starts == Assignment.objects.count()
    ends = ContactEvent.objects.filter(kind="ended").count()
    assert ends == Assignment.objects.filter(ended_at__isnull=False).count()
