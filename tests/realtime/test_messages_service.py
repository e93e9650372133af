"""The message service: the only writer of Message."""

import threading

import pytest
from django.db import connection

from helpdesk.models import Contact, Message
from helpdesk.services import messages
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from realtime.masking import REPLACEMENT
from tests.factories import make_supporter
from tests.realtime.helpers import make_pair

pytestmark = pytest.mark.django_db


def test_customer_message_gets_seq_and_is_stored():
    _, _, contact = make_pair()
    result = messages.post_message(contact_id=contact.pk, client_msg_id="c1", body="Hei")
    assert (result.seq, result.masked, result.duplicate) == (1, False, False)
    assert result.contact == str(contact.public_id)
    row = Message.objects.get(contact=contact)
    assert (row.seq, row.author_kind, row.body, row.client_msg_id) == (1, "customer", "Hei", "c1")
    contact.refresh_from_db()
    assert contact.next_seq == 2


def test_resend_is_idempotent():
    _, _, contact = make_pair()
    first = messages.post_message(contact_id=contact.pk, client_msg_id="c1", body="Hei")
    again = messages.post_message(contact_id=contact.pk, client_msg_id="c1", body="Hei")
    assert again.duplicate and again.seq == first.seq == 1
    assert Message.objects.filter(contact=contact).count() == 1
    nxt = messages.post_message(contact_id=contact.pk, client_msg_id="c2", body="Toinen")
    assert nxt.seq == 2  # the resend did not use up a number


def test_order_and_authors():
    _, supporter, contact = make_pair()
    messages.post_message(contact_id=contact.pk, client_msg_id="a", body="1")
    messages.post_message(contact_id=contact.pk, client_msg_id="b", body="2", supporter=supporter)
    messages.post_message(
        contact_id=contact.pk, client_msg_id="n", body="note", supporter=supporter, kind="note"
    )
    messages.post_message(contact_id=contact.pk, client_msg_id="c", body="3")
    replay = messages.replay(contact_id=contact.pk, after_seq=0, for_customer=False)
    assert [m["seq"] for m in replay.messages] == [1, 2, 3, 4]
    assert [m["author"] for m in replay.messages] == [
        "customer",
        "supporter",
        "supporter",
        "customer",
    ]
    assert replay.messages[1]["author_name"] == supporter.display_name
    customer = messages.replay(contact_id=contact.pk, after_seq=1, for_customer=True)
    assert [m["seq"] for m in customer.messages] == [2, 4]  # the note is not for the customer
    assert customer.last_seq == 4
    upto = messages.replay(contact_id=contact.pk, after_seq=0, for_customer=False, up_to=2)
    assert [m["seq"] for m in upto.messages] == [1, 2] and upto.last_seq == 2


def test_masking_before_storage():
    _, supporter, contact = make_pair()
    result = messages.post_message(
        contact_id=contact.pk, client_msg_id="c1", body="hetuni on 131052-308T"
    )
    assert result.masked and result.masked_kinds == ("hetu",)
    row = Message.objects.get(contact=contact)
    assert "131052" not in row.body and REPLACEMENT in row.body
    assert row.masked and row.payload == {"masked": ["hetu"]}
    # a supporter's bare six digits are not a one-time code
    sup = messages.post_message(
        contact_id=contact.pk, client_msg_id="s1", body="tiketti 123456", supporter=supporter
    )
    assert not sup.masked


def test_only_parties_post():
    provider, supporter, contact = make_pair()
    other = make_supporter(providers=[provider])
    with pytest.raises(NotAllowed):
        messages.post_message(contact_id=contact.pk, client_msg_id="x", body="hi", supporter=other)
    with pytest.raises(NotAllowed):
        messages.post_message(contact_id=contact.pk, client_msg_id="y", body="hi", kind="note")
    with pytest.raises(NotFound):
        messages.post_message(contact_id=10**9, client_msg_id="z", body="hi")
    assert not Message.objects.exists()
    assert Contact.objects.get(pk=contact.pk).next_seq == 1


def test_waiting_contact_customer_may_post_supporter_may_not():
    _, supporter, contact = make_pair(state="waiting")
    assert messages.post_message(contact_id=contact.pk, client_msg_id="c", body="odotan").seq == 1
    with pytest.raises(NotAllowed):
        messages.post_message(
            contact_id=contact.pk, client_msg_id="s", body="x", supporter=supporter
        )


def test_ended_contact_is_conflict_but_resend_still_acks():
    _, _, contact = make_pair()
    messages.post_message(contact_id=contact.pk, client_msg_id="c1", body="Hei")
    Contact.objects.filter(pk=contact.pk).update(state="ended")
    with pytest.raises(Conflict):
        messages.post_message(contact_id=contact.pk, client_msg_id="c2", body="Vielä")
    assert messages.post_message(contact_id=contact.pk, client_msg_id="c1", body="Hei").duplicate


def test_client_id_of_other_author_is_conflict():
    _, supporter, contact = make_pair()
    messages.post_message(contact_id=contact.pk, client_msg_id="same", body="Hei")
    with pytest.raises(Conflict):
        messages.post_message(
            contact_id=contact.pk, client_msg_id="same", body="Hei", supporter=supporter
        )


@pytest.mark.parametrize(
    ("client_msg_id", "body", "code"),
    [
        ("", "hi", "invalid"),
        ("x" * 65, "hi", "invalid"),
        (None, "hi", "invalid"),
        ("c", "   ", "invalid"),
        ("c", None, "invalid"),
        ("c", "x" * 4001, "too_large"),
    ],
)
def test_bad_input(client_msg_id, body, code):
    _, _, contact = make_pair()
    with pytest.raises(InvalidInput) as info:
        messages.post_message(contact_id=contact.pk, client_msg_id=client_msg_id, body=body)
    assert info.value.code == code


def test_mark_read_moves_forward_only_and_not_past_the_end():
    _, supporter, contact = make_pair()
    for i in range(3):
        messages.post_message(contact_id=contact.pk, client_msg_id=f"c{i}", body="x")
    assert (
        messages.mark_read(contact_id=contact.pk, read_seq=2, delivered_seq=3, supporter=supporter)
        == 2
    )
    assert (
        messages.mark_read(contact_id=contact.pk, read_seq=1, delivered_seq=3, supporter=supporter)
        == 2
    )
    assert messages.mark_read(contact_id=contact.pk, read_seq=99, delivered_seq=3) == 3
    with pytest.raises(InvalidInput):
        messages.mark_read(contact_id=contact.pk, read_seq=-1, delivered_seq=0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posters_get_distinct_consecutive_seqs():
    _, supporter, contact = make_pair()
    threads, per_thread, errors = 6, 15, []

    def post(n: int) -> None:
        try:
            for i in range(per_thread):
                messages.post_message(
                    contact_id=contact.pk,
                    client_msg_id=f"t{n}-{i}",
                    body=f"{n}/{i}",
                    supporter=supporter if n % 2 else None,
                )
                # every other thread also resends, which must not use up a number
                if i % 5 == 0:
                    messages.post_message(
                        contact_id=contact.pk,
                        client_msg_id=f"t{n}-{i}",
                        body=f"{n}/{i}",
                        supporter=supporter if n % 2 else None,
                    )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=post, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    seqs = sorted(Message.objects.filter(contact=contact).values_list("seq", flat=True))
    assert seqs == list(range(1, threads * per_thread + 1))
    assert Contact.objects.get(pk=contact.pk).next_seq == threads * per_thread + 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_store_statement_is_prepared_once_per_connection_on_postgresql():
    # Django leaves psycopg's preparation off; settings turn it on for the
    # chat store alone, so PostgreSQL plans the insert once, not per message.

    def prepared() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), coalesce(sum(generic_plans + custom_plans), 0) "
                "FROM pg_prepared_statements WHERE statement LIKE %s",
                # the customer's statement (a supporter's has another guard)
                ["WITH s AS (UPDATE helpdesk_contact SET next_seq%state NOT IN%"],
            )
            return cursor.fetchone()

    _, _, contact = make_pair()
    messages.post_message(contact_id=contact.pk, client_msg_id="p0", body="Hei")
    statements, executions = prepared()
    for n in range(1, 4):
        messages.post_message(contact_id=contact.pk, client_msg_id=f"p{n}", body="Hei")
    assert prepared() == (statements, executions + 3) and statements == 1
    assert list(Message.objects.filter(contact=contact).values_list("seq", flat=True)) == [
        1,
        2,
        3,
        4,
    ]
