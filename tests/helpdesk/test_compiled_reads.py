"""helpdesk.compiled_reads: SQL built once, data read afresh at every call."""

from __future__ import annotations

import pytest
from django.db.models import Exists, OuterRef
from django.utils import timezone

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


def test_instances_come_with_their_relations_like_select_related(
    reference_data, django_assert_num_queries
):
    from helpdesk.compiled_reads import CompiledInstances
    from helpdesk.models import Contact, Topic

    supporter = make_supporter(providers=[make_provider()])
    served = Contact.objects.create(
        channel="chat",
        language="sv",
        state="active",
        supporter=supporter,
        topic=Topic.objects.first(),
        pseudonym="Asiakas 1",
    )
    alone = Contact.objects.create(channel="chat", language="fi", state="waiting", pseudonym="A 2")
    read = CompiledInstances(
        Contact, lambda pk: Contact.objects.filter(pk=pk), related=("supporter", "topic")
    )
    for contact in (served, alone):
        expected = Contact.objects.select_related("supporter", "topic").get(pk=contact.pk)
        with django_assert_num_queries(1):
            [got] = read(contact.pk)
            assert got.supporter == expected.supporter and got.topic == expected.topic
            if got.supporter is not None:
                assert got.supporter.display_name == supporter.display_name
        for field in Contact._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(expected, field.attname), field
    assert read(10**9) == []
    with pytest.raises(ValueError):
        CompiledInstances(
            Supporter, lambda pk: Supporter.objects.filter(pk=pk), related=("skills",)
        )


def test_string_and_uuid_keys(reference_data):
    """Sessions are read by their key and contacts by their public id."""
    import uuid

    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from helpdesk.models import Contact

    store = SessionStore()
    store["n"] = 1
    store.create()
    by_key = CompiledRead(
        lambda key: (
            SessionStore.get_model_class()
            .objects.filter(session_key=key)
            .values_list("session_key", "expire_date")
        ),
        key=str,
    )
    [(key, expires)] = by_key(store.session_key)
    assert key == store.session_key and expires > timezone.now()
    assert by_key("x" * 32) == []

    contact = Contact.objects.create(channel="chat", language="fi", state="waiting")
    by_public_id = CompiledRead(
        lambda public_id: Contact.objects.filter(public_id=public_id).values_list("pk", "state"),
        key=uuid.UUID,
    )
    assert by_public_id(contact.public_id) == [(contact.pk, "waiting")]
    Contact.objects.filter(pk=contact.pk).update(state="abandoned")
    assert by_public_id(contact.public_id) == [(contact.pk, "abandoned")]
    assert by_public_id(uuid.uuid4()) == []
    # A key of another kind is refused, not compared as text.
    for read, wrong in ((by_key, 1), (by_public_id, str(contact.public_id))):
        with pytest.raises(TypeError):
            read(wrong)
    with pytest.raises(TypeError):
        CompiledRead(_providers, key=float)
    # auth_user's id is a 32-bit column: its reads compile too.
    user = User.objects.create(username="compiled-read")
    by_id = CompiledRead(lambda pk: User.objects.filter(pk=pk).values_list("username"), key=int)
    assert by_id(user.pk) == [("compiled-read",)]


def test_a_statement_to_run_elsewhere_is_the_reads_own(reference_data):
    from django.db import connection

    provider = make_provider()
    supporter = make_supporter(providers=[provider])
    plain = CompiledRead(
        lambda pk: Provider.objects.filter(supporters=pk).order_by("id").values_list("id", "slug")
    )
    sql, params = plain.statement(supporter.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert [tuple(r) for r in cursor.fetchall()] == plain(supporter.pk)
    assert plain.statement(10**9) != (sql, params)  # bound to the key given
    with pytest.raises(TypeError):
        plain.statement(str(supporter.pk))
    # Rows that need the ORM's converters (JSON here) are read by the ORM only.
    assert CompiledRead(_providers).statement(supporter.pk) is None


def test_planned_once_per_connection_on_postgresql_and_still_logged(reference_data):
    """Bound on the server, a read is prepared after a few runs; the query log sees each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert connection.vendor == "postgresql", "the test suite runs on PostgreSQL"
    supporter = make_supporter(providers=[make_provider()])
    read = CompiledRead(
        lambda pk: Supporter.objects.filter(pk=pk).values_list("id", "presence", "kind")
    )
    sql, _ = read.statement(supporter.pk)
    threshold = connection.connection.prepare_threshold
    assert threshold is not None, "settings ask psycopg to prepare (DB_PREPARE_THRESHOLD)"

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
                [sql.replace("%s", "$1")],
            )
            return cursor.fetchone()[0]

    assert prepared() == 0
    with CaptureQueriesContext(connection) as queries:
        for _ in range(threshold + 1):
            assert read(supporter.pk) == [(supporter.pk, supporter.presence, supporter.kind)]
    assert prepared() == 1
    assert len(queries) == threshold + 1
    # Prepared, it still reads what is there now.
    Supporter.objects.filter(pk=supporter.pk).update(presence="away")
    assert read(supporter.pk)[0][1] == "away"


@pytest.fixture
def embedded_sqlite():
    """An in-memory SQLite database beside the test's own, as `make serve` runs on."""
    from django.db import connections
    from django.db.backends.sqlite3.base import DatabaseWrapper

    from helpdesk.models import Contact, Topic

    alias = "compiled-reads-sqlite"
    settings = connections.configure_settings(
        {
            "default": connections["default"].settings_dict,
            alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        }
    )[alias]
    connections[alias] = DatabaseWrapper(settings, alias)
    with connections[alias].schema_editor() as editor:
        editor.create_model(Contact)
        editor.create_model(Topic)
    # Only these tables are here, not all that contacts refer to.
    with connections[alias].cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys = OFF")
    yield alias
    connections[alias].close()
    del connections[alias]


def test_uuid_keys_on_a_database_without_a_uuid_type(embedded_sqlite, transactional_db):
    """SQLite stores a UUID as its hex string: the key goes in in that form."""
    import uuid

    from helpdesk.models import Contact

    contact = Contact.objects.using(embedded_sqlite).create(
        channel="chat", language="fi", state="waiting"
    )
    by_public_id = CompiledRead(
        lambda public_id: Contact.objects.filter(public_id=public_id).values_list("pk", "state"),
        key=uuid.UUID,
    )
    assert by_public_id(contact.public_id, using=embedded_sqlite) == [(contact.pk, "waiting")]
    assert by_public_id(uuid.uuid4(), using=embedded_sqlite) == []
    # The customer socket's opening read, as the embedded default runs it.
    from realtime.consumers.customer import _open_row

    [row] = _open_row(contact.public_id, using=embedded_sqlite)
    assert row[:2] == (contact.pk, contact.public_id)
