"""Chat messages: the only writer of Message, and the reads that replay them.

A message is stored before it is acknowledged (docs/protocol.md). Its
sequence number comes from an atomic `UPDATE contact SET next_seq = next_seq
+ 1 ... RETURNING`, which also checks in the same statement that the author
may post (the contact is open; a supporter is the one serving it). On
PostgreSQL the UPDATE and the INSERT are one statement (a data-modifying CTE)
in autocommit: one round trip and no BEGIN/COMMIT on the hot path. The row
lock the UPDATE takes serialises concurrent posters on one contact, which
makes the sequence numbers distinct and consecutive. A resend of a known
client id allocates nothing and returns the original acknowledgement.

Raw SQL here on purpose: the ORM would need several round trips per message.
Other databases (SQLite, 3.35+ for RETURNING) take the two-statement path.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from helpdesk.models import Contact, Message
from helpdesk.models.contacts import IN_SERVICE_STATES, TERMINAL_STATES
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound
from realtime.events import contact_group, publish_on_commit
from realtime.masking import mask

if TYPE_CHECKING:
    from helpdesk.models import Supporter

log = logging.getLogger(__name__)

CUSTOMER = Message.Author.CUSTOMER.value
SUPPORTER = Message.Author.SUPPORTER.value
SUPPORTER_KINDS = frozenset(
    {Message.Kind.TEXT, Message.Kind.NOTE, Message.Kind.ARTICLE, Message.Kind.FILE}
)
# Kind "file" is posted only by helpdesk/services/attachments.py, after its checks.
CUSTOMER_KINDS = frozenset({Message.Kind.TEXT, Message.Kind.FILE})
MAX_CLIENT_MSG_ID = 64

_CONTACT = Contact._meta.db_table
_MESSAGE = Message._meta.db_table
_TERMINAL = tuple(sorted(TERMINAL_STATES))
_IN_SERVICE = tuple(sorted(IN_SERVICE_STATES))


@dataclass(frozen=True, slots=True)
class PostResult:
    """What the sender's acknowledgement needs; `duplicate` marks an idempotent resend."""

    contact: str
    client_msg_id: str
    seq: int
    masked: bool
    masked_kinds: tuple[str, ...] = ()
    duplicate: bool = False
    message: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Replay:
    """Messages after a cursor, and the highest sequence number the contact had then."""

    last_seq: int
    messages: list[dict[str, Any]]


class _Duplicate(Exception):
    pass


def message_to_dict(
    *,
    seq: int,
    author_kind: str,
    author_name: str,
    kind: str,
    body: str,
    payload: Any,
    created_at: datetime | str,
) -> dict[str, Any]:
    """The `message` object of message.new frames (docs/protocol.md)."""
    if isinstance(payload, str):
        payload = json.loads(payload or "{}")
    if isinstance(created_at, datetime):
        created_at = created_at.isoformat()
    return {
        "seq": seq,
        "author": author_kind,
        "author_name": author_name,
        "kind": kind,
        "body": body,
        "payload": payload or {},
        "created_at": created_at,
    }


def _public_id(value: Any) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _check_input(client_msg_id: Any, body: Any) -> None:
    if not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= MAX_CLIENT_MSG_ID:
        raise InvalidInput("client_msg_id must be a string of 1-64 characters")
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("body must be a non-empty string")
    if len(body) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"body is over {settings.CHAT_MAX_MESSAGE_CHARS} characters", code="too_large"
        )


def _guard(supporter: Supporter | None) -> tuple[str, list[Any]]:
    """Who may post, as a WHERE clause on the contact row."""
    if supporter is None:
        return "state NOT IN (%s, %s)", list(_TERMINAL)
    return "supporter_id = %s AND state IN (%s, %s)", [supporter.pk, *_IN_SERVICE]


_COLUMNS = (
    "contact_id, seq, author_kind, author_id, author_name, kind, body, payload, "
    "client_msg_id, masked, created_at"
)


@dataclass(slots=True)
class _Post:
    """A message checked, masked and laid out as a row, before it is stored."""

    contact_id: int
    client_msg_id: str
    supporter: Supporter | None
    kind: str
    author_kind: str
    author_name: str
    text: str
    payload: dict[str, Any]
    masked: bool
    masked_kinds: tuple[str, ...]
    created_at: datetime

    def row(self) -> list[Any]:
        return [
            self.author_kind,
            None if self.supporter is None else self.supporter.user_id,
            self.author_name,
            self.kind,
            self.text,
            json.dumps(self.payload),
            self.client_msg_id,
            self.masked,
            self.created_at,
        ]


def _one_statement(post: _Post) -> tuple[str, list[Any]]:
    """PostgreSQL, autocommit: allocate and insert in one round trip, no BEGIN/COMMIT.

    The UPDATE skips a known client id, so a resend does not use up a number;
    a resend racing its original makes the INSERT fail on the unique
    constraint, and the whole statement (the UPDATE too) rolls back.
    """
    guard, params = _guard(post.supporter)
    sql = (
        f"WITH s AS (UPDATE {_CONTACT} SET next_seq = next_seq + 1 "
        f"WHERE id = %s AND {guard} AND NOT EXISTS ("
        f"SELECT 1 FROM {_MESSAGE} WHERE contact_id = %s AND client_msg_id = %s) "
        f"RETURNING next_seq - 1 AS seq, public_id) "
        f"INSERT INTO {_MESSAGE} ({_COLUMNS}) "
        f"SELECT %s::bigint, s.seq, %s::varchar, %s::integer, %s::varchar, %s::varchar, "
        f"%s::text, %s::jsonb, %s::varchar, %s::boolean, %s::timestamptz FROM s "
        f"RETURNING seq, (SELECT public_id FROM s)"
    )
    contact_id = post.contact_id
    return sql, [contact_id, *params, contact_id, post.client_msg_id, contact_id, *post.row()]


def _store_in_one_statement(post: _Post) -> tuple[int, Any] | None:
    sql, params = _one_statement(post)
    # A prepared statement with server-side parameters, straight on psycopg:
    # PostgreSQL plans this CTE once per connection instead of on every
    # message (planning cost as much as running it), and no client-side
    # quoting. Django's error translation still applies. The connection's
    # prepare_threshold comes from settings (DB_PREPARE_THRESHOLD); where it
    # is off, psycopg ignores prepare=True and the statement runs unprepared.
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()


def _store_in_transaction(post: _Post) -> tuple[int, Any] | None:
    """Any database: the guarded UPDATE, then the INSERT, in one transaction."""
    contact_id = post.contact_id
    guard, params = _guard(post.supporter)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_CONTACT} SET next_seq = next_seq + 1 WHERE id = %s AND {guard} "
                f"RETURNING next_seq - 1, public_id",
                [contact_id, *params],
            )
            allocated = cursor.fetchone()
            if allocated is None:
                return None
            cursor.execute(
                f"INSERT INTO {_MESSAGE} ({_COLUMNS}) "
                f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (contact_id, client_msg_id) WHERE client_msg_id IS NOT NULL "
                f"DO NOTHING RETURNING id",
                [contact_id, allocated[0], *post.row()],
            )
            if cursor.fetchone() is None:
                raise _Duplicate  # roll the UPDATE back: the number stays free
    except _Duplicate:
        return None
    return allocated


def _existing_ack(
    *, contact_id: int, client_msg_id: str, supporter: Supporter | None
) -> PostResult | None:
    row = (
        Message.objects.filter(contact_id=contact_id, client_msg_id=client_msg_id)
        .values_list("seq", "masked", "author_kind", "author_id", "payload", "contact__public_id")
        .first()
    )
    if row is None:
        return None
    seq, masked, author_kind, author_id, payload, public_id = row
    same_author = (
        author_kind == CUSTOMER
        if supporter is None
        else author_kind == SUPPORTER and author_id == supporter.user_id
    )
    if not same_author:
        raise Conflict("client_msg_id already used by another author on this contact")
    kinds = tuple((payload or {}).get("masked", ()))
    return PostResult(
        contact=_public_id(public_id),
        client_msg_id=client_msg_id,
        seq=seq,
        masked=masked,
        masked_kinds=kinds,
        duplicate=True,
    )


def _refuse(*, contact_id: int, supporter: Supporter | None) -> None:
    """Explain why the guarded UPDATE matched nothing; always raises."""
    row = Contact.objects.filter(pk=contact_id).values_list("state", "supporter_id").first()
    if row is None:
        raise NotFound("contact not found")
    state, supporter_id = row
    if supporter is not None and supporter_id != supporter.pk:
        raise NotAllowed("only the supporter serving this contact may post")
    if state in TERMINAL_STATES:
        raise Conflict("the contact has ended")
    raise NotAllowed(f"cannot post while the contact is {state}")


def _prepare(
    contact_id: int,
    client_msg_id: str,
    body: str,
    supporter: Supporter | None,
    kind: str,
    payload: dict[str, Any] | None,
) -> _Post:
    _check_input(client_msg_id, body)
    if supporter is None and kind not in CUSTOMER_KINDS:
        raise NotAllowed("customers send text messages and pictures only")
    if supporter is not None and kind not in SUPPORTER_KINDS:
        raise InvalidInput(f"unknown message kind {kind!r}")
    result = mask(body, standalone_codes=supporter is None)
    payload = dict(payload or {})
    if result.masked:
        payload["masked"] = list(result.kinds)
    return _Post(
        contact_id=contact_id,
        client_msg_id=client_msg_id,
        supporter=supporter,
        kind=kind,
        author_kind=CUSTOMER if supporter is None else SUPPORTER,
        author_name="" if supporter is None else supporter.display_name,
        text=result.text,
        payload=payload,
        masked=result.masked,
        masked_kinds=result.kinds,
        created_at=timezone.now(),
    )


def _stored(post: _Post, seq: int, public_id: Any) -> tuple[PostResult, str, dict[str, Any]]:
    """The acknowledgement, and the message.new event with its group."""
    public_id = _public_id(public_id)
    message = message_to_dict(
        seq=seq,
        author_kind=post.author_kind,
        author_name=post.author_name,
        kind=post.kind,
        body=post.text,
        payload=post.payload,
        created_at=post.created_at,
    )
    result = PostResult(
        contact=public_id,
        client_msg_id=post.client_msg_id,
        seq=seq,
        masked=post.masked,
        masked_kinds=post.masked_kinds,
        message=message,
    )
    event = {"type": "message.new", "contact": public_id, "message": message}
    return result, contact_group(public_id), event


def post_message(
    *,
    contact_id: int,
    client_msg_id: str,
    body: str,
    supporter: Supporter | None = None,
    kind: str = Message.Kind.TEXT,
    payload: dict[str, Any] | None = None,
) -> PostResult:
    """Store one chat message and notify the contact's sockets after commit.

    `supporter` None means the customer holding the contact's token. Raises
    InvalidInput, NotFound, NotAllowed or Conflict; a resend of a stored
    `client_msg_id` returns the first acknowledgement and stores nothing.
    """
    post = _prepare(contact_id, client_msg_id, body, supporter, kind, payload)
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            allocated = _store_in_one_statement(post)
        else:
            allocated = _store_in_transaction(post)
    except IntegrityError:  # a concurrent resend of the same client id won the race
        allocated = None
    if allocated is None:
        existing = _existing_ack(
            contact_id=contact_id, client_msg_id=client_msg_id, supporter=supporter
        )
        if existing is not None:
            return existing
        _refuse(contact_id=contact_id, supporter=supporter)
    result, group, event = _stored(post, *allocated)
    # Stored and committed by now (or, inside a caller's transaction, sent
    # when that commits).
    publish_on_commit(group, event)
    return result


async def apost_message(
    *,
    contact_id: int,
    client_msg_id: str,
    body: str,
    supporter: Supporter | None = None,
    kind: str = Message.Kind.TEXT,
) -> tuple[PostResult, list[tuple[str, dict[str, Any]]]] | None:
    """The common case of `post_message` from the event loop, with no thread hop.

    The same checks and the same single statement, on the worker's async
    connection pool (helpdesk/db_async.py); returns the acknowledgement and
    the committed events for the caller to publish. Returns None whenever the
    statement stored nothing (a resend, a refusal, a race on the client id):
    the caller then asks `post_message`, which explains or acknowledges.
    """
    from helpdesk import db_async

    post = _prepare(contact_id, client_msg_id, body, supporter, kind, None)
    sql, params = _one_statement(post)
    try:
        allocated = await db_async.fetchone(sql, params)
    except psycopg.errors.UniqueViolation:
        return None
    if allocated is None:
        return None
    result, group, event = _stored(post, *allocated)
    return result, [(group, event)]


def replay(
    *,
    contact_id: int,
    after_seq: int,
    for_customer: bool,
    up_to: int | None = None,
    next_seq: int | None = None,
) -> Replay:
    """Messages with `after_seq < seq <= up_to` in order; notes only for supporters.

    `last_seq` is read before the messages: every message up to it is already
    committed (its seq and its row commit together), so a socket that sends
    this replay and then drops notifications with `seq <= last_seq` loses
    nothing and repeats nothing. `next_seq` is the contact's, when the caller
    has just read its row (that read then counts as the one before).
    """
    last_seq = next_seq
    if last_seq is None:
        last_seq = Contact.objects.filter(pk=contact_id).values_list("next_seq", flat=True).first()
    if last_seq is None:
        raise NotFound("contact not found")
    last_seq -= 1
    if up_to is not None:
        last_seq = min(last_seq, up_to)
    if last_seq <= max(after_seq, 0):
        return Replay(last_seq=last_seq, messages=[])  # nothing missed: no query
    rows = Message.objects.filter(
        contact_id=contact_id, seq__gt=max(after_seq, 0), seq__lte=last_seq
    )
    if for_customer:
        rows = rows.exclude(kind=Message.Kind.NOTE)
    messages = [
        message_to_dict(
            seq=r[0],
            author_kind=r[1],
            author_name=r[2],
            kind=r[3],
            body=r[4],
            payload=r[5],
            created_at=r[6],
        )
        for r in rows.order_by("seq").values_list(
            "seq", "author_kind", "author_name", "kind", "body", "payload", "created_at"
        )
    ]
    return Replay(last_seq=last_seq, messages=messages)


def mark_read(
    *,
    contact_id: int,
    read_seq: int,
    delivered_seq: int,
    supporter: Supporter | None = None,
) -> int:
    """Record how far one side has read and tell the other side; returns the stored value.

    The stored cursor only moves forward and never past the last message.
    """
    if isinstance(read_seq, bool) or not isinstance(read_seq, int) or read_seq < 0:
        raise InvalidInput("read_seq must be a non-negative integer")
    column = "customer_last_seen_seq" if supporter is None else "supporter_last_seen_seq"
    greatest, least = ("GREATEST", "LEAST") if connection.vendor == "postgresql" else ("MAX", "MIN")
    guard = "" if supporter is None else " AND supporter_id = %s"
    params: list[Any] = [read_seq, contact_id] + ([] if supporter is None else [supporter.pk])
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_CONTACT} SET {column} = {greatest}({column}, {least}(%s, next_seq - 1)) "
                f"WHERE id = %s{guard} RETURNING {column}, public_id",
                params,
            )
            row = cursor.fetchone()
        if row is None:
            _refuse(contact_id=contact_id, supporter=supporter)
        stored, public_id = row
        public_id = _public_id(public_id)
        publish_on_commit(
            contact_group(public_id),
            {
                "type": "message.receipt",
                "contact": public_id,
                "who": CUSTOMER if supporter is None else SUPPORTER,
                "delivered_seq": max(delivered_seq, stored),
                "read_seq": stored,
            },
        )
    return stored
