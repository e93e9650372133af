"""Which published translations each query word reaches by prefix or trigram, remembered.

A search's candidates on PostgreSQL (knowledge.search._candidates) are the
rows its full-text queries match, or whose stored stems start with a word's
prefix (LIKE) or hold a word like it (pg_trgm's `%>`). The trigram test
extracts the trigrams of a whole document for every word and row: most of a
search's database time, and the suggestion worker searches every few
hundred milliseconds in a busy hour, mostly with the same everyday words.

So the rows each (language, word) reaches by those two tests are kept in
this process, and a search asks the database only for the words it has not
met. What is kept is only valid for the rows it was read from: every search
first reads a fingerprint of the language's published rows (their ids and
`xmin`, the transaction that last wrote each row, hashed in the database),
and a different fingerprint empties the language's store. Any write to a
row changes its `xmin`, whoever made it and however (`update()` included,
which leaves `updated_at` alone), and a rolled-back one restores it. The
fingerprint and the candidates are two statements: a row that changes
between them is read as of the fingerprint's moment at worst, and the next
search sees the change, as with the collection count read beside them.

PostgreSQL only: SQLite takes every published row as a candidate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q

from .models import ArticleTranslation, Status

__all__ = ["rows_reached"]

# Words remembered per language before the store starts afresh.
MAX_WORDS = 20_000

_lock = threading.Lock()
# language -> (fingerprint, {stem: ids})
_stores: dict[str, tuple[tuple, dict[str, frozenset[int]]]] = {}


def _published(language: str):
    return ArticleTranslation.objects.filter(language=language, status=Status.PUBLISHED)


def _fingerprint(language: str) -> tuple:
    table = connection.ops.quote_name(ArticleTranslation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), md5(string_agg(id::text || ':' || xmin::text, ',' ORDER BY id))"
            f" FROM {table} WHERE language = %s AND status = %s",
            [language, Status.PUBLISHED],
        )
        return tuple(cursor.fetchone())


def _reached(language: str, words: dict[str, str]) -> dict[str, frozenset[int]]:
    """For each stem -> prefix not yet known, the rows it reaches: one statement for all."""
    tests = {}
    for i, (stem, prefix) in enumerate(words.items()):
        condition = Q(search_document__contains=f" {prefix}")
        if len(stem) >= 4:
            condition |= Q(search_document__trigram_word_similar=stem)
        tests[f"w{i}"] = ExpressionWrapper(condition, output_field=BooleanField())
    reached: dict[str, set[int]] = {stem: set() for stem in words}
    stems = list(words)
    for pk, *hits in _published(language).annotate(**tests).values_list("id", *tests):
        for stem, hit in zip(stems, hits, strict=True):
            if hit:
                reached[stem].add(pk)
    return {stem: frozenset(ids) for stem, ids in reached.items()}


def rows_reached(language: str, words: Iterable[tuple[str, str]]) -> frozenset[int]:
    """Ids of the published `language` rows that some (stem, prefix) reaches.

    A row is reached by a word when its stored stems hold a word starting
    with `prefix`, or (stems of four letters or more) a word pg_trgm finds
    similar to `stem` (`%>`, at the server's word similarity threshold).
    """
    fingerprint = _fingerprint(language)
    with _lock:
        kept = _stores.get(language)
        if kept is None or kept[0] != fingerprint or len(kept[1]) > MAX_WORDS:
            kept = (fingerprint, {})
            _stores[language] = kept
        known = kept[1]
    words = dict(words)
    missing = {stem: prefix for stem, prefix in words.items() if stem not in known}
    fresh = _reached(language, missing) if missing else {}
    if fresh:
        with _lock:
            # Kept only while the store is still the one of this fingerprint.
            if _stores.get(language) is kept:
                known.update(fresh)
    return frozenset().union(*(fresh[s] if s in fresh else known[s] for s in words))


def forget() -> None:
    """Empty every store (tests that swap the database under a process)."""
    with _lock:
        _stores.clear()
