"""helpdesk.db_batch: statements sent together give the rows the ORM gives, in one trip."""

from __future__ import annotations

import pytest
from django.db.models import Count

from helpdesk.db_batch import Raw, RoundTrips, fetch_gated, fetch_together, pipelined
from helpdesk.models import Provider, Supporter
from tests.factories import make_provider, make_supporter

pytestmark = pytest.mark.django_db


def _reads(supporter_ids: list[int]):
    return (
        Provider.objects.order_by("id").values("id", "slug", "channels", "languages"),
        Provider.objects.order_by("id").values_list("slug", "id"),  # not the compiler's order
        Supporter.objects.filter(pk__in=supporter_ids).order_by("id").values_list("id", flat=True),
        Supporter.objects.filter(pk__in=supporter_ids)
        .values_list("presence")
        .annotate(n=Count("id"))
        .order_by("presence"),
        Supporter.objects.filter(pk__in=[]).values_list("id"),  # matches nothing, runs nothing
    )


def test_the_same_rows_as_the_orm_in_one_round_trip(reference_data):
    provider = make_provider()
    make_provider(is_national=True)
    supporters = [make_supporter(providers=[provider]).pk for _ in range(3)]
    reads = _reads(supporters)
    with RoundTrips() as trips:
        together = fetch_together(*reads, Raw("SELECT %s + 1", [41]))
    assert together == [list(r) for r in _reads(supporters)] + [[(42,)]]
    assert isinstance(together[0][0]["channels"], list)  # converted as values() does
    # One trip on PostgreSQL; elsewhere one per statement that runs.
    assert trips.statements == 5 and trips.count == (1 if pipelined() else 5)


def test_writes_are_seen_by_the_reads_after_them(reference_data):
    provider = make_provider()
    with RoundTrips() as trips:
        _, (slug,) = fetch_together(
            Raw("UPDATE helpdesk_provider SET slug = %s WHERE id = %s", ["renamed", provider.pk]),
            Provider.objects.filter(pk=provider.pk).values_list("slug", flat=True),
        )
    assert slug == "renamed" and trips.count == (1 if pipelined() else 2)


def test_gated_reads_run_only_where_the_gate_holds(reference_data):
    provider = make_provider()
    reads = (
        Provider.objects.filter(pk=provider.pk).values_list("id", flat=True),
        Provider.objects.values("id").annotate(n=Count("supporters")).filter(pk=provider.pk),
    )
    with RoundTrips() as trips:
        opened = fetch_gated(Raw("SELECT %s > 0", [1]), *reads)
    assert opened == (True, [[provider.pk], [{"id": provider.pk, "n": 0}]])
    assert trips.count == (1 if pipelined() else 3)
    with RoundTrips() as trips:
        shut = fetch_gated(Raw("SELECT %s > 0", [0]), *reads)
    assert shut == (False, [[], []])
    assert trips.count == 1


def test_a_gate_that_says_no_runs_nothing_of_the_reads(reference_data):
    # Would divide by zero if it ran (random() keeps the planner from folding it).
    failing = Raw("SELECT 1 / CAST(random() * 0 AS integer) AS n")
    assert fetch_gated(Raw("SELECT %s > 0", [0]), failing) == (False, [[]])


def test_statements_outside_a_batch_count_one_each(reference_data):
    make_provider()
    with RoundTrips() as trips:
        list(Provider.objects.values_list("id"))
        list(Supporter.objects.values_list("id"))
    assert trips.count == trips.statements == 2
