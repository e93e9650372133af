"""The rollup: idempotent, incremental, late events land in their contact's arrival hour."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from helpdesk.models import ContactEvent, Feedback
from helpdesk.stats.models import WAIT_BIN_EDGES_S, HourlyBucket, RollupCursor
from helpdesk.stats.rollup import hour_floor, rollup, wait_bin
from helpdesk.stats.simulator import simulate_traffic

from .conftest import BASE, make_contact, snapshot

pytestmark = pytest.mark.django_db


def test_wait_bins_put_edges_in_the_lower_bin():
    assert wait_bin(0) == 0
    assert wait_bin(10) == 0
    assert wait_bin(10.5) == 1
    assert wait_bin(60) == WAIT_BIN_EDGES_S.index(60)
    assert wait_bin(10**6) == len(WAIT_BIN_EDGES_S)


def test_counts_answered_abandoned_waits_and_handle_time(region):
    make_contact(created=BASE + timedelta(minutes=5), region=region, answered_after_s=30)
    make_contact(created=BASE + timedelta(minutes=10), region=region, answered_after_s=90)
    make_contact(created=BASE + timedelta(minutes=20), region=region, abandoned_after_s=200)
    result = rollup()
    assert result.ran and result.contacts == 3
    bucket = HourlyBucket.objects.get(hour_start=BASE)
    assert (bucket.arrivals, bucket.answered, bucket.abandoned) == (3, 2, 1)
    assert bucket.wait_sum_s == 120
    assert bucket.wait_hist[wait_bin(30)] == 1 and bucket.wait_hist[wait_bin(90)] == 1
    assert bucket.abandon_wait_hist[wait_bin(200)] == 1
    assert (bucket.handle_n, bucket.handle_sum_s) == (2, 600)
    assert bucket.solved == 2
    assert bucket.region_id == region.pk and bucket.channel == "chat"


def test_running_twice_and_rebuilding_give_identical_buckets(reference_data):
    simulate_traffic(weeks=1, seed=3, region_codes=["12"], end=BASE)
    rollup()
    first = snapshot()
    assert first, "the simulation wrote no contacts"
    rollup()
    assert snapshot() == first
    rollup(rebuild=True)
    assert snapshot() == first
    call_command("rollup_stats", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert snapshot() == first


def test_a_late_event_updates_its_contacts_arrival_hour(region):
    contact = make_contact(created=BASE, region=region, answered_after_s=None)
    make_contact(created=BASE + timedelta(hours=3), region=region)
    rollup()
    before = HourlyBucket.objects.get(hour_start=BASE)
    assert (before.answered, before.abandoned) == (0, 0)
    later = HourlyBucket.objects.get(hour_start=BASE + timedelta(hours=3))
    untouched = snapshot()

    # Written long after the cursor moved on, dated three hours later.
    ContactEvent.objects.create(
        contact=contact, kind="abandoned", at=BASE + timedelta(hours=3, minutes=1)
    )
    contact.state = "abandoned"
    contact.save(update_fields=["state"])
    result = rollup()
    assert result.hours == 1
    after = HourlyBucket.objects.get(hour_start=BASE)
    assert after.abandoned == 1 and after.arrivals == 1
    assert after.abandon_wait_sum_s == 3 * 3600 + 60
    # The hour the event is dated in is not where the contact is counted.
    assert HourlyBucket.objects.get(hour_start=BASE + timedelta(hours=3)).pk == later.pk
    assert snapshot() != untouched


def test_late_feedback_is_counted(region):
    contact = make_contact(created=BASE, region=region)
    rollup()
    assert HourlyBucket.objects.get(hour_start=BASE).ratings == [0, 0, 0, 0, 0]
    Feedback.objects.create(contact=contact, rating=4, can_do_myself=True)
    rollup()
    bucket = HourlyBucket.objects.get(hour_start=BASE)
    assert bucket.ratings == [0, 0, 0, 1, 0]
    assert bucket.can_do_alone == 1


def test_cursor_moves_to_the_last_event(region):
    make_contact(created=BASE, region=region)
    rollup()
    last = ContactEvent.objects.order_by("-id").first().id
    assert RollupCursor.objects.get().last_event_id == last
    assert rollup().hours == 0


def test_buckets_are_per_hour_of_arrival(region):
    make_contact(created=BASE + timedelta(minutes=59), region=region)
    make_contact(created=BASE + timedelta(minutes=60), region=region)
    rollup()
    hours = sorted(HourlyBucket.objects.values_list("hour_start", flat=True))
    assert hours == [BASE, BASE + timedelta(hours=1)]
    assert hour_floor(BASE + timedelta(minutes=59)) == BASE
