"""Measured online time: sampled at each rollup, per region, only live supporters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.models import Region, Supporter
from helpdesk.stats.models import OnlineMinutes
from helpdesk.stats.presence import MAX_SAMPLE_GAP, online_hours, sample_presence
from tests.factories import make_provider, make_supporter

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 10, 5, 10, 30, tzinfo=UTC)


def test_online_supporters_add_minutes_to_the_regions_they_serve(reference_data):
    both = make_provider(regions=["12"], municipalities=["297"])  # 297: Kuopio, region 11
    one = make_provider(regions=["12"])
    first = make_supporter(providers=[both, one], presence="available", last_heartbeat=NOW)
    make_supporter(providers=[one], presence="busy", last_heartbeat=NOW - timedelta(seconds=5))
    make_supporter(providers=[one], presence="away", last_heartbeat=NOW)
    make_supporter(providers=[one], presence="available", last_heartbeat=NOW - timedelta(hours=1))
    national = make_provider(is_national=True, regions=["19"])
    make_supporter(providers=[national], presence="available", last_heartbeat=NOW)

    assert sample_presence(now=NOW, previous=NOW - timedelta(minutes=5)) == 2
    pk, ps = Region.objects.get(code="12"), Region.objects.get(code="11")
    minutes = dict(OnlineMinutes.objects.values_list("region__code", "minutes"))
    # The first supporter counts once in region 12 although two providers serve it.
    assert minutes == {"12": 10.0, "11": 5.0}
    # Five minutes on, only heartbeats that are still fresh count.
    Supporter.objects.filter(pk=first.pk).update(last_heartbeat=NOW + timedelta(minutes=5))
    sample_presence(now=NOW + timedelta(minutes=5), previous=NOW)
    hour = NOW.replace(minute=0)
    # Region 12: 10 minutes, then the first supporter's 5 (the 4th is an hour stale).
    assert online_hours(region_id=pk.pk, start=hour, end=hour + timedelta(hours=1)) == {
        hour: round(15 / 60, 3)
    }
    assert online_hours(region_id=ps.pk, start=hour, end=hour + timedelta(hours=1))[hour] == round(
        10 / 60, 3
    )


def test_a_long_gap_counts_as_the_cap_and_no_previous_run_counts_nothing(reference_data):
    provider = make_provider(regions=["12"])
    make_supporter(providers=[provider], presence="available", last_heartbeat=NOW)
    assert sample_presence(now=NOW, previous=None) == 0
    assert not OnlineMinutes.objects.exists()
    sample_presence(now=NOW, previous=NOW - timedelta(hours=6))
    assert OnlineMinutes.objects.get().minutes == MAX_SAMPLE_GAP.total_seconds() / 60
