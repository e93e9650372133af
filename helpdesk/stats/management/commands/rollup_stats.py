"""`manage.py rollup_stats [--rebuild]`: bring the hourly statistics up to date."""

from django.core.management.base import BaseCommand

from helpdesk.stats.rollup import rollup


class Command(BaseCommand):
    help = "Roll contact events up into anonymous hourly statistics (safe to run any time)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", help="Recompute every hour, not only new events."
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Skip instead of waiting when another process is rolling up.",
        )

    def handle(self, *args, rebuild: bool, no_wait: bool, **options):
        result = rollup(wait=not no_wait, rebuild=rebuild)
        if not result.ran:
            self.stdout.write("rollup_stats skipped: another process holds the lock")
            return
        self.stdout.write(
            f"rollup_stats hours={result.hours} buckets={result.buckets} "
            f"contacts={result.contacts} seconds={result.seconds:.2f}"
        )
