"""`manage.py simulate_traffic --weeks N --seed S [--regions 01 12]`: demo history."""

from django.core.management.base import BaseCommand, CommandError

from helpdesk.models import Contact
from helpdesk.stats.simulator import SIMULATION_PSEUDONYM_PREFIX, simulate_traffic


class Command(BaseCommand):
    help = "Write simulated finished contacts and their events for the weeks before now."

    def add_arguments(self, parser):
        parser.add_argument("--weeks", type=float, default=4.0)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--regions", nargs="*", default=None, help="Region codes, e.g. 01 12")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="Multiply the arrival rates (default 1)."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when simulated contacts exist already (for repeated demo setups).",
        )

    def handle(self, *args, weeks, seed, regions, scale, if_empty, **options):
        if (
            if_empty
            and Contact.objects.filter(pseudonym__startswith=SIMULATION_PSEUDONYM_PREFIX).exists()
        ):
            self.stdout.write("simulate_traffic skipped: simulated history exists already")
            return
        try:
            summary = simulate_traffic(
                weeks=weeks, seed=seed, region_codes=regions, rate_scale=scale
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"simulate_traffic contacts={summary.contacts} events={summary.events} "
            f"from={summary.start:%Y-%m-%dT%H:%MZ} to={summary.end:%Y-%m-%dT%H:%MZ}"
        )
