"""Search quality: mean reciprocal rank over (language, query, expected article) cases."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from . import search as searchlib

RANK_DEPTH = 10


@dataclass(frozen=True)
class Case:
    language: str
    query: str
    expected: str


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
    misses = []
    for case in cases:
        hits = searchlib.search(
            case.query,
            language=case.language,
            audience="all",
            limit=RANK_DEPTH,
            with_snippets=False,
        )
        slugs = [h.slug for h in hits]
        rank = slugs.index(case.expected) + 1 if case.expected in slugs else None
        reciprocal.setdefault(case.language, []).append(1.0 / rank if rank else 0.0)
        if rank != 1:
            misses.append(Miss(case=case, rank=rank, top=slugs[:3]))
    all_values = [v for values in reciprocal.values() for v in values]
    return Report(
        mrr=sum(all_values) / len(all_values) if all_values else 0.0,
        per_language={k: sum(v) / len(v) for k, v in reciprocal.items()},
        misses=misses,
    )
