"""Mean reciprocal rank of the search over an evaluation file, with and without tags.

Loads nothing itself: import the articles first. The file is tab separated
with the columns language, query, expected_article ("-" for no answer,
scored 1 when nothing is found and 0 when a guide is; a header line and #
comments are allowed). The default is the held-out set,
tests/knowledge/search_heldout.tsv (knowledge/evaluation.py says why). The
suggestion set (tests/knowledge/suggest_eval.tsv, knowledge/suggestion_evaluation.py)
is reported beside it, before the closing summary line.
"""

import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from knowledge import evaluation, suggestion_evaluation

EVAL_DIR = Path(settings.BASE_DIR) / "tests" / "knowledge"


class Command(BaseCommand):
    help = (
        "Run a search evaluation set and print MRR per language and overall, with and without tags."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, default=EVAL_DIR / "search_heldout.tsv")
        parser.add_argument("--show-misses", action="store_true")
        parser.add_argument(
            "--suggestions",
            type=Path,
            default=EVAL_DIR / "suggest_eval.tsv",
            help="The suggestion set (language, topic, snippet, expected guide), reported after"
            " the search set.",
        )

    def handle(self, *args, file: Path, show_misses: bool, suggestions: Path, **options):
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
                f"search_eval {label} mrr={result.mrr:.3f} answerable={result.answerable}"
                f" answerable_mrr={result.answerable_mrr:.3f}"
                f" no_answer_correct={result.no_answer_empty}/{result.no_answer_total}"
            )
        if show_misses:
            for miss in report.misses:
                self.stdout.write(
                    f"miss [{miss.case.language}] {miss.case.query!r} "
                    f"expected={miss.case.expected} rank={miss.rank or '-'} top={miss.top}"
                )
        self._suggestions(suggestions, show_misses=show_misses)
        self.stdout.write(
            f"search_eval queries={len(cases)} mrr={report.mrr:.3f}"
            f" mrr_without_tags={bare.mrr:.3f}"
            f" no_answer_correct={report.no_answer_empty}/{report.no_answer_total}"
            f" no_answer_correct_without_tags={bare.no_answer_empty}/{bare.no_answer_total}"
        )

    def _suggestions(self, path: Path, *, show_misses: bool) -> None:
        try:
            cases = suggestion_evaluation.read_cases(path)
        except (OSError, csv.Error, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        report = suggestion_evaluation.evaluate(cases)
        for language, mrr in sorted(report.per_language.items()):
            self.stdout.write(f"suggest_eval language={language} mrr={mrr:.3f}")
        if show_misses:
            for miss in report.misses:
                self.stdout.write(
                    f"miss [{miss.case.language}/{miss.case.topic or '-'}] {miss.case.snippet!r} "
                    f"expected={miss.case.expected} rank={miss.rank or '-'} top={miss.top}"
                )
        self.stdout.write(
            f"suggest_eval file={path.name} cases={report.cases} mrr={report.mrr:.3f}"
        )
