"""Mean reciprocal rank of the search over an evaluation file, with and without
the words authors add for search (tags, then tags and questions).

Loads nothing itself: import the articles first. The file is tab separated
with the columns language, query, expected_article ("-" for no answer,
scored 1 when nothing is found and 0 when a guide is; a header line and #
comments are allowed). The defaults are the two held-out sets,
tests/knowledge/search_heldout.tsv and search_heldout2.tsv (knowledge/evaluation.py
says why); `--file` may be given several times. The first file is the gate and
its figures open the closing summary line; each further file adds its own
`<name>_mrr=` and `<name>_mrr_without_tags=` there. The figures without tags
or questions come last on that line, `mrr_without_tags_or_questions=` and
`<name>_mrr_without_tags_or_questions=`, so that the earlier names keep
their places. The suggestion set
(tests/knowledge/suggest_eval.tsv, knowledge/suggestion_evaluation.py) is
reported beside them, before the closing summary line.
"""

import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from knowledge import evaluation, suggestion_evaluation

EVAL_DIR = Path(settings.BASE_DIR) / "tests" / "knowledge"
DEFAULT_FILES = ("search_heldout.tsv", "search_heldout2.tsv")


def _short_name(path: Path) -> str:
    """search_heldout2.tsv -> heldout2, the name its figures carry on the closing line."""
    return path.stem.removeprefix("search_")


class Command(BaseCommand):
    help = (
        "Run a search evaluation set and print MRR per language and overall, with and without"
        " tags, and without tags or questions."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--file",
            type=Path,
            action="append",
            dest="files",
            help="An evaluation file; repeat for several (default: both held-out sets).",
        )
        parser.add_argument("--show-misses", action="store_true")
        parser.add_argument(
            "--suggestions",
            type=Path,
            default=EVAL_DIR / "suggest_eval.tsv",
            help="The suggestion set (language, topic, snippet, expected guide), reported after"
            " the search set.",
        )

    def handle(
        self, *args, files: list[Path] | None, show_misses: bool, suggestions: Path, **options
    ):
        files = files or [EVAL_DIR / name for name in DEFAULT_FILES]
        results = [
            self._search_file(path, first=i == 0, show_misses=show_misses)
            for i, path in enumerate(files)
        ]
        self._suggestions(suggestions, show_misses=show_misses)
        (count, report, bare, unauthored), *others = results
        closing = (
            f"search_eval queries={count} mrr={report.mrr:.3f}"
            f" mrr_without_tags={bare.mrr:.3f}"
            f" no_answer_correct={report.no_answer_empty}/{report.no_answer_total}"
            f" no_answer_correct_without_tags={bare.no_answer_empty}/{bare.no_answer_total}"
        )
        for path, (count, report, bare, _unauthored) in zip(files[1:], others, strict=True):
            name = _short_name(path)
            closing += (
                f" {name}_queries={count} {name}_mrr={report.mrr:.3f}"
                f" {name}_mrr_without_tags={bare.mrr:.3f}"
            )
        closing += f" mrr_without_tags_or_questions={unauthored.mrr:.3f}"
        for path, (*_figures, unauthored) in zip(files[1:], others, strict=True):
            closing += f" {_short_name(path)}_mrr_without_tags_or_questions={unauthored.mrr:.3f}"
        self.stdout.write(closing)

    def _search_file(self, path: Path, *, first: bool, show_misses: bool):
        try:
            cases = evaluation.read_cases(path)
        except (OSError, csv.Error, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        copies = evaluation.copied_words(cases, evaluation.titles_and_tags())
        self.stdout.write(
            f"search_eval file={path.name} queries={len(cases)}"
            f" copying_titles_or_tags={len(copies)}"
        )
        report = evaluation.evaluate(cases)
        with evaluation.without_tags():
            bare = evaluation.evaluate(cases)
        with evaluation.without_authored_words():
            unauthored = evaluation.evaluate(cases)
        # The gate file keeps the labels it always had; the others are named.
        prefix = "" if first else f"{_short_name(path)} "
        for label, result in (
            ("tags", report),
            ("no_tags", bare),
            ("no_tags_or_questions", unauthored),
        ):
            for language, mrr in sorted(result.per_language.items()):
                self.stdout.write(f"search_eval {prefix}{label} language={language} mrr={mrr:.3f}")
            self.stdout.write(
                f"search_eval {prefix}{label} mrr={result.mrr:.3f} answerable={result.answerable}"
                f" answerable_mrr={result.answerable_mrr:.3f}"
                f" no_answer_correct={result.no_answer_empty}/{result.no_answer_total}"
            )
        if show_misses:
            for miss in report.misses:
                self.stdout.write(
                    f"miss [{miss.case.language}] {miss.case.query!r} "
                    f"expected={miss.case.expected} rank={miss.rank or '-'} top={miss.top}"
                )
        return len(cases), report, bare, unauthored

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
