"""Suggestion quality: MRR over (language, topic, conversation snippet, expected guide).

The set lives beside the search sets, in tests/knowledge/suggest_eval.tsv.
`language` is the contact's; the snippet may be written in another language,
and the expected guide may exist only in another language (knowledge.suggestions
searches every language). Reported by `manage.py search_eval` beside the
search set.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from . import suggestions

RANK_DEPTH = 10


@dataclass(frozen=True)
class SuggestCase:
    language: str
    topic: str
    snippet: str
    expected: str


@dataclass(frozen=True)
class SuggestMiss:
    case: SuggestCase
    rank: int | None
    top: list[str]


@dataclass
class SuggestReport:
    mrr: float
    per_language: dict[str, float]
    cases: int
    misses: list[SuggestMiss] = field(default_factory=list)


def read_cases(path: Path) -> list[SuggestCase]:
    cases = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if not row or row[0].startswith("#") or row[0].strip() == "language":
                continue
            if len(row) != 4:
                raise ValueError(f"expected 4 columns, got {row!r}")
            language, topic, snippet, expected = (value.strip() for value in row)
            if not snippet or not expected:
                raise ValueError(f"snippet and expected guide are required: {row!r}")
            cases.append(SuggestCase(language, topic, snippet, expected))
    return cases


def evaluate(cases: list[SuggestCase]) -> SuggestReport:
    reciprocal: dict[str, list[float]] = {}
    misses = []
    for case in cases:
        cards = suggestions.suggest(
            case.snippet, language=case.language, topic=case.topic or None, limit=RANK_DEPTH
        )
        slugs = [c["slug"] for c in cards]
        rank = slugs.index(case.expected) + 1 if case.expected in slugs else None
        reciprocal.setdefault(case.language, []).append(1.0 / rank if rank else 0.0)
        if rank != 1:
            misses.append(SuggestMiss(case=case, rank=rank, top=slugs[:3]))
    values = [v for vs in reciprocal.values() for v in vs]
    return SuggestReport(
        mrr=sum(values) / len(values) if values else 0.0,
        per_language={k: sum(v) / len(v) for k, v in reciprocal.items()},
        cases=len(values),
        misses=misses,
    )
