"""Reads of the knowledge base, each aware of who is reading.

Customers see published articles for customers (or both); supporter material
needs a logged-in supporter (knowledge.access.is_supporter). A translation
missing in the reader's language falls back visibly to another language.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from django.db.models import Count, Q
from django.urls import reverse

from helpdesk.models import Topic
from helpdesk.services.errors import NotAllowed, NotFound

from . import search as searchlib
from . import text as textlib
from .access import is_supporter
from .models import LANGUAGES, Article, ArticleTranslation, ArticleVersion, Audience, Status
from .reassurance import reassuring_first

FALLBACK_ORDER = ("fi", "sv", "en")
CUSTOMER_AUDIENCES = (Audience.CUSTOMERS, Audience.BOTH)


def language_order(language: str) -> list[str]:
    language = textlib.normalise_language(language)
    return [language] + [code for code in FALLBACK_ORDER if code != language]


def article_url(slug: str, language: str) -> str:
    return f"{reverse('knowledge:article', args=[slug])}?lang={language}"


def pick_translation(translations, language: str) -> ArticleTranslation | None:
    by_lang = {t.language: t for t in translations}
    for code in language_order(language):
        if code in by_lang:
            return by_lang[code]
    return None


def _card(translation: ArticleTranslation, slug: str) -> dict:
    return {
        "id": translation.article_id,
        "slug": slug,
        "title": translation.title,
        "summary": translation.summary,
        "url": article_url(slug, translation.language),
        "language": translation.language,
    }


def card_for_hit(hit: searchlib.Hit) -> dict:
    return {
        "id": hit.article_id,
        "slug": hit.slug,
        "title": hit.title,
        "summary": hit.summary,
        "url": article_url(hit.slug, hit.language),
        "language": hit.language,
    }


def article_card(article_id, language: str, *, audience: str = "customers") -> dict | None:
    """The card shown when an article is shared into a chat; None if it cannot be shown.

    Shared cards reach customers, so by default only customer material qualifies.
    """
    try:
        article_id = int(article_id)
    except (TypeError, ValueError):
        return None
    qs = ArticleTranslation.objects.filter(article_id=article_id, status=Status.PUBLISHED)
    if audience == Audience.CUSTOMERS:
        qs = qs.filter(article__audience__in=CUSTOMER_AUDIENCES)
    rows = list(qs.select_related("article"))
    chosen = pick_translation(rows, language)
    return _card(chosen, chosen.article.slug) if chosen else None


@dataclass(frozen=True)
class ArticleView:
    article: Article
    translation: ArticleTranslation
    requested_language: str
    available_languages: list[str]

    @property
    def is_fallback(self) -> bool:
        return self.translation.language != self.requested_language


def public_article(*, slug: str, language: str, user) -> ArticleView:
    """The article page: NotFound when nothing is published, NotAllowed for staff material."""
    article = Article.objects.filter(slug=slug).prefetch_related("topics").first()
    if article is None:
        raise NotFound("article")
    published = list(article.translations.filter(status=Status.PUBLISHED))
    if not published:
        raise NotFound("article")
    if article.audience not in CUSTOMER_AUDIENCES and not is_supporter(user):
        raise NotAllowed("supporters only")
    requested = textlib.normalise_language(language)
    chosen = pick_translation(published, requested)
    return ArticleView(
        article=article,
        translation=chosen,
        requested_language=requested,
        available_languages=[c for c in LANGUAGES if any(t.language == c for t in published)],
    )


def _listing(qs_articles, language: str, limit: int | None = None) -> list[dict]:
    articles = list(qs_articles.prefetch_related("translations"))
    out = []
    for article in articles:
        published = [t for t in article.translations.all() if t.status == Status.PUBLISHED]
        chosen = pick_translation(published, language)
        if chosen:
            out.append(_card(chosen, article.slug) | {"kind": article.kind})
    out.sort(key=lambda c: (c["language"] != textlib.normalise_language(language), c["title"]))
    return out[:limit] if limit else out


def _visible_articles(user):
    qs = Article.objects.filter(translations__status=Status.PUBLISHED).distinct()
    if not is_supporter(user):
        qs = qs.filter(audience__in=CUSTOMER_AUDIENCES)
    return qs


def topic_articles(*, topic_slug: str, language: str, user=None, limit: int | None = None):
    topic = Topic.objects.filter(slug=topic_slug).first()
    if topic is None:
        raise NotFound("topic")
    qs = _visible_articles(user).filter(Q(topics=topic) | Q(topics__parent=topic)).distinct()
    return topic, _listing(qs, language, limit)


def customer_guides_for_topic(
    *, topic_slug: str, language: str, limit: int = 3, text: str = ""
) -> list[dict]:
    """Top customer guides for a topic, for the waiting view.

    `text` (what the customer wrote, optional) orders them by relevance
    (knowledge.suggestions); reassuring how-to guides then come before
    warnings and emergencies (knowledge.reassurance).
    """
    from .suggestions import by_conversation

    _topic, cards = topic_articles(topic_slug=topic_slug, language=language, limit=None)
    # Guides and checklists help someone who is waiting; training does not.
    cards = [c for c in cards if c["kind"] in ("guide", "checklist", "video_link")]
    # What the customer wrote orders them first; the alarm order (stable) last.
    cards = by_conversation(cards, topic=topic_slug, text=text, language=language)
    return reassuring_first(cards)[:limit]


def topics_with_articles(*, user=None) -> list[Topic]:
    """Topics (and their categories) that have something visible to this reader."""
    visible = _visible_articles(user)
    return list(
        Topic.objects.filter(articles__in=visible)
        .annotate(n=Count("articles", distinct=True))
        .select_related("parent")
        .order_by("parent__order", "order", "slug")
    )


def search_articles(*, q: str, language: str, user=None, limit: int = 10) -> list[dict]:
    """Manual search: reader's language first, then other languages' articles that
    have no translation in it (marked by their `language`)."""
    language = textlib.normalise_language(language)
    audience = "all" if is_supporter(user) else Audience.CUSTOMERS
    hits = searchlib.search(q, language=language, audience=audience, limit=limit)
    results = [card_for_hit(h) | {"snippet": h.snippet, "fallback": False} for h in hits]
    if len(results) < limit:
        translated = ArticleTranslation.objects.filter(
            language=language, status=Status.PUBLISHED
        ).values_list("article_id", flat=True)
        seen = {r["id"] for r in results} | set(translated)
        for other in language_order(language)[1:]:
            more = searchlib.search(
                q,
                language=other,
                audience=audience,
                limit=limit - len(results),
                exclude_articles=seen,
            )
            for h in more:
                results.append(card_for_hit(h) | {"snippet": h.snippet, "fallback": True})
                seen.add(h.article_id)
            if len(results) >= limit:
                break
    return results


def version_diff(*, translation: ArticleTranslation, old: int, new: int) -> list[str]:
    """Unified diff (difflib) between two versions of one translation."""
    versions = {
        v.number: v
        for v in ArticleVersion.objects.filter(translation=translation, number__in=[old, new])
    }
    if old not in versions or new not in versions:
        raise NotFound("version")
    return list(
        difflib.unified_diff(
            _version_lines(versions[old]),
            _version_lines(versions[new]),
            fromfile=f"v{old}",
            tofile=f"v{new}",
            lineterm="",
        )
    )


def _version_lines(version: ArticleVersion) -> list[str]:
    head = [
        f"title: {version.title}",
        f"summary: {version.summary}",
        f"tags: {', '.join(version.tags or [])}",
        *(f"question: {question}" for question in version.questions or []),
        f"plain_language: {str(version.plain_language).lower()}",
        "",
    ]
    return head + version.body.splitlines()


def review_queue(*, user) -> list[ArticleTranslation]:
    """Texts waiting for review that this user may publish."""
    from .access import Action, can

    qs = ArticleTranslation.objects.filter(status=Status.REVIEW)
    if not can(user, Action.ARTICLE_PUBLISH):
        if not can(user, Action.GOOD_PRACTICE_PUBLISH):
            return []
        qs = qs.filter(article__kind="good_practice")
    return list(qs.select_related("article", "author", "article__provider").order_by("updated_at"))


def article_files():
    """Every translation (any status) as an article file, for export."""
    from .markdown_io import ArticleFile

    rows = (
        ArticleTranslation.objects.select_related("article")
        .prefetch_related("article__topics")
        .order_by("article__slug", "language")
    )
    for t in rows:
        yield ArticleFile(
            article=t.article.slug,
            language=t.language,
            title=t.title,
            summary=t.summary,
            audience=t.article.audience,
            kind=t.article.kind,
            topics=tuple(topic.slug for topic in _ordered_topics(t.article)),
            tags=tuple(t.tags or ()),
            plain_language=t.plain_language,
            status=t.status,
            body=t.body,
            video_url=t.article.video_url,
            questions=tuple(t.questions or ()),
        )


def _ordered_topics(article: Article):
    # The through table keeps insertion order by id; that is the order the
    # author wrote them in, which an export should keep.
    through = Article.topics.through
    rows = through.objects.filter(article_id=article.pk).order_by("id")
    ids = list(rows.values_list("topic_id", flat=True))
    by_id = {t.pk: t for t in article.topics.all()}
    return [by_id[i] for i in ids if i in by_id]
