"""helpdesk.compiled_reads: SQL built once, data read afresh at every call."""

from __future__ import annotations

import pytest
from django.db.models import Exists, OuterRef

from helpdesk.compiled_reads import CompiledRead
from helpdesk.models import Provider, RoleGrant, Supporter
from tests.factories import make_provider, make_supporter

pytestmark = pytest.mark.django_db


def _providers(supporter_id: int):
    return (
        Provider.objects.filter(supporters=supporter_id)
        .order_by("id")
        .values_list("id", "slug", "channels")
    )


def test_the_same_rows_as_the_orm_and_never_stale_data(reference_data):
    read = CompiledRead(_providers)
    first, second = make_provider(), make_provider()
    supporter = make_supporter(providers=[first, second])
    assert read(supporter.pk) == list(_providers(supporter.pk))
    assert [pk for pk, _, _ in read(supporter.pk)] == [first.pk, second.pk]
    # Only the SQL is kept: a supporter removed from a provider is seen at once.
    supporter.providers.remove(first)
    assert [pk for pk, _, _ in read(supporter.pk)] == [second.pk]
    assert read(10**9) == []


def test_values_come_converted_like_the_orms(reference_data):
    def row(user_id: int):
        grants = RoleGrant.objects.filter(user_id=OuterRef("user_id"))
        return (
            Supporter.objects.filter(user_id=user_id)
            .annotate(granted=Exists(grants))
            .values_list("languages", "presence_changed_at", "granted")
        )

    supporter = make_supporter(providers=[make_provider()], languages=["fi", "sv"])
    [(languages, changed, granted)] = CompiledRead(row)(supporter.user_id)
    assert (languages, changed, granted) == (["fi", "sv"], supporter.presence_changed_at, False)
    assert granted is False


def test_what_it_cannot_run_right_is_refused_when_compiled(reference_data):
    flat = CompiledRead(lambda pk: Provider.objects.filter(pk=pk).values_list("id", flat=True))
    instances = CompiledRead(lambda pk: Provider.objects.filter(pk=pk))
    keyless = CompiledRead(lambda pk: Provider.objects.filter(pk=1).values_list("id"))
    misordered = CompiledRead(
        lambda pk: (
            Supporter.objects.filter(pk=pk)
            .annotate(granted=Exists(RoleGrant.objects.filter(user_id=OuterRef("user_id"))))
            .values_list("granted", "presence")
        )
    )
    for read in (flat, instances, keyless, misordered):
        with pytest.raises(ValueError):
            read(1)
    with pytest.raises(TypeError):
        CompiledRead(_providers)("1")
