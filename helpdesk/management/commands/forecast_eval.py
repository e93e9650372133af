"""Score the demand forecast on synthetic history with known rates (stats/forecast_eval.py).

The last line reads ``forecast_eval mape=<x> coverage80=<x>``.
"""

from django.core.management.base import BaseCommand, CommandError

from helpdesk.stats.forecast_eval import DEFAULT_SCALE, MIN_RATE, evaluate_forecast


class Command(BaseCommand):
    help = (
        "Simulate hourly contacts with known rates, forecast the next four weeks from "
        "the history and report the error of the mean and the coverage of the 80% interval."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument("--weeks", type=int, default=8, help="weeks of history (default 8)")
        parser.add_argument(
            "--scale",
            type=float,
            default=DEFAULT_SCALE,
            help=f"demand multiplier (default {DEFAULT_SCALE:g}: a large region)",
        )

    def handle(self, *args, seed=0, weeks=8, scale=DEFAULT_SCALE, **options):
        try:
            result = evaluate_forecast(seed=seed, weeks=weeks, scale=scale)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"history {weeks} weeks from {result.history_start:%Y-%m-%d}, "
            f"forecast 4 weeks from {result.forecast_start:%Y-%m-%d}, seed {seed}, scale {scale:g}"
        )
        self.stdout.write(
            f"hours with a true rate of at least {MIN_RATE:g}/h: {result.hours}; "
            f"fit and forecast {result.fit_s:.3f} s"
        )
        self.stdout.write(
            f"mean absolute percentage error {result.mape:.2%}; 80% interval covers "
            f"{result.coverage:.1%} of those hours' counts ({result.coverage_all_hours:.1%} "
            "of all hours)"
        )
        self.stdout.write(f"forecast_eval mape={result.mape:.4f} coverage80={result.coverage:.4f}")
