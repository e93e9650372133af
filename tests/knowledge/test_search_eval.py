"""Search quality gates.

The gate is the held-out set (search_heldout.tsv): customer phrasings in fi,
sv and en, conversational and misspelled, that copy no title or tag (checked
here), MRR >= 0.85 over all its queries, a no-answer query counting 1 when
nothing is found and 0 when a guide is. The relevance floor that lets the
search find nothing was chosen on a separate tuning set (search_tuning.tsv,
also checked for copying). The development set (search_eval.tsv, written
beside the articles) keeps its 0.8 as a regression check. The sets are also
measured with every tag removed, and reported.
"""

from pathlib import Path

import pytest

from knowledge import evaluation

HERE = Path(__file__).parent
HELDOUT = HERE / "search_heldout.tsv"
DEVELOPMENT = HERE / "search_eval.tsv"
TUNING = HERE / "search_tuning.tsv"
# Held-out no-answer queries the search must answer with nothing. Three of
# seven today: the passport queries reach guides that mention passports and
# renewing, and a home visit is asked in words the guides use.
HELDOUT_NO_ANSWER_FLOOR = 3
pytestmark = pytest.mark.django_db


def _report(name: str, report: evaluation.Report) -> None:
    for miss in report.misses:
        print(
            f"{name} miss [{miss.case.language}] {miss.case.query!r} "
            f"expected={miss.case.expected} rank={miss.rank} top={miss.top}"
        )
    print(
        f"{name} mrr={report.mrr:.3f} answerable={report.answerable}"
        f" answerable_mrr={report.answerable_mrr:.3f} "
        + " ".join(f"{k}={v:.3f}" for k, v in sorted(report.per_language.items()))
        + f" no_answer_correct={report.no_answer_empty}/{report.no_answer_total}"
    )


def test_tuning_queries_copy_nothing_and_are_apart_from_the_heldout_set(seed_articles):
    tuning = evaluation.read_cases(TUNING)
    assert not evaluation.copied_words(tuning, evaluation.titles_and_tags())
    heldout = {c.query.lower() for c in evaluation.read_cases(HELDOUT)}
    assert not heldout & {c.query.lower() for c in tuning}
    assert sum(not c.answerable for c in tuning) >= 10 and sum(c.answerable for c in tuning) >= 10


@pytest.mark.postgres
def test_the_floor_on_its_tuning_set(seed_articles):
    report = evaluation.evaluate(evaluation.read_cases(TUNING))
    _report("tuning", report)
    assert report.no_answer_empty >= report.no_answer_total - 3, report.misses
    assert report.mrr >= 0.8


def test_heldout_queries_copy_no_title_or_tag(seed_articles):
    cases = evaluation.read_cases(HELDOUT)
    assert not evaluation.copied_words(cases, evaluation.titles_and_tags())
    assert {c.language for c in cases} == {"fi", "sv", "en"}
    for language in ("fi", "sv", "en"):
        mine = [c for c in cases if c.language == language]
        assert len(mine) >= 10 and any(not c.answerable for c in mine), language


def test_the_copy_check_catches_a_copied_query(seed_articles):
    texts = evaluation.titles_and_tags()
    copied = [
        evaluation.Case("fi", "ohje: verokortin muuttaminen omaverossa", "omavero-verokortti"),
        evaluation.Case("fi", "tunnuslukusovelluksen asennus", "pankkitunnukset-uuteen-puhelimeen"),
        evaluation.Case("en", "changing your tax card please", "omavero-verokortti"),
    ]
    assert len(evaluation.copied_words(copied, texts)) == 3
    # The development set is mostly written from titles and tags: the check sees it.
    development = evaluation.read_cases(DEVELOPMENT)
    assert len(evaluation.copied_words(development, texts)) > len(development) / 3


@pytest.mark.postgres
def test_heldout_search_mrr(seed_articles):
    cases = evaluation.read_cases(HELDOUT)
    report = evaluation.evaluate(cases)
    _report("heldout", report)
    with evaluation.without_tags():
        bare = evaluation.evaluate(cases)
    _report("heldout without tags", bare)
    assert report.mrr >= 0.85, f"held-out MRR {report.mrr:.3f} < 0.85"
    assert report.no_answer_empty >= HELDOUT_NO_ANSWER_FLOOR, report.misses
    # A guide the floor removes must not be a right answer it used to give.
    assert report.answerable_mrr >= 0.9, f"answerable MRR {report.answerable_mrr:.3f}"
    # The tags are gone for the second run only: the first is unchanged after it.
    assert evaluation.evaluate(cases).mrr == report.mrr


@pytest.mark.postgres
def test_development_search_mrr(seed_articles):
    cases = evaluation.read_cases(DEVELOPMENT)
    report = evaluation.evaluate(cases)
    _report("development", report)
    assert len(cases) >= 10
    assert report.mrr >= 0.8, f"MRR {report.mrr:.3f} < 0.8"


def test_search_eval_command(seed_articles, capsys):
    from django.core.management import call_command

    call_command("search_eval")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("search_eval file=search_heldout.tsv")
    assert out[0].endswith("copying_titles_or_tags=0")
    assert any(line.startswith("search_eval no_tags mrr=") for line in out)
    assert out[-1].startswith("search_eval queries=") and "mrr_without_tags=" in out[-1]
    # The closing line says how many no-answer queries found nothing.
    correct, total = out[-1].split(" no_answer_correct=", 1)[1].split()[0].split("/")
    assert int(total) >= 6 and int(correct) >= HELDOUT_NO_ANSWER_FLOOR, out[-1]
    # The suggestion set is reported beside the search set, at MRR >= 0.8.
    summary = next(line for line in out if line.startswith("suggest_eval file=suggest_eval.tsv"))
    assert float(summary.rsplit("mrr=", 1)[1]) >= 0.8, summary
