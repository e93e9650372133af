"""Print the pure day simulator's report for the sample network (no database)."""

from datetime import datetime, time

from django.core.management.base import BaseCommand

from routing.availability import HELSINKI


class Command(BaseCommand):
    help = "Simulate one support day with routing.engine and print the report."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--date", default="2026-11-24", help="a day, YYYY-MM-DD")
        parser.add_argument("--hours", type=float, default=10.0)
        parser.add_argument("--rate", type=float, default=12.0, help="chats per hour per region")

    def handle(self, *args, seed, date, hours, rate, **options):
        from routing.simulation import sample_network, simulate_day

        day = datetime.fromisoformat(date).date()
        start = datetime.combine(day, time(8), tzinfo=HELSINKI)
        regions, providers, supporters = sample_network()
        rates = {}
        for region in regions:
            rates[(region.name, "chat")] = rate
            rates[(region.name, "phone")] = rate / 3
        report = simulate_day(
            seed=seed,
            regions=regions,
            arrival_rates=rates,
            supporters=supporters,
            providers=providers,
            start=start,
            hours=hours,
        )
        self.stdout.write(report.format())
