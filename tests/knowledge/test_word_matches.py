"""knowledge.word_matches: the rows each word reaches, kept while the rows stay as they are."""

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from knowledge import search, services, word_matches
from knowledge.models import ArticleTranslation, Status

from .conftest import make_article

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_store():
    word_matches.forget()
    yield
    word_matches.forget()


def _words(text: str) -> list[tuple[str, str]]:
    terms = search.parse_query(text, "fi").terms
    return [(t.stem, search.retrieval_prefix(t.stem)) for t in terms]


def _truth(text: str) -> frozenset[int]:
    """The same tests run afresh by the database, nothing remembered."""
    condition = Q(pk__in=[])
    for stem, prefix in _words(text):
        condition |= Q(search_document__contains=f" {prefix}")
        if len(stem) >= 4:
            condition |= Q(search_document__trigram_word_similar=stem)
    published = ArticleTranslation.objects.filter(language="fi", status=Status.PUBLISHED)
    return frozenset(published.filter(condition).values_list("id", flat=True))


def _reached(text: str) -> frozenset[int]:
    return word_matches.rows_reached("fi", _words(text))


def _translation(slug: str) -> ArticleTranslation:
    return ArticleTranslation.objects.get(article__slug=slug, language="fi")


def test_remembered_words_ask_the_database_only_for_the_fingerprint():
    assert connection.vendor == "postgresql", "the test suite runs on PostgreSQL"
    make_article("tulostin", title="Tulostimen asennus", body="Kytke tulostin verkkoon.")
    make_article("salasana", title="Salasanan vaihtaminen", body="Valitse unohtunut salasana.")
    typo = "vahitaminen"  # reached only through the trigram test
    assert _reached(typo) == _truth(typo) == {_translation("salasana").pk}
    with CaptureQueriesContext(connection) as queries:
        assert _reached(typo) == _truth(typo)
    # The store read only the fingerprint; the other statement is the truth's own.
    assert len(queries) == 2
    assert "%>" not in queries[0]["sql"]


def test_any_write_to_a_row_is_seen_by_the_next_search():
    make_article("tulostin", title="Tulostimen asennus", body="Kytke laite verkkoon.")
    make_article("skanneri", title="Paperin asettaminen", body="Aseta paperi lasille.")
    query = "skannaus tulostimella"
    before = _reached(query)
    assert before == _truth(query)
    # Rewritten the way an edit rewrites it: update(), which leaves updated_at alone.
    skanneri = _translation("skanneri")
    ArticleTranslation.objects.filter(pk=skanneri.pk).update(body="Tulostimella skannaus.")
    skanneri.body = "Tulostimella skannaus."
    services._refresh_search(skanneri)
    assert _reached(query) == _truth(query) != before
    # Unpublished, and a new guide published: both seen at once.
    ArticleTranslation.objects.filter(pk=skanneri.pk).update(status=Status.DRAFT)
    assert skanneri.pk not in _reached(query)
    make_article("tulostuspalvelu", title="Tulostuspalvelu kirjastossa", body="Tulostimella.")
    assert _reached(query) == _truth(query)
    assert _translation("tulostuspalvelu").pk in _reached(query)


def test_searches_find_the_same_with_and_without_the_store(seed_articles):
    queries = ["salsanan vaihto", "tulsotimen asennus kotona", "pankkitunnukset uuteen puhelimeen"]
    cold = []
    for text in queries:
        word_matches.forget()
        cold.append(search.search(text, language="fi", floor=False))
    warm = [search.search(text, language="fi", floor=False) for text in queries]
    assert warm == cold and all(cold)
