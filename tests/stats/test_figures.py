"""Figures from buckets: merged percentiles and small-cell suppression (no database)."""

from datetime import UTC, datetime

from helpdesk.stats.figures import (
    SMALL_CELL_MIN,
    Suppressor,
    Totals,
    answered_within,
    by_key,
    percentile_from_hist,
)
from helpdesk.stats.models import WAIT_BIN_EDGES_S, WAIT_BINS
from helpdesk.stats.rollup import wait_bin


def hist_of(waits):
    hist = [0] * WAIT_BINS
    for w in waits:
        hist[wait_bin(w)] += 1
    return hist


def row(region=1, arrivals=1, waits=(), **extra):
    base = {
        name: 0
        for name in Totals.__slots__
        if name not in ("wait_hist", "abandon_wait_hist", "ratings", "regions")
    }
    base.update(
        region_id=region,
        arrivals=arrivals,
        answered=len(waits),
        wait_sum_s=sum(waits),
        wait_hist=hist_of(waits),
        abandon_wait_hist=[0] * WAIT_BINS,
        ratings=[0] * 5,
        hour_start=datetime(2026, 10, 5, 7, tzinfo=UTC),
    )
    base.update(extra)
    return base


def test_percentiles_merge_across_buckets_within_one_bin():
    a = hist_of([5] * 50)
    b = hist_of([100] * 50)
    merged = [x + y for x, y in zip(a, b, strict=True)]
    assert percentile_from_hist(merged, 0.5) <= 10
    p90 = percentile_from_hist(merged, 0.9)
    assert 90 <= p90 <= 120
    assert percentile_from_hist([0] * WAIT_BINS, 0.5) is None
    assert percentile_from_hist(hist_of([10**5]), 0.5) == WAIT_BIN_EDGES_S[-1]


def test_answered_within_counts_up_to_the_edge():
    assert answered_within(hist_of([10, 60, 61, 200]), 60) == 2


def test_small_groups_are_hidden_outside_own_regions():
    t = Totals()
    for _ in range(SMALL_CELL_MIN - 1):
        t.add(row(region=1, waits=[30]))
    assert Suppressor(frozenset())(t) is True
    assert Suppressor(frozenset({1}))(t) is False
    figures = t.figures(suppress=True)
    assert figures["suppressed"] and figures["arrivals"] is None and figures["wait_p50_s"] is None
    t.add(row(region=1, waits=[30]))
    assert Suppressor(frozenset())(t) is False


def test_a_group_spanning_own_and_other_regions_is_hidden_when_small():
    t = Totals()
    t.add(row(region=1))
    t.add(row(region=2))
    assert Suppressor(frozenset({1}))(t) is True


def test_by_key_hides_small_groups_and_their_share():
    rows = [row(region=1, topic_id=7) for _ in range(6)] + [row(region=1, topic_id=8)]
    out = {r["key"]: r for r in by_key(rows, "topic_id", Suppressor(frozenset()), {7: "A", 8: "B"})}
    assert out[7]["arrivals"] == 6 and out[7]["share"] == round(6 / 7, 4)
    assert out[8]["suppressed"] and out[8]["arrivals"] is None and out[8]["share"] is None
