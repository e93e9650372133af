"""The rollup: ContactEvents and contacts into anonymous HourlyBuckets.

Incremental and idempotent. Each run reads the events and feedback added
since the cursor (and, again, those of the last few minutes: an event whose
id was drawn before the cursor moved may commit after it), collects the
arrival hours of the contacts they belong to, and recomputes those hours
whole from the contacts and their events: the hour's old buckets are deleted
and new ones written. A bucket is therefore always a pure function of the
database, so running twice changes nothing, and a late event (an `ended`
three hours after arrival, a feedback the next day) re-rolls exactly the
hour in which its contact arrived.

Every worker runs this on a timer (helpdesk/stats/timer.py) and
`manage.py rollup_stats` runs it by hand. The run holds a PostgreSQL advisory
transaction lock (helpdesk/db_locks.py), so two runs never overlap; a run
that finds it taken either skips (the timer) or waits its turn (the command).

Figures per contact (counted in its arrival hour):
- answered: it was accepted or picked by a supporter at least once; its wait
  is the `waited_s` of the first acceptance;
- abandoned: it ended `abandoned` before anyone answered; the abandon wait is
  from arrival to the abandon event;
- handle time: first acceptance to the end (ended/abandoned) of an answered
  contact; first response (chat): first acceptance to the first supporter
  message. Messages are deleted by the retention purge, so a rebuild after
  the retention period loses the first-response figure of purged contacts
  (every other figure stays, since it comes from events and contact fields).
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Min, Q
from django.db.models.fields.json import KT
from django.utils import timezone

from helpdesk.db_locks import exclusive_transaction
from helpdesk.models import Contact, ContactEvent, Feedback, Message
from helpdesk.stats.models import (
    WAIT_BIN_EDGES_S,
    HourlyBucket,
    RollupCursor,
    empty_hist,
    empty_ratings,
)
from helpdesk.stats.presence import sample_presence

log = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key of the rollup ("STAT" in ASCII).
ROLLUP_LOCK_KEY = 0x53544154
_local_rollup_lock = threading.Lock()
CURSOR_NAME = "contacts"
# Events younger than this are read again by the next run: a transaction that
# drew its event id before the cursor moved may commit a little later.
RESCAN_WINDOW = timedelta(minutes=5)
# Hours re-rolled per query batch; keeps the IN lists and memory bounded.
HOURS_PER_BATCH = 168
ANSWER_KINDS = ("accepted", "picked")
END_KINDS = ("ended", "abandoned")
OUTCOME_FIELDS = ("solved", "partly", "referred", "not_solved", "message_left")


@dataclass(frozen=True)
class RollupResult:
    ran: bool
    hours: int = 0
    buckets: int = 0
    contacts: int = 0
    seconds: float = 0.0


def hour_floor(value: datetime) -> datetime:
    """The start of the UTC hour containing `value` (Finland's offsets are whole hours)."""
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def wait_bin(seconds: float) -> int:
    """Index of the histogram bin holding `seconds` (bins are (edge[i-1], edge[i]])."""
    return bisect.bisect_left(WAIT_BIN_EDGES_S, max(0.0, seconds))


def rollup(
    *, wait: bool = False, rebuild: bool = False, now: datetime | None = None
) -> RollupResult:
    """Bring the buckets up to date with the event log; False-y `ran` when locked out.

    `wait` retries until the lock is free (the command); `rebuild` re-rolls
    every hour that has contacts.
    """
    started = time.monotonic()
    while True:
        with exclusive_transaction(ROLLUP_LOCK_KEY, _local_rollup_lock) as got:
            if got:
                result = _rollup_locked(rebuild=rebuild, now=now or timezone.now())
                return RollupResult(
                    ran=True,
                    hours=result[0],
                    buckets=result[1],
                    contacts=result[2],
                    seconds=time.monotonic() - started,
                )
        if not wait:
            log.info("stats rollup skipped: another process holds the lock")
            return RollupResult(ran=False)
        time.sleep(0.2)


def _rollup_locked(*, rebuild: bool, now: datetime) -> tuple[int, int, int]:
    cursor, _ = RollupCursor.objects.select_for_update().get_or_create(name=CURSOR_NAME)
    last_event = ContactEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    last_feedback = Feedback.objects.order_by("-id").values_list("id", flat=True).first() or 0
    if rebuild:
        hours = set(_all_arrival_hours())
        HourlyBucket.objects.all().delete()
    else:
        touched = _touched_contact_ids(cursor, last_event=last_event, last_feedback=last_feedback)
        hours = _arrival_hours(touched)
    hours_sorted = sorted(hours)
    buckets = contacts = 0
    for i in range(0, len(hours_sorted), HOURS_PER_BATCH):
        b, c = _reroll_hours(hours_sorted[i : i + HOURS_PER_BATCH])
        buckets += b
        contacts += c
    if not rebuild:
        sample_presence(now=now, previous=cursor.last_run_started)
    cursor.last_event_id = max(cursor.last_event_id, last_event)
    cursor.last_feedback_id = max(cursor.last_feedback_id, last_feedback)
    cursor.last_run_started = now
    cursor.last_run_finished = timezone.now()
    cursor.save()
    log.info(
        "stats rollup: %d hours re-rolled, %d buckets from %d contacts",
        len(hours_sorted),
        buckets,
        contacts,
    )
    return len(hours_sorted), buckets, contacts


def _touched_contact_ids(cursor: RollupCursor, *, last_event: int, last_feedback: int) -> set[int]:
    event_q = Q(id__gt=cursor.last_event_id, id__lte=last_event)
    feedback_q = Q(id__gt=cursor.last_feedback_id, id__lte=last_feedback)
    if cursor.last_run_started is not None:
        since = cursor.last_run_started - RESCAN_WINDOW
        event_q |= Q(at__gte=since, id__lte=last_event)
        feedback_q |= Q(created_at__gte=since, id__lte=last_feedback)
    ids = set(ContactEvent.objects.filter(event_q).values_list("contact_id", flat=True).distinct())
    ids.update(Feedback.objects.filter(feedback_q).values_list("contact_id", flat=True))
    return ids


def _arrival_hours(contact_ids: Iterable[int]) -> set[datetime]:
    ids = list(contact_ids)
    hours: set[datetime] = set()
    for i in range(0, len(ids), 5000):
        for created in Contact.objects.filter(pk__in=ids[i : i + 5000]).values_list(
            "created_at", flat=True
        ):
            hours.add(hour_floor(created))
    return hours


def _all_arrival_hours() -> Iterable[datetime]:
    seen: set[datetime] = set()
    for created in Contact.objects.values_list("created_at", flat=True).iterator(chunk_size=20000):
        h = hour_floor(created)
        if h not in seen:
            seen.add(h)
            yield h


def _hour_ranges_q(hours: list[datetime], field: str = "created_at") -> Q:
    """Contacts (or rows of contacts, with field="contact__created_at") arriving in `hours`."""
    q = Q()
    # Adjacent hours merge into one range, so a rebuild asks few ranges.
    start = prev = None
    for h in hours:
        if start is None:
            start = prev = h
        elif h == prev + timedelta(hours=1):
            prev = h
        else:
            q |= Q(**{f"{field}__gte": start, f"{field}__lt": prev + timedelta(hours=1)})
            start = prev = h
    if start is not None:
        q |= Q(**{f"{field}__gte": start, f"{field}__lt": prev + timedelta(hours=1)})
    return q


class _Cell:
    __slots__ = tuple(
        f.name
        for f in HourlyBucket._meta.concrete_fields
        if f.name not in ("id", "hour_start", "region", "provider", "channel", "topic", "language")
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)
        self.wait_hist = empty_hist()
        self.abandon_wait_hist = empty_hist()
        self.ratings = empty_ratings()

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)


def _reroll_hours(hours: list[datetime]) -> tuple[int, int]:
    """Recompute the buckets of these hours from scratch; (buckets, contacts)."""
    if not hours:
        return 0, 0
    window = _hour_ranges_q(hours)
    rows = list(
        Contact.objects.filter(window).values_list(
            "id",
            "created_at",
            "region_id",
            "provider_id",
            "entry_provider_id",
            "channel",
            "topic_id",
            "language",
            "state",
            "outcome",
        )
    )
    # Events, messages and feedback are selected by their contact's arrival
    # time (a join), not by lists of ids: no query grows with the batch.
    by_contact = _hour_ranges_q(hours, "contact__created_at")
    facts = _event_facts(by_contact)
    first_supporter_msg = _first_supporter_messages(by_contact)
    feedback = {
        cid: (rating, alone)
        for cid, rating, alone in Feedback.objects.filter(by_contact).values_list(
            "contact_id", "rating", "can_do_myself"
        )
    }
    cells: dict[tuple, _Cell] = defaultdict(_Cell)
    for cid, created, region, provider, entry, channel, topic, language, state, outcome in rows:
        key = (hour_floor(created), region, provider or entry, channel, topic, language or "fi")
        cell = cells[key]
        cell.arrivals += 1
        answered_at = facts.answered_at.get(cid)
        if answered_at is not None:
            cell.answered += 1
            waited = facts.waited_s.get(cid)
            if waited is None:
                waited = max(0.0, (answered_at - created).total_seconds())
            cell.wait_sum_s += waited
            cell.wait_hist[wait_bin(waited)] += 1
            end = facts.ended_at.get(cid)
            if end is not None and end >= answered_at:
                cell.handle_n += 1
                cell.handle_sum_s += (end - answered_at).total_seconds()
            first = first_supporter_msg.get(cid)
            if first is not None and first >= answered_at:
                cell.first_response_n += 1
                cell.first_response_sum_s += (first - answered_at).total_seconds()
        elif state == "abandoned":
            cell.abandoned += 1
            end = facts.ended_at.get(cid, created)
            waited = max(0.0, (end - created).total_seconds())
            cell.abandon_wait_sum_s += waited
            cell.abandon_wait_hist[wait_bin(waited)] += 1
        cell.transfers += facts.transfers.get(cid, 0)
        cell.escalations += facts.escalations.get(cid, 0)
        if outcome in OUTCOME_FIELDS:
            setattr(cell, outcome, getattr(cell, outcome) + 1)
        fb = feedback.get(cid)
        if fb is not None:
            rating, alone = fb
            if 1 <= rating <= 5:
                cell.ratings[rating - 1] += 1
            if alone:
                cell.can_do_alone += 1
    HourlyBucket.objects.filter(hour_start__in=hours).delete()
    values = [
        (hour, region, provider, channel, topic, language, *cell.values())
        for (hour, region, provider, channel, topic, language), cell in cells.items()
    ]
    _insert_buckets(values)
    return len(values), len(rows)


_DIMENSIONS = ("hour_start", "region_id", "provider_id", "channel", "topic_id", "language")
_JSON_FIELDS = frozenset({"wait_hist", "abandon_wait_hist", "ratings"})


def _insert_buckets(values: list[tuple]) -> None:
    """Write bucket rows fast: COPY on PostgreSQL, executemany elsewhere.

    The ORM's bulk_create spends most of a national rollup preparing
    hundreds of thousands of rows field by field; these rows are plain
    numbers, strings, times and JSON lists, so they go to the database as
    they are.
    """
    if not values:
        return
    table = connection.ops.quote_name(HourlyBucket._meta.db_table)
    columns = (*_DIMENSIONS, *_Cell.__slots__)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    json_at = [i for i, c in enumerate(columns) if c in _JSON_FIELDS]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in values:
                    row = list(row)
                    for i in json_at:
                        row[i] = json.dumps(row[i])
                    copy.write_row(row)
            return
        rows = []
        for row in values:
            row = list(row)
            for i in json_at:
                row[i] = json.dumps(row[i])
            rows.append(row)
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)


@dataclass
class _Facts:
    answered_at: dict[int, datetime]
    waited_s: dict[int, float]
    ended_at: dict[int, datetime]
    transfers: dict[int, int]
    escalations: dict[int, int]


def _event_facts(by_contact: Q) -> _Facts:
    facts = _Facts({}, {}, {}, defaultdict(int), defaultdict(int))
    kinds = (*ANSWER_KINDS, *END_KINDS, "transferred", "escalated")
    events = (
        ContactEvent.objects.filter(by_contact, kind__in=kinds)
        .annotate(waited=KT("data__waited_s"))
        .values_list("contact_id", "kind", "at", "waited")
        .order_by()
    )
    for cid, kind, at, waited in events.iterator(chunk_size=20000):
        if kind in ANSWER_KINDS:
            first = facts.answered_at.get(cid)
            if first is None or at < first:
                facts.answered_at[cid] = at
                facts.waited_s.pop(cid, None)
                try:
                    facts.waited_s[cid] = max(0.0, float(waited))
                except (TypeError, ValueError):
                    pass  # no usable waited_s: the wait is taken from the times
        elif kind in END_KINDS:
            first = facts.ended_at.get(cid)
            if first is None or at < first:
                facts.ended_at[cid] = at
        elif kind == "transferred":
            facts.transfers[cid] += 1
        else:
            facts.escalations[cid] += 1
    return facts


def _first_supporter_messages(by_contact: Q) -> dict[int, datetime]:
    return dict(
        Message.objects.filter(by_contact, author_kind="supporter", contact__channel="chat")
        .exclude(kind="note")
        .values("contact_id")
        .annotate(first=Min("created_at"))
        .values_list("contact_id", "first")
        .order_by()
    )
