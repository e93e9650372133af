from django.core.management.base import BaseCommand

from routing.workflows import ensure_default_workflows


class Command(BaseCommand):
    help = "Create the default and the national first-line routing workflows (idempotent)."

    def handle(self, *args, **options):
        default, national = ensure_default_workflows()
        self.stdout.write(f"default workflow #{default.pk}, national first line #{national.pk}")
