"""helpdesk.db_batch: statements sent together give the rows the ORM gives, in one trip."""

from __future__ import annotations

import pytest
from django.db.models import Count

from helpdesk.db_batch import Raw, RoundTrips, fetch_together
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
        together = fetch_together(*reads, Raw("SELECT %s::int + 1", [41]))
    assert together == [list(r) for r in _reads(supporters)] + [[(42,)]]
    assert isinstance(together[0][0]["channels"], list)  # converted as values() does
    assert trips.count == 1 and trips.statements == 5


def test_writes_are_seen_by_the_reads_after_them(reference_data):
    provider = make_provider()
    with RoundTrips() as trips:
        _, (slug,) = fetch_together(
            Raw("UPDATE helpdesk_provider SET slug = %s WHERE id = %s", ["renamed", provider.pk]),
            Provider.objects.filter(pk=provider.pk).values_list("slug", flat=True),
        )
    assert slug == "renamed" and trips.count == 1


def test_statements_outside_a_batch_count_one_each(reference_data):
    make_provider()
    with RoundTrips() as trips:
        list(Provider.objects.values_list("id"))
        list(Supporter.objects.values_list("id"))
    assert trips.count == trips.statements == 2
