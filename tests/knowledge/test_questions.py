"""How customers ask: the `questions` of a translation, from the editor and the
article files to the versions and the pages (search: test_search.py)."""

import pytest
from django.core.management import call_command
from django.utils import translation as i18n

from helpdesk.services.errors import InvalidInput
from knowledge import markdown_io, selectors, services
from knowledge.models import ArticleTranslation, ArticleVersion
from knowledge.services import TranslationContent

from .conftest import make_article

pytestmark = pytest.mark.django_db

ARTICLE_FILE = """---
article: uusi-kannykka
language: fi
title: "Pankkisovellus uuteen puhelimeen"
summary: "Näin siirrät tunnukset."
audience: customers
kind: guide
topics: [banking]
tags: ["tunnuslukusovellus"]
questions:
  - "ostin uuden kännykän enkä saa pankin sovellusta toimimaan"
  - "mihin ne \\"tunnusluvut\\" laitetaan, kun puhelin vaihtui?"
plain_language: true
status: published
---
## Ennen kuin aloitat

Pidä vanha puhelin tallessa.
"""


def questions_line(value: str) -> str:
    """ARTICLE_FILE with its questions block replaced by one line."""
    lines = [line for line in ARTICLE_FILE.splitlines() if not line.startswith("  - ")]
    return "\n".join(value if line == "questions:" else line for line in lines) + "\n"


def save(article, questions, *, actor=None, title="Ohje"):
    return services.translation_save(
        article=article,
        language="fi",
        content=TranslationContent(title=title, questions=questions),
        actor=actor,
        check_access=actor is not None,
    )


def test_questions_are_cleaned_in_their_written_order():
    cleaned = services.check_questions(
        ["  mun  kännykkä\tei toimi ", "", "   ", "Mun kännykkä ei toimi", "miten pääsen pankkiin"]
    )
    assert cleaned == ("mun kännykkä ei toimi", "miten pääsen pankkiin")
    # One per line, as the editor sends them.
    assert services.check_questions("eka\r\n\ntoka\n") == ("eka", "toka")
    assert services.check_questions(None) == ()


@pytest.mark.parametrize(
    ("questions", "finnish"),
    [
        (["x" * 201], "Kysymistapa on pidempi kuin 200 merkkiä"),
        ([f"kysymys {i}" for i in range(21)], "Enintään 20 kysymistapaa"),
        (["hyvä", 3], "Jokaisen kysymistavan on oltava tekstiä."),
        ({"kysymys": "vastaus"}, "Kysymistapojen on oltava luettelo lauseita."),
    ],
)
def test_bad_questions_are_refused_with_a_translated_reason(questions, finnish):
    article = services.article_upsert(slug="ohje")
    with i18n.override("fi"), pytest.raises(InvalidInput) as refused:
        save(article, questions)
    assert finnish in refused.value.message
    assert not ArticleTranslation.objects.exists()
    # Exactly at the limits is fine.
    saved, _ = save(article, ["x" * 200] + [f"kysymys {i}" for i in range(19)])
    assert len(saved.questions) == 20


def test_changing_only_the_questions_is_a_new_version(staff):
    article = services.article_upsert(slug="ohje")
    first, changed = save(article, ["eka tapa"], actor=staff)
    assert changed and first.version == 1
    same, changed = save(article, [" eka   tapa "], actor=staff)
    assert not changed and same.version == 1
    second, changed = save(article, ["eka tapa", "toka tapa"], actor=staff)
    assert changed and second.version == 2
    assert ArticleVersion.objects.get(translation=second, number=2).questions == [
        "eka tapa",
        "toka tapa",
    ]
    assert ArticleVersion.objects.get(translation=second, number=1).questions == ["eka tapa"]
    diff = selectors.version_diff(translation=second, old=1, new=2)
    assert "+question: toka tapa" in diff and "-question: eka tapa" not in diff


def test_the_article_file_format_is_read_and_written_byte_for_byte():
    item = markdown_io.parse(ARTICLE_FILE)
    assert item.questions == (
        "ostin uuden kännykän enkä saa pankin sovellusta toimimaan",
        'mihin ne "tunnusluvut" laitetaan, kun puhelin vaihtui?',
    )
    assert markdown_io.dumps(item) == ARTICLE_FILE
    # No phrasings, no key: the files written before the field stay as they were.
    bare = markdown_io.dumps(markdown_io.parse(questions_line("questions: []")))
    assert bare == questions_line("").replace("\n\n", "\n", 1)
    assert "questions" not in bare


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('questions: "yksi, jossa on pilkku"', ("yksi, jossa on pilkku",)),
        ("questions:", ()),
    ],
)
def test_lenient_layouts_of_questions(value, expected):
    assert markdown_io.parse(questions_line(value)).questions == expected


def test_questions_that_are_not_sentences_are_a_file_error():
    text = ARTICLE_FILE.replace('  - "ostin', '  - 12\n  - "ostin')
    with pytest.raises(markdown_io.ArticleFileError, match="questions"):
        markdown_io.parse(text)


def test_import_and_export_keep_questions_and_their_order(reference_data, tmp_path, capsys):
    source, exported = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "uusi-kannykka.fi.md").write_text(ARTICLE_FILE, encoding="utf-8")
    call_command("import_articles", str(source))
    t = ArticleTranslation.objects.get(article__slug="uusi-kannykka")
    assert t.questions[0].startswith("ostin uuden") and len(t.questions) == 2
    call_command("export_articles", str(exported))
    assert (exported / "uusi-kannykka.fi.md").read_text(encoding="utf-8") == ARTICLE_FILE
    # A second import of the same file changes nothing.
    call_command("import_articles", str(exported))
    assert "created=0 updated=0" in capsys.readouterr().out


def test_the_editor_saves_one_phrasing_per_line(client, volunteer):
    client.force_login(volunteer)
    page = client.get("/kb/good-practices/new/").content.decode()
    assert 'name="questions"' in page and 'id="id_questions_helptext"' in page
    data = {"language": "fi", "title": "Vertaistuki", "body": "Teksti", "topics": ["banking"]}
    response = client.post(
        "/kb/good-practices/new/",
        data | {"questions": "mummo ei osaa videopuhelua\r\n\r\n kuka auttaa tabletin kanssa \r\n"},
    )
    assert response.status_code == 302
    t = ArticleTranslation.objects.get(title="Vertaistuki")
    assert t.questions == ["mummo ei osaa videopuhelua", "kuka auttaa tabletin kanssa"]
    # A phrasing too long comes back to the form with the reason.
    too_long = client.post(
        "/kb/good-practices/new/",
        data | {"title": "Toinen", "questions": "x" * 201},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert too_long.status_code == 200
    assert "longer than 200 characters" in too_long.content.decode()
    assert not ArticleTranslation.objects.filter(title="Toinen").exists()


def test_only_supporters_see_the_questions_on_the_article_page(client, staff):
    make_article("ohje-kysymykset", title="Ohje", body="Teksti.")
    article = ArticleTranslation.objects.get(article__slug="ohje-kysymykset").article
    save(article, ["miten tää toimii mun puhelimessa"])
    assert "miten tää toimii" not in client.get("/kb/ohje-kysymykset/?lang=fi").content.decode()
    client.force_login(staff)
    page = client.get("/kb/ohje-kysymykset/?lang=fi").content.decode()
    assert "miten tää toimii mun puhelimessa" in page and 'id="kb-questions-heading"' in page


def test_the_admin_edits_questions_through_the_service(admin_client):
    article, t = make_article("admin-ohje", title="Ohje")
    response = admin_client.post(
        f"/admin/knowledge/articletranslation/{t.pk}/change/",
        {
            "title": "Ohje",
            "summary": "",
            "body": "",
            "tags": "[]",
            "questions": '["  miten  tää toimii ", "miten tää toimii"]',
            "plain_language": "",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    t.refresh_from_db()
    assert t.questions == ["miten tää toimii"] and t.version == 2
    assert t.versions.get(number=2).questions == ["miten tää toimii"]
