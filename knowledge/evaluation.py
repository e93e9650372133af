"""Search quality: mean reciprocal rank over (language, query, expected article) cases.

An expected article of "-" means the knowledge base has no answer: the right
result is nothing (the page then offers the chat and the in-person help page,
/near/). Such a case scores reciprocal rank 1 when the search returns nothing
and 0 when it returns a guide, and counts in the MRR like any other;
`no_answer_empty` of `no_answer_total` were answered right, and
`answerable_mrr` is the MRR over the answerable cases alone.

The sets live in tests/knowledge/: `search_eval.tsv`, written beside the
articles (many of its queries reuse title and tag words, so it says little
about real customers); `search_tuning.tsv`, on which ranking choices are
made; and two held-out sets, `search_heldout.tsv` (the gate) and
`search_heldout2.tsv` (written later and used to choose nothing, so that a
change fitted to the first shows): customer phrasings that `copied_words`
checks share no word pair and no long run of letters with any title or tag.
`without_tags` measures how much the ranking leans on tags, and
`without_authored_words` how much it leans on everything authors add for
search alone: the tags and the ways customers ask (questions).
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from . import search as searchlib

RANK_DEPTH = 10
NO_ANSWER = "-"
# A query may not share this many letters in a row with a title or tag.
LONGEST_SHARED_RUN = 16


@dataclass(frozen=True)
class Case:
    language: str
    query: str
    expected: str

    @property
    def answerable(self) -> bool:
        return self.expected != NO_ANSWER


@dataclass(frozen=True)
class Miss:
    case: Case
    rank: int | None
    top: list[str]


@dataclass
class Report:
    mrr: float
    per_language: dict[str, float]
    misses: list[Miss] = field(default_factory=list)
    answerable: int = 0
    answerable_mrr: float = 0.0
    no_answer_total: int = 0
    no_answer_empty: int = 0


def read_cases(path: Path) -> list[Case]:
    cases = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if not row or row[0].startswith("#") or row[0].strip() == "language":
                continue
            if len(row) < 3:
                raise ValueError(f"expected 3 columns, got {row!r}")
            cases.append(Case(row[0].strip(), row[1].strip(), row[2].strip()))
    return cases


def evaluate(cases: list[Case]) -> Report:
    reciprocal: dict[str, list[float]] = {}
    answered: list[float] = []
    misses = []
    no_answer_total = no_answer_empty = 0
    for case in cases:
        hits = searchlib.search(
            case.query,
            language=case.language,
            audience="all",
            limit=RANK_DEPTH,
            with_snippets=False,
        )
        slugs = [h.slug for h in hits]
        if not case.answerable:
            no_answer_total += 1
            no_answer_empty += not slugs
            reciprocal.setdefault(case.language, []).append(0.0 if slugs else 1.0)
            if slugs:
                misses.append(Miss(case=case, rank=None, top=slugs[:3]))
            continue
        rank = slugs.index(case.expected) + 1 if case.expected in slugs else None
        reciprocal.setdefault(case.language, []).append(1.0 / rank if rank else 0.0)
        answered.append(1.0 / rank if rank else 0.0)
        if rank != 1:
            misses.append(Miss(case=case, rank=rank, top=slugs[:3]))
    all_values = [v for values in reciprocal.values() for v in values]
    return Report(
        mrr=sum(all_values) / len(all_values) if all_values else 0.0,
        per_language={k: sum(v) / len(v) for k, v in reciprocal.items()},
        misses=misses,
        answerable=len(answered),
        answerable_mrr=sum(answered) / len(answered) if answered else 0.0,
        no_answer_total=no_answer_total,
        no_answer_empty=no_answer_empty,
    )


def without_tags() -> contextlib.AbstractContextManager[None]:
    """Every translation searched as if it had no tags; nothing is kept."""
    return _searched_without(("tags",))


def without_authored_words() -> contextlib.AbstractContextManager[None]:
    """Every translation searched without its tags and questions; nothing is kept."""
    return _searched_without(("tags", "questions"))


@contextlib.contextmanager
def _searched_without(emptied: tuple[str, ...]) -> Iterator[None]:
    # In a transaction that is rolled back, with the search documents rebuilt
    # the way an edit rebuilds them.
    from .models import ArticleTranslation
    from .services import _refresh_search

    with transaction.atomic():
        for translation in ArticleTranslation.objects.all():
            for name in emptied:
                setattr(translation, name, [])
            ArticleTranslation.objects.filter(pk=translation.pk).update(
                **dict.fromkeys(emptied, [])
            )
            _refresh_search(translation)
        try:
            yield
        finally:
            transaction.set_rollback(True)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def copied_words(cases: list[Case], language_texts: dict[str, list[str]]) -> list[str]:
    from . import text as textlib

    """Why each case that copies a title or tag does so; empty when none does.

    `language_texts` holds, per language, every title and tag. A case copies
    when it shares two words in a row with one of them, or a run of
    LONGEST_SHARED_RUN letters (a long compound taken whole).
    """
    found = []
    for case in cases:
        stop = textlib.stopwords(case.language)
        query_words = _words(case.query)
        pairs = {
            pair for pair in zip(query_words, query_words[1:], strict=False) if not set(pair) & stop
        }
        letters = "".join(query_words)
        runs = {
            letters[i : i + LONGEST_SHARED_RUN]
            for i in range(len(letters) - LONGEST_SHARED_RUN + 1)
        }
        for text in language_texts.get(case.language, []):
            words = _words(text)
            shared = pairs & set(zip(words, words[1:], strict=False))
            if shared:
                found.append(f"{case.query!r} shares {' '.join(sorted(shared)[0])!r} with {text!r}")
                break
            joined = "".join(words)
            run = next((r for r in runs if r in joined), None)
            if run:
                found.append(f"{case.query!r} shares {run!r} with {text!r}")
                break
    return found


def titles_and_tags() -> dict[str, list[str]]:
    """Every title and tag in the database, per language."""
    from .models import ArticleTranslation

    texts: dict[str, list[str]] = {}
    for language, title, tags in ArticleTranslation.objects.values_list(
        "language", "title", "tags"
    ):
        texts.setdefault(language, []).extend([title, *(tags or [])])
    return texts
