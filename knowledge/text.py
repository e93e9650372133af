"""Language-aware text processing shared by indexing, search and highlighting.

Plain functions of strings: tokenising keeps ä, ö and å (they are letters of
their own in Finnish and Swedish, never fold them), stop words come from the
Snowball lists PostgreSQL ships, and stems from the same Snowball algorithms
PostgreSQL's `finnish`, `swedish` and `english` configurations use.
"""

import functools
import re
from pathlib import Path

import markdown
import nh3
import snowballstemmer

PG_CONFIG = {"fi": "finnish", "sv": "swedish", "en": "english"}
_STOPWORD_DIR = Path(__file__).resolve().parent / "stopwords"
# Conversation fillers the Snowball lists lack; a chat opens with "hei" far
# more often than any guide mentions it.
_EXTRA_STOPWORDS = {
    "fi": {
        "hei",
        "moi",
        "moikka",
        "terve",
        "kiitos",
        "kiitoksia",
        "enkä",
        "etkä",
        "eikä",
        "apua",
        "auttaa",
        "voisitko",
        "voitteko",
        "osaa",
        "osaan",
        "tiedä",
        "tiedän",
        "nyt",
        "jo",
        "vielä",
        "ihan",
        "vaan",
        "mutta",
        "sitten",
    },
    "sv": {"hej", "hejsan", "tack", "hjälp", "kan", "inte", "nu", "bara"},
    "en": {"hi", "hello", "hey", "thanks", "thank", "please", "help", "can", "cannot", "can't"},
}
_WORD_RE = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_MAX_TOKEN = 40


def normalise_language(language: str | None) -> str:
    code = (language or "fi")[:2].lower()
    return code if code in PG_CONFIG else "fi"


@functools.cache
def stopwords(language: str) -> frozenset[str]:
    language = normalise_language(language)
    path = _STOPWORD_DIR / f"{PG_CONFIG[language]}.txt"
    words = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return frozenset(w for w in words | _EXTRA_STOPWORDS[language] if w)


@functools.cache
def _stemmer(language: str):
    return snowballstemmer.stemmer(PG_CONFIG[normalise_language(language)])


def tokens(text: str) -> list[str]:
    """Lower-cased words; hyphenated compounds are kept whole and also split."""
    out: list[str] = []
    for match in _WORD_RE.finditer(text or ""):
        word = match.group(0).lower()[:_MAX_TOKEN]
        out.append(word)
        if "-" in word:
            out.extend(part for part in word.split("-") if part)
    return out


# Stems, trigrams and match strengths are pure functions of short strings that
# recur in every search (the guides' vocabulary, a conversation's words):
# caching them per process roughly halves a suggestion search's CPU time
# (bench/suggest_cost.py). The bounds keep a long-lived worker's memory flat.
@functools.lru_cache(maxsize=65536)
def stem(word: str, language: str) -> str:
    return _stemmer(language).stemWord(word)


def stems(text: str, language: str, *, keep_stopwords: bool = False) -> list[str]:
    stop = frozenset() if keep_stopwords else stopwords(language)
    return [stem(w, language) for w in tokens(text) if w not in stop and len(w) > 1]


def markdown_to_html(body: str) -> str:
    """Render article Markdown to sanitised HTML (content comes from many editors)."""
    html = markdown.markdown(body or "", extensions=["sane_lists", "tables"])
    return nh3.clean(
        html,
        tags={
            "h2",
            "h3",
            "h4",
            "p",
            "ul",
            "ol",
            "li",
            "strong",
            "em",
            "a",
            "code",
            "pre",
            "blockquote",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "img",
            "br",
            "hr",
        },
        attributes={"a": {"href", "title"}, "img": {"src", "alt", "title"}},
        url_schemes={"http", "https", "mailto", "tel"},
    )


_MD_MARKUP_RE = re.compile(r"[#*_`>|\[\]]+|\(https?://[^)]*\)|^\s*\d+\.\s+|^\s*[-+]\s+", re.M)


def markdown_to_text(body: str) -> str:
    """Plain text of a Markdown body, for snippets (not for display as HTML)."""
    text = _MD_MARKUP_RE.sub(" ", body or "")
    return re.sub(r"\s+", " ", text).strip()


@functools.lru_cache(maxsize=65536)
def trigrams(word: str) -> frozenset[str]:
    # The same padding pg_trgm uses: two spaces before, one after.
    padded = f"  {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def trigram_similarity(a: str, b: str) -> float:
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)
