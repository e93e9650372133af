"""Suggestion quality gate (issue 11 item 9): MRR >= 0.8 on tests/knowledge/suggest_eval.tsv."""

from pathlib import Path

import pytest

from knowledge import suggestion_evaluation

SET = Path(__file__).parent / "suggest_eval.tsv"
pytestmark = pytest.mark.django_db


@pytest.mark.postgres
def test_suggestion_mrr(seed_articles):
    cases = suggestion_evaluation.read_cases(SET)
    report = suggestion_evaluation.evaluate(cases)
    for miss in report.misses:
        print(
            f"suggest miss [{miss.case.language}/{miss.case.topic}] {miss.case.snippet!r} "
            f"expected={miss.case.expected} rank={miss.rank} top={miss.top}"
        )
    print(f"suggest cases={report.cases} mrr={report.mrr:.3f} {report.per_language}")
    assert report.mrr >= 0.8
