"""Ranking of published articles for a query in the reader's language.

Both database backends share the scoring here; only `_candidates` (which rows
could match, and PostgreSQL's own text rank) and `_snippets` differ. On
PostgreSQL the candidates come from the GIN indexes: the stored tsvector built
with the language's text search configuration, and a pg_trgm index over the
stored stems for typos and for inflected Finnish forms that Snowball leaves
apart (`salasana` -> `salas`, `salasanan` -> `salasan`); which rows each
word reaches by prefix or trigram is remembered per process while the
published rows stay unchanged (knowledge.word_matches). On SQLite every
published row of the language is a candidate; the knowledge base is small in
the embedded setup.

Scoring matches each query stem against the stems of a document's fields
(title, tags, questions, summary, body) by exact stem, prefix in either
direction (which also covers Finnish compounds such as `pankki` +
`tunnukset`), a long shared prefix (consonant gradation: `tunnusluku` /
`tunnusluvut`) and trigram similarity (typos), weights fields and terms
(BM25-style idf), and rewards documents that match more of the query.

The questions are the ways customers ask for a guide, written by its authors
in everyday words. Like title and tags, the field counts a word once however
often it recurs there, and the stored document holds each question word once
(knowledge.services._refresh_search), so many phrasings repeating one word do
not weigh like a text about it. Snippets come from the body only: customers
never see the questions.
"""

from __future__ import annotations

import functools
import html
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F, Q

from . import synonyms, word_matches
from . import text as textlib
from .models import ArticleTranslation, Audience, Status

# The questions' weight was chosen on tests/knowledge/search_tuning.tsv with
# the first phrasings written for the 73 article files: MRR 0.852 from 0.5 to
# 1.25 and at 2.0-2.25; 0.846 at 0.25, 1.5-1.75 and 2.5; 0.831 at 3.0 and less
# above. 1.0 is mid-plateau. It can be low because a question word also
# counts in the body field, where the stored document holds it.
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.5, "questions": 1.0, "summary": 1.5, "body": 1.0}
EXACT, PREFIX_MIN, GRADATION, FUZZY_MIN_SIM = 1.0, 4, 0.7, 0.45
MAX_TERMS = 24
# The relevance floor (`_relevance`), chosen on tests/knowledge/search_tuning.tsv,
# never on the held-out set: a word is known when some guide word matches it
# at least this well (any typo match counts: 0.7 separated the tuning set
# slightly better but lost misspelled questions); at half or more unknown
# words the query is off the guides' subjects; and a guide must answer this
# share of the known words. The price: a two-word query with one word too
# mangled to match (`tulsotimen asennus`) finds nothing, and the page then
# offers the chat and help nearby. Counting looser look-alikes as known was
# tried and made every off-subject query find something.
KNOWN_MATCH = 0.5
MAX_UNKNOWN_SHARE = 0.5
MIN_RELEVANCE = 0.15
MAX_CANDIDATES = 400
SNIPPET_WORDS = 28
_MARK_START, _MARK_STOP = "\x02", "\x03"
_WORD_CORE = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True)
class QueryTerm:
    word: str
    stem: str


@dataclass(frozen=True)
class ParsedQuery:
    language: str
    terms: tuple[QueryTerm, ...]

    @property
    def stems(self) -> list[str]:
        return [t.stem for t in self.terms]


@dataclass
class Doc:
    id: int
    article_id: int
    slug: str
    language: str
    title: str
    summary: str
    tags: list[str]
    body: str
    document: str
    questions: list[str] = field(default_factory=list)
    fts_rank: float = 0.0
    score: float = 0.0
    matched_terms: int = 0
    relevance: float = 0.0
    matched: set[str] = field(default_factory=set)
    snippet: str = ""


@dataclass(frozen=True)
class Hit:
    translation_id: int
    article_id: int
    slug: str
    language: str
    title: str
    summary: str
    snippet: str
    score: float
    relevance: float = 0.0


def parse_query(text: str, language: str) -> ParsedQuery:
    language = textlib.normalise_language(language)
    stop = textlib.stopwords(language)
    seen: set[str] = set()
    terms: list[QueryTerm] = []
    # For long conversations the latest words say most about the problem now.
    words = [w for w in textlib.tokens(text) if w not in stop and len(w) > 1]
    for word in words:
        stem = textlib.stem(word, language)
        if stem in seen or len(stem) < 2:
            continue
        seen.add(stem)
        terms.append(QueryTerm(word=word, stem=stem))
    return ParsedQuery(language=language, terms=tuple(terms[-MAX_TERMS:]))


def retrieval_prefix(stem: str) -> str:
    """A prefix short enough to also reach the shorter stem of another inflected form."""
    if len(stem) <= 5:
        return stem
    return stem[: max(5, len(stem) - 3)]


@functools.lru_cache(maxsize=131072)  # pure; see knowledge.text on the caches
def match_strength(query_stem: str, word: str) -> float:
    """How well one stored stem answers one query stem, from 0 to 1."""
    if word == query_stem:
        return EXACT
    shorter, longer = sorted((query_stem, word), key=len)
    if len(shorter) >= PREFIX_MIN and longer.startswith(shorter):
        if len(longer) - len(shorter) <= 2:
            # An inflection ending Snowball left on (salasan / salas): the same word.
            return 0.95
        return 0.5 + 0.4 * len(shorter) / len(longer)
    common = 0
    for a, b in zip(query_stem, word, strict=False):
        if a != b:
            break
        common += 1
    if common >= 5 and common >= len(shorter) - 2:
        return GRADATION
    if abs(len(query_stem) - len(word)) <= 3 and len(shorter) >= 4:
        sim = textlib.trigram_similarity(query_stem, word)
        if sim >= FUZZY_MIN_SIM:
            return 0.3 + 0.5 * sim
    return 0.0


def expand_terms(query: ParsedQuery, vocabulary: Iterable[str]) -> dict[str, dict[str, float]]:
    """Map each query stem to the vocabulary words it matches and how strongly."""
    vocab = set(vocabulary)
    everyday = synonyms.stem_map(query.language)
    expansions: dict[str, dict[str, float]] = {}
    for term in query.terms:
        found: dict[str, float] = {}
        # The word itself, and the guide words for an everyday word (weaker).
        alternatives = [(term.stem, 1.0)]
        for key, guide_stems in everyday.items():
            if match_strength(term.stem, key) >= 0.95:
                alternatives.extend((s, synonyms.SYNONYM_STRENGTH) for s in guide_stems)
        for stem, factor in alternatives:
            for word in vocab:
                if word[:1] != stem[:1]:
                    # Typos in the first letter are rare and checking every word is slow.
                    continue
                strength = match_strength(stem, word) * factor
                if strength > found.get(word, 0.0):
                    found[word] = strength
        expansions[term.stem] = found
    return expansions


@functools.lru_cache(maxsize=4096)
def _field_words(
    language: str, title: str, tags: tuple[str, ...], summary: str, questions: tuple[str, ...]
):
    return {
        "title": frozenset(textlib.stems(title, language)),
        "tags": frozenset(textlib.stems(" ".join(tags), language)),
        "questions": frozenset(textlib.stems(" ".join(questions), language)),
        "summary": frozenset(textlib.stems(summary, language)),
    }


def score_documents(query: ParsedQuery, docs: list[Doc], *, collection_size: int) -> None:
    """Set score and matched words on each document (shared by both backends)."""
    if not query.terms or not docs:
        return
    doc_counts = {d.id: Counter(d.document.split()) for d in docs}
    doc_words = {doc_id: frozenset(counts) for doc_id, counts in doc_counts.items()}
    vocabulary = set().union(*doc_words.values())
    expansions = expand_terms(query, vocabulary)
    n_docs = max(collection_size, len(docs))
    doc_freq = {
        stem: sum(1 for words in doc_words.values() if words & matches.keys())
        for stem, matches in expansions.items()
    }
    idf = {stem: math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) for stem, df in doc_freq.items()}
    known = _known_terms(query, expansions)
    for doc in docs:
        fields = dict(
            _field_words(
                doc.language, doc.title, tuple(doc.tags), doc.summary, tuple(doc.questions)
            )
        )
        fields["body"] = doc_words[doc.id]
        total, matched_terms = 0.0, 0
        strength: dict[str, float] = {}
        for term in query.terms:
            matches = expansions[term.stem]
            if not matches:
                continue
            per_field = []
            for name, words in fields.items():
                hit = words & matches.keys()
                if hit:
                    found = max(matches[w] for w in hit)
                    strength[term.stem] = max(strength.get(term.stem, 0.0), found)
                    weight = FIELD_WEIGHTS[name]
                    if name == "body":
                        # Repetition in the text says a little about what it is about.
                        tf = sum(doc_counts[doc.id][w] for w in hit)
                        weight *= 1 + 0.3 * math.log(tf)
                    per_field.append(weight * found)
                    doc.matched.update(hit)
            if per_field:
                # The best field counts fully; agreement of other fields a little.
                best = max(per_field) + 0.2 * (sum(per_field) - max(per_field))
                total += idf[term.stem] * best
                matched_terms += 1
        doc.matched_terms = matched_terms
        doc.relevance = _relevance(query, known, idf, strength)
        coverage = matched_terms / len(query.terms)
        doc.score = total * (0.5 + 0.5 * coverage) + 2.0 * doc.fts_rank


def _known_terms(query: ParsedQuery, expansions: dict[str, dict[str, float]]) -> list[str]:
    """The query stems some guide word matches (a typo match counts)."""
    return [
        t.stem for t in query.terms if max(expansions[t.stem].values(), default=0.0) >= KNOWN_MATCH
    ]


def _relevance(
    query: ParsedQuery, known: list[str], idf: dict[str, float], strength: dict[str, float]
) -> float:
    """How much of the query this guide answers, from 0 to 1 (the floor's measure).

    Two things make a guide the wrong answer although it scores. First, a
    query mostly made of words no guide contains (a television, a driving
    licence) is about something the knowledge base does not cover, whatever a
    guide matches of the rest; a few unknown words are normal (names, filler,
    typos). Second, a guide that answers only the common words of the query
    misses its point: of the known words, weighted by rarity (idf), the guide
    must contain a share.
    """
    if not query.terms or len(known) / len(query.terms) <= 1 - MAX_UNKNOWN_SHARE:
        return 0.0
    weight = sum(idf[stem] for stem in known)
    if weight <= 0:
        return 0.0
    return sum(idf[stem] * strength.get(stem, 0.0) for stem in known) / weight


def _published(language: str, audience: str):
    qs = ArticleTranslation.objects.filter(language=language, status=Status.PUBLISHED)
    if audience == Audience.CUSTOMERS:
        qs = qs.filter(article__audience__in=[Audience.CUSTOMERS, Audience.BOTH])
    return qs


_DOC_FIELDS = (
    "id",
    "article_id",
    "article__slug",
    "language",
    "title",
    "summary",
    "tags",
    "questions",
    "body",
    "search_document",
)


def _to_doc(row: dict) -> Doc:
    return Doc(
        id=row["id"],
        article_id=row["article_id"],
        slug=row["article__slug"],
        language=row["language"],
        title=row["title"],
        summary=row["summary"],
        tags=list(row["tags"] or []),
        body=row["body"],
        document=row["search_document"],
        questions=list(row["questions"] or []),
        fts_rank=float(row.get("fts_rank") or 0.0),
    )


def _candidates(qs, query: ParsedQuery) -> list[Doc]:
    """The backend-specific part: rows that may match, with PostgreSQL's rank."""
    if connection.vendor != "postgresql":
        return [_to_doc(row) for row in qs.values(*_DOC_FIELDS)[: MAX_CANDIDATES * 5]]
    from django.contrib.postgres.search import SearchQuery, SearchRank

    config = textlib.PG_CONFIG[query.language]
    # The stored vector was built with this configuration; naming it here keeps
    # the query's own stemming identical to the index's.
    fts = SearchQuery(" ".join(t.word for t in query.terms), search_type="plain", config=config)
    # plainto_tsquery ANDs the words; a conversation rarely contains every
    # word of a guide, so OR them as well.
    any_word = SearchQuery(
        " | ".join(_tsquery_word(t.word) for t in query.terms), search_type="raw", config=config
    )
    # The rows each word reaches by prefix or by trigram (typos), which were
    # nine tenths of this query's time, are remembered per process for as
    # long as the published rows stay as they are (knowledge.word_matches).
    reached = word_matches.rows_reached(
        query.language, ((term.stem, retrieval_prefix(term.stem)) for term in query.terms)
    )
    condition = Q(search_vector=fts) | Q(search_vector=any_word) | Q(id__in=sorted(reached))
    rows = (
        qs.filter(condition)
        .annotate(fts_rank=SearchRank(F("search_vector"), any_word, normalization=32))
        .order_by("-fts_rank")
        .values(*_DOC_FIELDS, "fts_rank")[:MAX_CANDIDATES]
    )
    return [_to_doc(row) for row in rows]


_TSQUERY_UNSAFE = re.compile(r"[^\w]", re.UNICODE)


def _tsquery_word(word: str) -> str:
    cleaned = _TSQUERY_UNSAFE.sub("", word)
    return cleaned or "x"


def _snippets(docs: list[Doc], language: str) -> None:
    if not docs:
        return
    plain = [textlib.markdown_to_text(d.body) for d in docs]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ts_headline(%s::regconfig, t.body, to_tsquery('simple', t.q), %s) "
                "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(body, q, n) "
                "ORDER BY t.n",
                [
                    textlib.PG_CONFIG[language],
                    f"StartSel={_MARK_START}, StopSel={_MARK_STOP}, MaxWords={SNIPPET_WORDS}, "
                    "MinWords=12, MaxFragments=1",
                    plain,
                    [_headline_query(d.matched) for d in docs],
                ],
            )
            for doc, (raw,) in zip(docs, cursor.fetchall(), strict=True):
                doc.snippet = _marks_to_html(raw or "")
        return
    for doc, text in zip(docs, plain, strict=True):
        doc.snippet = highlight(text, doc.matched, language)


def _headline_query(words: set[str]) -> str:
    lexemes = sorted({_tsquery_word(w) for w in words if _tsquery_word(w) != "x"})
    # A query that matches nothing still yields the opening words as the snippet.
    return " | ".join(lexemes) if lexemes else "x"


def _marks_to_html(raw: str) -> str:
    escaped = html.escape(raw, quote=False)
    return escaped.replace(_MARK_START, "<mark>").replace(_MARK_STOP, "</mark>")


def highlight(text: str, matched: set[str], language: str, *, words: int = SNIPPET_WORDS) -> str:
    """The window of `text` with the most matched stems, those words wrapped in <mark>."""
    parts = re.split(r"(\s+)", text or "")
    word_idx = [i for i, p in enumerate(parts) if p and not p.isspace()]
    if not word_idx:
        return ""

    def is_hit(token: str) -> bool:
        bare = textlib.tokens(token)
        return bool(bare) and textlib.stem(bare[0], language) in matched

    hits = [is_hit(parts[i]) for i in word_idx]
    best_start, best_count = 0, -1
    for start in range(0, max(1, len(word_idx) - words + 1)):
        count = sum(hits[start : start + words])
        if count > best_count:
            best_start, best_count = start, count
    chosen = range(best_start, min(len(word_idx), best_start + words))
    out = []
    for pos in chosen:
        token = parts[word_idx[pos]]
        if not hits[pos]:
            out.append(html.escape(token, quote=False))
            continue
        # Mark the word, not the quotes and punctuation around it.
        m = _WORD_CORE.search(token)
        lead, core, tail = token[: m.start()], m.group(0), token[m.end() :]
        out.append(
            f"{html.escape(lead, quote=False)}<mark>{html.escape(core, quote=False)}</mark>"
            f"{html.escape(tail, quote=False)}"
        )
    prefix = "… " if best_start > 0 else ""
    suffix = " …" if chosen.stop < len(word_idx) else ""
    return prefix + " ".join(out) + suffix


def search(
    text: str,
    *,
    language: str,
    audience: str = Audience.CUSTOMERS,
    limit: int = 10,
    with_snippets: bool = True,
    exclude_articles: Iterable[int] = (),
    floor: bool = True,
) -> list[Hit]:
    """Published articles in `language` ranked for `text`, best first.

    With `floor` (the default) guides that do not really answer the query
    are left out, so a query the knowledge base has no answer for finds
    nothing and the page can say so. The conversation suggestions turn it off:
    they rank whatever a supporter may want to share.
    """
    query = parse_query(text, language)
    if not query.terms:
        return []
    qs = _published(query.language, audience)
    excluded = set(exclude_articles)
    if excluded:
        qs = qs.exclude(article_id__in=excluded)
    docs = _candidates(qs, query)
    score_documents(query, docs, collection_size=qs.count())
    ranked = sorted(
        (d for d in docs if d.score > 0 and (not floor or d.relevance >= MIN_RELEVANCE)),
        key=lambda d: (-d.score, d.slug),
    )
    top = ranked[: max(0, limit)]
    if with_snippets:
        _snippets(top, query.language)
    return [
        Hit(
            translation_id=d.id,
            article_id=d.article_id,
            slug=d.slug,
            language=d.language,
            title=d.title,
            summary=d.summary,
            snippet=d.snippet,
            score=round(d.score, 4),
            relevance=round(d.relevance, 4),
        )
        for d in top
    ]
