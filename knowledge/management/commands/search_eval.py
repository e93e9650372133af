"""Mean reciprocal rank of the search over an evaluation file, with and without tags.

Loads nothing itself: import the articles first. The file is tab separated
with the columns language, query, expected_article ("-" for no answer; a
header line and # comments are allowed). The default is the held-out set,
tests/knowledge/search_heldout.tsv (knowledge/evaluation.py says why).
"""

import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from knowledge import evaluation

EVAL_DIR = Path(settings.BASE_DIR) / "tests" / "knowledge"


class Command(BaseCommand):
    help = (
        "Run a search evaluation set and print MRR per language and overall, with and without tags."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, default=EVAL_DIR / "search_heldout.tsv")
        parser.add_argument("--show-misses", action="store_true")

    def handle(self, *args, file: Path, show_misses: bool, **options):
        try:
            cases = evaluation.read_cases(file)
        except (OSError, csv.Error, ValueError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        copies = evaluation.copied_words(cases, evaluation.titles_and_tags())
        self.stdout.write(
            f"search_eval file={file.name} queries={len(cases)}"
            f" copying_titles_or_tags={len(copies)}"
        )
        report = evaluation.evaluate(cases)
        with evaluation.without_tags():
            bare = evaluation.evaluate(cases)
        for label, result in (("tags", report), ("no_tags", bare)):
            for language, mrr in sorted(result.per_language.items()):
                self.stdout.write(f"search_eval {label} language={language} mrr={mrr:.3f}")
            self.stdout.write(
                f"search_eval {label} answerable={result.answerable} mrr={result.mrr:.3f}"
                f" no_answer_returned_nothing={result.no_answer_empty}/{result.no_answer_total}"
            )
        if show_misses:
            for miss in report.misses:
                self.stdout.write(
                    f"miss [{miss.case.language}] {miss.case.query!r} "
                    f"expected={miss.case.expected} rank={miss.rank or '-'} top={miss.top}"
                )
        self.stdout.write(
            f"search_eval queries={len(cases)} mrr={report.mrr:.3f}"
            f" mrr_without_tags={bare.mrr:.3f}"
            f" no_answer_returned_nothing={report.no_answer_empty}/{report.no_answer_total}"
        )
