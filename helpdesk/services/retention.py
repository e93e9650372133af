"""The retention purge: a finished contact's personal content goes, its statistics stay.

The privacy notice (templates/helpdesk/privacy/) promises that conversations,
descriptions and phone numbers are deleted TRANSCRIPT_RETENTION_DAYS after the
conversation ended (docs/architecture.md section 5). This module keeps that
promise; every worker runs it on a timer (helpdesk/retention_timer.py) and
`manage.py purge_expired_data` runs it from cron.

Field by field, for a terminal contact past its retention period:

- Contact: description, callback_number, handover_note and customer_key are
  emptied; preferred_supporter is cleared, since it was looked up through the
  customer key and links the person's contacts to each other. Channel,
  language, municipality, region, topic, state, outcome, priority, the
  callback flag, providers, supporter, workflow step, timestamps and the
  random pseudonym stay: statistics need them and they name nobody.
  purged_at records when, so a second run skips the contact.
- Message: the rows are deleted (bodies, payloads, names shown, internal
  notes). Once a contact is over, only its transcript reads them, and the
  transcript is exactly what must go; blanked rows would keep nothing useful
  and still cost space.
- Attachment: pictures and PDFs sent in the chat, rows and files (the files
  once the batch commits, so a rolled-back batch leaves them in place).
- Feedback: the comment is emptied; rating and can_do_myself stay.
- ContactEvent, Offer, Assignment: kept whole. They hold ids, states and
  times; event data holds codes and flags only (a transfer records has_note,
  never the note itself).
- AuditLogEntry: kept. The record of who read a transcript must outlive it.

Work goes in batches, each its own short transaction, so a large backlog
never holds locks for long. Each batch takes a PostgreSQL advisory lock
first, the way the routing round does (routing/store.py): two processes
purging at once (every worker runs the timer) do not both do the work; the
one that finds the lock taken stops and leaves the rest to the holder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from helpdesk.db_locks import exclusive_transaction
from helpdesk.models import AuditLogEntry, Contact, Feedback, Message
from helpdesk.models.contacts import TERMINAL_STATES
from helpdesk.services.attachments import delete_for_contacts as delete_attachments

log = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key of the purge ("PURG" in ASCII); distinct from
# routing's dispatch lock so that a purge never delays a routing round.
PURGE_LOCK_KEY = 0x50555247
_local_purge_lock = threading.Lock()
AUDIT_ACTION = "retention_purge"
# Contacts, messages and feedback comments purged by one batch.
_Counts = tuple[int, int, int]


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    contacts: int = 0
    messages: int = 0
    feedback_comments: int = 0
    batches: int = 0
    dry_run: bool = False
    # Another process held the purge lock; it finishes what this run left.
    busy: bool = False


def retention_cutoff(now: datetime) -> datetime:
    days = settings.TRANSCRIPT_RETENTION_DAYS
    if days < 0:
        raise ValueError(f"TRANSCRIPT_RETENTION_DAYS must not be negative (is {days})")
    return now - timedelta(days=days)


def expired_contacts(cutoff: datetime) -> QuerySet[Contact]:
    """Terminal contacts not yet purged whose retention period ended before `cutoff`.

    A terminal contact without ended_at (an import, an old bug) counts from
    its creation instead, so that nothing is kept for ever. Open contacts are
    never included, however old.
    """
    return Contact.objects.filter(state__in=TERMINAL_STATES, purged_at__isnull=True).filter(
        Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, created_at__lt=cutoff)
    )


def purge_expired(
    *,
    now: datetime | None = None,
    batch_size: int = 500,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> PurgeReport:
    """Remove the personal content of every expired contact; what was done.

    `dry_run` only counts. `should_stop` is asked between batches, so that a
    worker shutting down does not wait for a long backlog. A run that purged
    anything leaves one AuditLogEntry with its counts.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    cutoff = retention_cutoff(now)
    if dry_run:
        return _count(cutoff)
    totals = [0, 0, 0]  # contacts, messages, feedback comments
    batches = 0
    busy = False
    try:
        while not (should_stop and should_stop()):
            done = _purge_batch(cutoff=cutoff, now=now, batch_size=batch_size)
            if done is None:
                busy = True
                break
            if done[0] == 0:
                break
            batches += 1
            totals = [total + n for total, n in zip(totals, done, strict=True)]
            # A short batch means nothing is left, or the rest is locked by a
            # writer right now (skipped, not waited for): the next run has it.
            if done[0] < batch_size:
                break
    finally:
        # Recorded even when a later batch failed: those before it committed.
        report = PurgeReport(
            cutoff=cutoff,
            contacts=totals[0],
            messages=totals[1],
            feedback_comments=totals[2],
            batches=batches,
            busy=busy,
        )
        if report.contacts:
            _record(report, now=now)
    return report


def _count(cutoff: datetime) -> PurgeReport:
    expired = expired_contacts(cutoff)
    return PurgeReport(
        cutoff=cutoff,
        contacts=expired.count(),
        messages=Message.objects.filter(contact__in=expired).count(),
        feedback_comments=Feedback.objects.filter(contact__in=expired).exclude(comment="").count(),
        dry_run=True,
    )


def _purge_lock() -> AbstractContextManager[bool]:
    """A transaction in which this process alone purges; False when another one does.

    On SQLite a cron run beside the timer is serialised by SQLite's own write
    lock, and the purged_at condition makes whichever comes second find
    nothing to do.
    """
    return exclusive_transaction(PURGE_LOCK_KEY, _local_purge_lock)


def _purge_batch(*, cutoff: datetime, now: datetime, batch_size: int) -> _Counts | None:
    """Purge up to `batch_size` contacts: (contacts, messages, comments), None when busy."""
    with _purge_lock() as got:
        if not got:
            return None
        rows = expired_contacts(cutoff).order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            # A row some other writer holds is skipped rather than waited for.
            # NO KEY: rows that merely reference the contact (an audit entry
            # being written) are not blocked by the purge.
            rows = rows.select_for_update(skip_locked=True, no_key=True, of=("self",))
        ids = list(rows.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return 0, 0, 0
        return purge_contacts(ids, now=now)


def purge_contacts(ids: list[int], *, now: datetime) -> _Counts:
    """Delete the personal content of these contacts (in the caller's transaction).

    The one path for a purge: the retention timer's batches and a customer
    deleting their own contact (helpdesk/services/customer_data.py).
    """
    # Pictures and PDFs sent in the chat: rows now, files once this commits.
    delete_attachments(ids)
    messages, _ = Message.objects.filter(contact_id__in=ids).delete()
    comments = Feedback.objects.filter(contact_id__in=ids).exclude(comment="").update(comment="")
    contacts = Contact.objects.filter(pk__in=ids, purged_at__isnull=True).update(
        description="",
        callback_number="",
        handover_note="",
        customer_key="",
        preferred_supporter=None,
        purged_at=now,
    )
    return contacts, messages, comments


def _record(report: PurgeReport, *, now: datetime) -> None:
    AuditLogEntry.objects.create(
        action=AUDIT_ACTION,
        detail={
            "contacts": report.contacts,
            "messages": report.messages,
            "feedback_comments": report.feedback_comments,
            "batches": report.batches,
            "retention_days": settings.TRANSCRIPT_RETENTION_DAYS,
            "cutoff": report.cutoff.isoformat(),
            "ran_at": now.isoformat(),
        },
    )
    log.info(
        "retention purge: %d contacts, %d messages, %d feedback comments (ended before %s)",
        report.contacts,
        report.messages,
        report.feedback_comments,
        report.cutoff.isoformat(),
    )
