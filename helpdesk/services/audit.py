"""Audit entries for reads of personal data (who saw which transcript, where).

The admin logs its own transcript reads (helpdesk/admin.py); the console's
are logged here when a supporter is shown a contact's whole transcript (on
taking it, or on a console's first welcome for it). Customers' own downloads
are logged by helpdesk/services/customer_data.py.
"""

from __future__ import annotations

from helpdesk.models import AuditLogEntry


def record_transcript_read(*, user_id: int | None, contact_id: int, where: str) -> None:
    AuditLogEntry.objects.create(
        actor_id=user_id,
        action="transcript_read_console",
        contact_id=contact_id,
        detail={"where": where},
    )


def record_transcript_reads(*, user_id: int | None, contact_ids: list[int], where: str) -> None:
    """The same for several contacts at once (a console's welcome), in one statement."""
    if not contact_ids:
        return
    AuditLogEntry.objects.bulk_create(
        AuditLogEntry(
            actor_id=user_id,
            action="transcript_read_console",
            contact_id=contact_id,
            detail={"where": where},
        )
        for contact_id in contact_ids
    )


def record_export(*, user_id: int | None, what: str, detail: dict) -> None:
    """A download of figures or data by staff (the statistics' CSV and XLSX)."""
    AuditLogEntry.objects.create(actor_id=user_id, action="export", detail={"what": what, **detail})
