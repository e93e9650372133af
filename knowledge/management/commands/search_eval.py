"""Mean reciprocal rank of the search over an evaluation file.

Loads nothing itself: import the articles first. The file is tab separated
with the columns language, query, expected_article (a header line is allowed).
"""

import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from knowledge import evaluation


class Command(BaseCommand):
    help = "Run the search evaluation set and print MRR per language and overall."

    def add_arguments(self, parser):
        parser.add_argument(
            "--file",
            type=Path,
            default=Path(settings.BASE_DIR) / "tests" / "knowledge" / "search_eval.tsv",
        )
        parser.add_argument("--show-misses", action="store_true")

    def handle(self, *args, file: Path, show_misses: bool, **options):
        try:
            cases = evaluation.read_cases(file)
        except (OSError, csv.Error, ValueError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        report = evaluation.evaluate(cases)
        for language, mrr in sorted(report.per_language.items()):
            n = sum(1 for c in cases if c.language == language)
            self.stdout.write(f"search_eval language={language} queries={n} mrr={mrr:.3f}")
        if show_misses:
            for miss in report.misses:
                self.stdout.write(
                    f"miss [{miss.case.language}] {miss.case.query!r} "
                    f"expected={miss.case.expected} rank={miss.rank or '-'} top={miss.top}"
                )
        self.stdout.write(f"search_eval queries={len(cases)} mrr={report.mrr:.3f}")
