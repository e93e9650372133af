from django.core.management.base import BaseCommand

from helpdesk.reference import load_reference_data


class Command(BaseCommand):
    help = "Load regions, municipalities, postal codes, development areas and topics (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--no-postal-codes", action="store_true")

    def handle(self, *args, **options):
        counts = load_reference_data(postal_codes=not options["no_postal_codes"])
        self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
