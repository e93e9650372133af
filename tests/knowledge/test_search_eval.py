"""Search quality gate: MRR over tests/knowledge/search_eval.tsv must reach 0.8."""

from pathlib import Path

import pytest

from knowledge import evaluation

EVAL_FILE = Path(__file__).with_name("search_eval.tsv")
pytestmark = pytest.mark.django_db


@pytest.mark.postgres
def test_search_eval_mrr(seed_articles, capsys):
    cases = evaluation.read_cases(EVAL_FILE)
    report = evaluation.evaluate(cases)
    for miss in report.misses:
        print(
            f"miss [{miss.case.language}] {miss.case.query!r} expected={miss.case.expected} "
            f"rank={miss.rank} top={miss.top}"
        )
    print(
        f"search_eval queries={len(cases)} mrr={report.mrr:.3f} "
        + " ".join(f"{k}={v:.3f}" for k, v in sorted(report.per_language.items()))
    )
    assert len(cases) >= 10
    assert report.mrr >= 0.8, f"MRR {report.mrr:.3f} < 0.8"


def test_search_eval_command(seed_articles, capsys):
    from django.core.management import call_command

    call_command("search_eval", "--file", str(EVAL_FILE))
    assert "search_eval queries=" in capsys.readouterr().out.splitlines()[-1]
