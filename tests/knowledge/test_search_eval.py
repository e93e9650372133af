"""Search quality gates.

The gate is the held-out set (search_heldout.tsv): customer phrasings in fi,
sv and en, conversational and misspelled, that copy no title or tag (checked
here), MRR >= 0.85 over all its queries, a no-answer query counting 1 when
nothing is found and 0 when a guide is. A second held-out set
(search_heldout2.tsv), written later in the same way and never used to choose
anything, checks that what passes the first one was not fitted to it. Both are
also measured with every tag removed, and with tags and the authors' "how
customers ask" phrasings both removed. With the phrasings the held-out set
meets 0.85 with and without tags; the second set is just under it; without
tags or phrasings both sets are where the search was before them (0.73 and
0.68), so the floors below catch a regression of either the phrasings or the
ranking beneath them. Ranking choices such as the relevance floor
are made on the tuning set (search_tuning.tsv, also checked for copying). The
development set (search_eval.tsv, written beside the articles) keeps its 0.8 as
a regression check.
"""

from pathlib import Path

import pytest

from knowledge import evaluation

HERE = Path(__file__).parent
HELDOUT = HERE / "search_heldout.tsv"
DEVELOPMENT = HERE / "search_eval.tsv"
TUNING = HERE / "search_tuning.tsv"
HELDOUT2 = HERE / "search_heldout2.tsv"
# The target is 0.85; the other floors sit just under what the search
# measures today. Held-out: 0.897 with tags, 0.882 without, 0.729 without tags
# or phrasings. Second held-out set: 0.848 with tags, 0.845 without, 0.675
# without either. Tuning set: 0.852, the relevance floor answering 14 of its 23
# no-answer questions with nothing (15 before the phrasings: "miten teen
# testamentin" now reaches the supporters' guide on passing a case on to
# Kansalaisneuvonta, whose phrasings speak of legal questions).
HELDOUT_FLOOR = 0.85
HELDOUT_WITHOUT_TAGS_FLOOR = 0.85
HELDOUT_WITHOUT_AUTHORED_FLOOR = 0.72
HELDOUT2_FLOOR = 0.84
HELDOUT2_WITHOUT_TAGS_FLOOR = 0.83
HELDOUT2_WITHOUT_AUTHORED_FLOOR = 0.66
TUNING_FLOOR = 0.84
TUNING_NO_ANSWER_FLOOR = 14
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
    for path in (HELDOUT, HELDOUT2):
        heldout = {c.query.lower() for c in evaluation.read_cases(path)}
        assert not heldout & {c.query.lower() for c in tuning}, path.name
    assert sum(not c.answerable for c in tuning) >= 20 and sum(c.answerable for c in tuning) >= 50


@pytest.mark.postgres
def test_the_floor_on_its_tuning_set(seed_articles):
    report = evaluation.evaluate(evaluation.read_cases(TUNING))
    _report("tuning", report)
    assert report.no_answer_empty >= TUNING_NO_ANSWER_FLOOR, report.misses
    assert report.mrr >= TUNING_FLOOR, f"tuning MRR {report.mrr:.3f} < {TUNING_FLOOR}"


@pytest.mark.parametrize("path", [HELDOUT, HELDOUT2], ids=lambda p: p.stem)
def test_heldout_queries_copy_no_title_or_tag(seed_articles, path):
    cases = evaluation.read_cases(path)
    assert not evaluation.copied_words(cases, evaluation.titles_and_tags())
    assert {c.language for c in cases} == {"fi", "sv", "en"}
    for language in ("fi", "sv", "en"):
        mine = [c for c in cases if c.language == language]
        assert len(mine) >= 10 and any(not c.answerable for c in mine), language


def test_the_two_heldout_sets_share_no_query():
    first = {c.query.lower() for c in evaluation.read_cases(HELDOUT)}
    second = evaluation.read_cases(HELDOUT2)
    assert not first & {c.query.lower() for c in second}
    assert len(second) >= 40 and sum(not c.answerable for c in second) >= 6


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
    with evaluation.without_authored_words():
        neither = evaluation.evaluate(cases)
    _report("heldout without tags or questions", neither)
    assert report.mrr >= HELDOUT_FLOOR, f"held-out MRR {report.mrr:.3f} < {HELDOUT_FLOOR}"
    assert bare.mrr >= HELDOUT_WITHOUT_TAGS_FLOOR, f"without tags {bare.mrr:.3f}"
    assert neither.mrr >= HELDOUT_WITHOUT_AUTHORED_FLOOR, f"without either {neither.mrr:.3f}"
    assert report.no_answer_empty >= HELDOUT_NO_ANSWER_FLOOR, report.misses
    # A guide the floor removes must not be a right answer it used to give.
    assert report.answerable_mrr >= 0.9, f"answerable MRR {report.answerable_mrr:.3f}"
    # The tags are gone for the second run only: the first is unchanged after it.
    assert evaluation.evaluate(cases).mrr == report.mrr


@pytest.mark.postgres
def test_second_heldout_search_mrr(seed_articles):
    cases = evaluation.read_cases(HELDOUT2)
    report = evaluation.evaluate(cases)
    _report("heldout2", report)
    with evaluation.without_tags():
        bare = evaluation.evaluate(cases)
    _report("heldout2 without tags", bare)
    with evaluation.without_authored_words():
        neither = evaluation.evaluate(cases)
    _report("heldout2 without tags or questions", neither)
    assert report.mrr >= HELDOUT2_FLOOR, f"second held-out MRR {report.mrr:.3f}"
    assert bare.mrr >= HELDOUT2_WITHOUT_TAGS_FLOOR, f"without tags {bare.mrr:.3f}"
    assert neither.mrr >= HELDOUT2_WITHOUT_AUTHORED_FLOOR, f"without either {neither.mrr:.3f}"


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
    # The second held-out set is reported too, with and without tags.
    assert any(
        line.startswith("search_eval file=search_heldout2.tsv")
        and line.endswith("copying_titles_or_tags=0")
        for line in out
    )
    assert any(line.startswith("search_eval heldout2 no_tags mrr=") for line in out)
    assert any(line.startswith("search_eval heldout2 no_tags_or_questions mrr=") for line in out)
    second = dict(part.split("=", 1) for part in out[-1].split()[1:])
    assert {"mrr_without_tags_or_questions", "heldout2_mrr_without_tags_or_questions"} <= set(
        second
    ), out[-1]
    assert float(second["heldout2_mrr"]) >= HELDOUT2_FLOOR, out[-1]
    assert float(second["heldout2_mrr_without_tags"]) >= HELDOUT2_WITHOUT_TAGS_FLOOR, out[-1]
    # The closing line says how many no-answer queries found nothing.
    correct, total = out[-1].split(" no_answer_correct=", 1)[1].split()[0].split("/")
    assert int(total) >= 6 and int(correct) >= HELDOUT_NO_ANSWER_FLOOR, out[-1]
    # The suggestion set is reported beside the search set, at MRR >= 0.8.
    summary = next(line for line in out if line.startswith("suggest_eval file=suggest_eval.tsv"))
    assert float(summary.rsplit("mrr=", 1)[1]) >= 0.8, summary


def _phrased_guide():
    from knowledge import services

    from .conftest import make_article

    make_article("tunnuslukusovellus", title="Tunnuslukusovelluksen siirtäminen", tags=("mobiili",))
    make_article("tulostin", title="Tulostimen asennus", body="Kytke tulostin verkkoon.")
    article = services.article_upsert(slug="tunnuslukusovellus")
    services.translation_save(
        article=article,
        language="fi",
        content=services.TranslationContent(
            title="Tunnuslukusovelluksen siirtäminen",
            tags=("mobiili",),
            questions=("mummon kännykkä hajosi, miten pääsen pankkiin",),
        ),
        check_access=False,
    )


def test_searching_without_authored_words_leaves_out_tags_and_questions():
    _phrased_guide()
    by_phrasing = [evaluation.Case("fi", "mummon kännykkä hajosi", "tunnuslukusovellus")]
    by_tag = [evaluation.Case("fi", "mobiili", "tunnuslukusovellus")]
    assert evaluation.evaluate(by_phrasing).mrr == 1.0
    with evaluation.without_tags():
        # Only the tags go: the phrasings still find the guide.
        assert evaluation.evaluate(by_tag).mrr == 0.0
        assert evaluation.evaluate(by_phrasing).mrr == 1.0
    with evaluation.without_authored_words():
        assert evaluation.evaluate(by_tag).mrr == 0.0
        assert evaluation.evaluate(by_phrasing).mrr == 0.0
    # Nothing was kept.
    assert evaluation.evaluate(by_phrasing + by_tag).mrr == 1.0


def test_search_eval_reports_each_file_without_tags_or_questions(tmp_path, capsys):
    from django.core.management import call_command

    _phrased_guide()
    first, second, suggestions = (
        tmp_path / "search_first.tsv",
        tmp_path / "search_second.tsv",
        tmp_path / "suggest.tsv",
    )
    first.write_text(
        "language\tquery\texpected_article\n"
        "fi\tmummon kännykkä hajosi\ttunnuslukusovellus\n"
        "fi\tkytke tulostin\ttulostin\n",
        encoding="utf-8",
    )
    second.write_text("fi\tmobiili\ttunnuslukusovellus\n", encoding="utf-8")
    suggestions.write_text("fi\t\ttulostin verkkoon\ttulostin\n", encoding="utf-8")
    files = ["--file", str(first), "--file", str(second)]
    call_command("search_eval", *files, "--suggestions", str(suggestions))
    out = capsys.readouterr().out.splitlines()
    assert "search_eval no_tags_or_questions mrr=0.500 answerable=2" in " ".join(out)
    assert any(line.startswith("search_eval second no_tags_or_questions mrr=0.000") for line in out)
    # The closing line keeps its names in their places; the new figures come last.
    closing = out[-1].split()
    assert closing[0] == "search_eval"
    assert [part.split("=")[0] for part in closing[1:]] == [
        "queries",
        "mrr",
        "mrr_without_tags",
        "no_answer_correct",
        "no_answer_correct_without_tags",
        "second_queries",
        "second_mrr",
        "second_mrr_without_tags",
        "mrr_without_tags_or_questions",
        "second_mrr_without_tags_or_questions",
    ]
    figures = dict(part.split("=") for part in closing[1:])
    assert figures["mrr"] == "1.000" and figures["mrr_without_tags"] == "1.000"
    assert figures["mrr_without_tags_or_questions"] == "0.500"
    assert figures["second_mrr"] == "1.000" and figures["second_mrr_without_tags"] == "0.000"
    assert figures["second_mrr_without_tags_or_questions"] == "0.000"
