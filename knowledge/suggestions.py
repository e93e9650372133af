"""Guides for a conversation: the contact's topic, its words, and every language.

`suggest` ranks published guides for the suggestions panel and the waiting
room. It builds on `knowledge.search` (which already handles inflected
Finnish forms, compounds and typos) and adds what a conversation knows that
a search box does not:

* The contact's topic. A guide filed under the topic the customer chose is
  raised (`TOPIC_BOOST`); a guide of an unrelated topic is not removed, since
  customers often choose the topic loosely.
* Every language. A customer writes Swedish on the Finnish site, or an
  English-speaking supporter searches for a guide that exists only in
  Finnish. The query is searched in each language; an article found through
  another language is shown in the reader's language when it has that
  translation, else in its own (the card says which). For the search in
  another language the query's words are also translated with a small
  glossary of everyday words (`knowledge.glossary`). Scores found through
  another language count a little less (`OTHER_LANGUAGE`), so the reader's
  own language wins a tie.
* How-to before alarm. A guide about what to do after being scammed is the
  right first answer only when the conversation speaks of being scammed:
  guides whose topic is the scam topic are lowered (`ALARM_DAMPING`) unless
  the contact's topic is that topic or the scam guides are the only ones
  matching. The scam topic slug is data (`ALARMING_TOPICS`), not per guide.

Scores are the search's own; the factors only reorder what it found.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import glossary
from . import search as searchlib
from . import text as textlib
from .models import Article, ArticleTranslation, Audience, Status

LANGUAGES = ("fi", "sv", "en")
TOPIC_BOOST = 0.8
OTHER_LANGUAGE = 0.85
ALARM_DAMPING = 0.5
ALARMING_TOPICS = frozenset({"security-scams"})
MAX_TEXT = 2000
DEPTH = 20


@dataclass
class _Found:
    article_id: int
    slug: str
    score: float
    hit: searchlib.Hit


def suggest(
    text: str,
    *,
    language: str,
    topic: str | None = None,
    limit: int = 3,
    audience: str = "all",
) -> list[dict]:
    """Cards for the best guides for this conversation, best first.

    A card carries `language`; `other_language` is true when the reader's
    language has no translation of that guide.
    """
    language = textlib.normalise_language(language)
    limit = max(0, min(int(limit), 20))
    text = (text or "")[-MAX_TEXT:]
    if not text.strip() or limit == 0:
        return []
    search_audience = Audience.CUSTOMERS if audience == Audience.CUSTOMERS else "all"
    found: dict[int, _Found] = {}
    for lang in (language, *(x for x in LANGUAGES if x != language)):
        factor = 1.0 if lang == language else OTHER_LANGUAGE
        # The words of the conversation, and their glossary translations into
        # this language (the conversation may be in any of the three).
        query = f"{text}\n{glossary.translate(text, to=lang)}"
        for hit in searchlib.search(
            query,
            language=lang,
            audience=search_audience,
            limit=DEPTH,
            with_snippets=False,
            floor=False,
        ):
            score = hit.score * factor
            best = found.get(hit.article_id)
            if best is None or score > best.score:
                found[hit.article_id] = _Found(hit.article_id, hit.slug, score, hit)
    if not found:
        return []
    topics = _topics_of(found.keys())
    wanted = {topic} if topic else set()
    alarm_wanted = bool(wanted & ALARMING_TOPICS)
    only_alarming = all(topics.get(a, set()) & ALARMING_TOPICS for a in found)
    for item in found.values():
        mine = topics.get(item.article_id, set())
        if wanted and mine & wanted:
            item.score *= 1 + TOPIC_BOOST
        if mine & ALARMING_TOPICS and not alarm_wanted and not only_alarming:
            if _is_incident_guide(mine):
                item.score *= ALARM_DAMPING
    ranked = sorted(found.values(), key=lambda f: (-f.score, f.slug))[:limit]
    return _cards(ranked, language, audience=search_audience)


def _is_incident_guide(topics: set[str]) -> bool:
    # A guide filed only under scams, or under scams and banking, is about an
    # incident; one that is mainly about something else (e-mail, updates,
    # shopping) merely mentions safety.
    return bool(topics & ALARMING_TOPICS) and topics <= ALARMING_TOPICS | {"banking"}


def _topics_of(article_ids) -> dict[int, set[str]]:
    rows = Article.topics.through.objects.filter(article_id__in=list(article_ids)).values_list(
        "article_id", "topic__slug"
    )
    out: dict[int, set[str]] = {}
    for article_id, slug in rows:
        out.setdefault(article_id, set()).add(slug)
    return out


def _cards(ranked: list[_Found], language: str, *, audience: str) -> list[dict]:
    from .selectors import article_url

    ids = [f.article_id for f in ranked]
    own = {
        t.article_id: t
        for t in ArticleTranslation.objects.filter(
            article_id__in=ids, language=language, status=Status.PUBLISHED
        )
    }
    cards = []
    for f in ranked:
        t = own.get(f.article_id)
        if t is not None:
            title, summary, lang = t.title, t.summary, language
        else:
            title, summary, lang = f.hit.title, f.hit.summary, f.hit.language
        cards.append(
            {
                "id": f.article_id,
                "slug": f.slug,
                "title": title,
                "summary": summary,
                "url": article_url(f.slug, lang),
                "language": lang,
                "other_language": lang != language,
            }
        )
    return cards


def by_conversation(
    cards: list[dict], *, topic: str | None, text: str = "", language: str
) -> list[dict]:
    """A topic's guides ordered by what the customer wrote (stable; unchanged
    without text). The waiting room then puts alarming guides last
    (knowledge.reassurance)."""
    if not text or not text.strip():
        return list(cards)
    ranked = suggest(text, language=language, topic=topic, limit=20, audience="customers")
    order = {card["id"]: index for index, card in enumerate(ranked)}
    return [
        card
        for _index, card in sorted(
            enumerate(cards), key=lambda item: (order.get(item[1]["id"], len(order)), item[0])
        )
    ]
