"""Delete the personal content of contacts past the retention period (for cron).

The workers already do this every RETENTION_PURGE_EVERY_S; this command is
for installations that turn that off, and for checking what a run would do.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from helpdesk.services.retention import purge_expired


class Command(BaseCommand):
    help = (
        "Delete messages, descriptions, phone numbers, notes, feedback comments and customer "
        "keys of contacts that ended more than TRANSCRIPT_RETENTION_DAYS ago; statistics stay."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="only count what would be deleted"
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="contacts per transaction (default 500)"
        )

    def handle(self, *args, dry_run=False, batch_size=500, **options):
        try:
            report = purge_expired(batch_size=batch_size, dry_run=dry_run)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would purge" if dry_run else "purged"
        self.stdout.write(
            f"{verb} contacts={report.contacts} messages={report.messages} "
            f"feedback_comments={report.feedback_comments} "
            f"(ended before {timezone.localtime(report.cutoff):%Y-%m-%d %H:%M %Z}, "
            f"retention {settings.TRANSCRIPT_RETENTION_DAYS} days)"
        )
        if report.busy:
            self.stdout.write("another process holds the purge lock: it purges what this run left")
