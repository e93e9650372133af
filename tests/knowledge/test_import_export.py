"""Markdown import is idempotent; export -> wipe -> import -> export is byte-identical."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import knowledge
from knowledge import markdown_io
from knowledge.models import Article, ArticleTranslation, ArticleVersion

pytestmark = pytest.mark.django_db
FIELDS = (
    "article__slug",
    "language",
    "title",
    "summary",
    "body",
    "tags",
    "plain_language",
    "status",
    "article__audience",
    "article__kind",
    "article__video_url",
)


def snapshot():
    rows = list(ArticleTranslation.objects.order_by("article__slug", "language").values(*FIELDS))
    topics = {a.slug: [t.slug for t in a.topics.order_by("slug")] for a in Article.objects.all()}
    return rows, topics


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.md"))}


def test_round_trip(seed_articles, tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    call_command("export_articles", str(first))
    before = snapshot()
    Article.objects.all().delete()
    call_command("import_articles", str(first))
    assert snapshot() == before
    call_command("export_articles", str(second))
    assert files(first) == files(second)
    assert len(files(first)) == ArticleTranslation.objects.count()


def test_import_is_idempotent(seed_articles, tmp_path, capsys):
    versions = ArticleVersion.objects.count()
    call_command("import_articles", str(knowledge.content_dir()))
    assert "created=0 updated=0" in capsys.readouterr().out
    assert ArticleVersion.objects.count() == versions
    # A change in one file gives that translation one new version.
    call_command("export_articles", str(tmp_path))
    path = tmp_path / "salasanan-vaihtaminen.fi.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nUusi kappale.\n", encoding="utf-8")
    call_command("import_articles", str(tmp_path))
    assert "updated=1" in capsys.readouterr().out
    t = ArticleTranslation.objects.get(article__slug="salasanan-vaihtaminen", language="fi")
    assert t.version == 2 and t.body.endswith("Uusi kappale.")


def test_bad_files_are_reported_and_others_imported(reference_data, tmp_path, capsys):
    (tmp_path / "good.fi.md").write_text(
        '---\narticle: good\nlanguage: fi\ntitle: "Hyvä"\ntopics: [banking, nope]\n---\nTeksti\n',
        encoding="utf-8",
    )
    (tmp_path / "bad.fi.md").write_text("---\narticle: [\n---\n", encoding="utf-8")
    (tmp_path / "badlang.md").write_text("---\narticle: x\nlanguage: de\ntitle: X\n---\n")
    (tmp_path / "README.md").write_text("# not an article\n")
    with pytest.raises(CommandError):
        call_command("import_articles", str(tmp_path))
    err = capsys.readouterr().err
    assert "bad.fi.md" in err and "badlang.md" in err and "unknown topics left out: nope" in err
    assert ArticleTranslation.objects.get(article__slug="good").status == "draft"


def test_dumps_quotes_free_text():
    item = markdown_io.ArticleFile(
        article="a",
        language="fi",
        title='Kaksoispiste: "lainaus" # ja risuaita',
        summary="",
        audience="both",
        kind="checklist",
        topics=("banking",),
        tags=("a, b", "yes"),
        plain_language=True,
        status="review",
        body="Teksti",
    )
    assert markdown_io.parse(markdown_io.dumps(item)) == item


def test_topics_keep_the_order_they_were_written_in():
    # The export writes topics in the author's order; with ids that a set
    # would iterate in another order, that order must still come back.
    from helpdesk.models import Topic
    from knowledge import selectors, services

    made = [
        Topic.objects.create(
            slug=f"jarjestys-{i}", name_fi=f"J {i}", name_sv=f"O {i}", name_en=f"O {i}"
        )
        for i in range(6)
    ]
    written = [t.slug for t in reversed(made)]
    article = services.article_upsert(slug="jarjestys", topic_slugs=written)
    assert [t.slug for t in selectors._ordered_topics(article)] == written
    # Only the order changes: that is a change too.
    services.article_upsert(slug="jarjestys", topic_slugs=written[::-1])
    assert [t.slug for t in selectors._ordered_topics(article)] == written[::-1]
