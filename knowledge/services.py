"""The only writers of knowledge-base state.

Saving a translation refreshes its search columns and, when the content
changed, appends a version; status changes go through the review workflow
draft -> review -> published (see knowledge/access.py for who may do what).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.postgres.search import SearchVector
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from helpdesk.models import Topic
from helpdesk.services.errors import Conflict, InvalidInput, NotFound

from . import text as textlib
from .access import Action, require
from .models import (
    LANGUAGES,
    Article,
    ArticleTranslation,
    ArticleVersion,
    Audience,
    HelpfulVote,
    Kind,
    Status,
)

log = logging.getLogger(__name__)

MAX_TAGS = 40
MAX_QUESTIONS = 20
MAX_QUESTION_CHARS = 200
MAX_BODY_CHARS = 100_000
SUGGEST_MAX_TEXT = 2000
_CONTENT_FIELDS = ("title", "summary", "body", "tags", "plain_language", "questions")


@dataclass(frozen=True)
class TranslationContent:
    title: str
    summary: str = ""
    body: str = ""
    tags: tuple[str, ...] = ()
    plain_language: bool = False
    # How customers ask, in their own words: one short sentence each.
    questions: tuple[str, ...] = ()


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise InvalidInput(_("Unknown language %(code)s.") % {"code": language})
    return language


def check_content(content: TranslationContent) -> TranslationContent:
    title = (content.title or "").strip()
    if not title:
        raise InvalidInput(_("A title is required."))
    if len(title) > 200:
        raise InvalidInput(_("The title is longer than 200 characters."))
    summary = (content.summary or "").strip()
    if len(summary) > 500:
        raise InvalidInput(_("The summary is longer than 500 characters."))
    body = (content.body or "").replace("\r\n", "\n")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(_("The text is too long."))
    tags = []
    for tag in content.tags or ():
        tag = str(tag).strip()
        if tag and tag not in tags:
            tags.append(tag[:60])
    if len(tags) > MAX_TAGS:
        raise InvalidInput(_("Too many tags."))
    return TranslationContent(
        title=title,
        summary=summary,
        body=body,
        tags=tuple(tags),
        plain_language=bool(content.plain_language),
        questions=check_questions(content.questions),
    )


def check_questions(questions) -> tuple[str, ...]:
    """Clean phrasings in their written order: whitespace collapsed, blanks and repeats dropped.

    A phrasing too long or too many of them is refused rather than cut: a
    sentence cut short no longer says what the customer asked.
    """
    if questions is None:
        return ()
    if isinstance(questions, str):
        questions = questions.splitlines()
    elif not isinstance(questions, list | tuple):
        raise InvalidInput(_("The ways of asking must be a list of sentences."))
    cleaned: list[str] = []
    seen: set[str] = set()
    for item in questions:
        if not isinstance(item, str):
            raise InvalidInput(_("Each way of asking must be text."))
        text = " ".join(item.split())
        if not text or text.casefold() in seen:
            continue
        if len(text) > MAX_QUESTION_CHARS:
            raise InvalidInput(
                _("A way of asking is longer than %(n)d characters: %(text)s")
                % {"n": MAX_QUESTION_CHARS, "text": text[:40] + "…"}
            )
        seen.add(text.casefold())
        cleaned.append(text)
    if len(cleaned) > MAX_QUESTIONS:
        raise InvalidInput(
            _("At most %(n)d ways of asking per translation.") % {"n": MAX_QUESTIONS}
        )
    return tuple(cleaned)


def _resolve_topics(topic_slugs: Iterable[str]) -> list[Topic]:
    slugs = [s for s in dict.fromkeys(topic_slugs) if s]
    topics = list(Topic.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {t.slug for t in topics})
    if missing:
        raise InvalidInput(_("Unknown topics: %(slugs)s.") % {"slugs": ", ".join(missing)})
    return sorted(topics, key=lambda t: slugs.index(t.slug))


def article_upsert(
    *,
    slug: str,
    audience: str = Audience.CUSTOMERS,
    kind: str = Kind.GUIDE,
    topic_slugs: Iterable[str] = (),
    video_url: str = "",
    provider=None,
) -> Article:
    """Create or update the language-independent part of an article."""
    if not slug or slugify(slug) != slug:
        raise InvalidInput(_("The slug may contain only letters, digits and hyphens."))
    if audience not in Audience.values:
        raise InvalidInput(_("Unknown audience %(value)s.") % {"value": audience})
    if kind not in Kind.values:
        raise InvalidInput(_("Unknown kind %(value)s.") % {"value": kind})
    topics = _resolve_topics(topic_slugs)
    with transaction.atomic():
        article, _created = Article.objects.get_or_create(
            slug=slug, defaults={"audience": audience, "kind": kind, "video_url": video_url}
        )
        changed = (article.audience, article.kind, article.video_url) != (
            audience,
            kind,
            video_url,
        )
        if changed or provider is not None:
            article.audience, article.kind, article.video_url = audience, kind, video_url
            if provider is not None:
                article.provider = provider
            article.save()
        _keep_topics_in_order(article, [t.pk for t in topics])
    return article


def _keep_topics_in_order(article: Article, wanted: list[int]) -> None:
    # The export lists an article's topics in the order the author wrote them,
    # which is the order of the through rows' ids. `topics.set()` adds what is
    # missing from a set, in whatever order the ids hash to, so the rows are
    # written again one after another when the list changed at all.
    through = Article.topics.through
    rows = through.objects.filter(article=article).order_by("id")
    if list(rows.values_list("topic_id", flat=True)) == wanted:
        return
    rows.delete()
    for topic_id in wanted:
        through.objects.create(article=article, topic_id=topic_id)


def _refresh_search(translation: ArticleTranslation) -> None:
    language = translation.language
    plain_body = textlib.markdown_to_text(translation.body)
    tags = " ".join(translation.tags or [])
    words = textlib.stems(
        " ".join([translation.title, tags, translation.summary, plain_body]), language
    )
    # The questions' stems join the document once each, and only where the
    # rest lacks them: they make a guide findable, but twenty phrasings that
    # all say "pankki" must not count as a text about banks twenty times over.
    present = set(words)
    for word in textlib.stems(" ".join(translation.questions or []), language):
        if word not in present:
            present.add(word)
            words.append(word)
    document = f" {' '.join(words)} " if words else ""
    update: dict = {"search_document": document}
    if connection.vendor == "postgresql":
        config = textlib.PG_CONFIG[language]
        update["search_vector"] = (
            SearchVector(Value(translation.title), config=config, weight="A")
            + SearchVector(Value(tags), config=config, weight="A")
            + SearchVector(Value(translation.summary), config=config, weight="B")
            + SearchVector(Value(_distinct_words(translation.questions)), config=config, weight="B")
            + SearchVector(Value(plain_body), config=config, weight="C")
        )
    ArticleTranslation.objects.filter(pk=translation.pk).update(**update)
    translation.search_document = document


def _distinct_words(texts) -> str:
    # ts_rank counts every occurrence; each word once keeps repetition across
    # phrasings from weighing like a text that is about that word.
    return " ".join(dict.fromkeys(textlib.tokens(" ".join(texts or []))))


def translation_save(
    *,
    article: Article,
    language: str,
    content: TranslationContent,
    actor=None,
    note: str = "",
    check_access: bool = True,
) -> tuple[ArticleTranslation, bool]:
    """Save the text of one translation; returns it and whether the content changed.

    A new version is written only when the content differs from the current one.
    Editing published text keeps it published: the history shows who changed what.
    `check_access=False` is for trusted callers (import command, good-practice flow).
    """
    check_language(language)
    content = check_content(content)
    if check_access:
        require(actor, Action.ARTICLE_EDIT)
    with transaction.atomic():
        translation = (
            ArticleTranslation.objects.select_for_update()
            .filter(article=article, language=language)
            .first()
        )
        if translation is None:
            translation = ArticleTranslation(article=article, language=language, author=actor)
        elif _content_of(translation) == content:
            return translation, False
        translation.title = content.title
        translation.summary = content.summary
        translation.body = content.body
        translation.tags = list(content.tags)
        translation.plain_language = content.plain_language
        translation.questions = list(content.questions)
        translation.version += 1
        if translation.author_id is None and actor is not None:
            translation.author = actor
        translation.save()
        ArticleVersion.objects.create(
            translation=translation,
            number=translation.version,
            title=content.title,
            summary=content.summary,
            body=content.body,
            tags=list(content.tags),
            plain_language=content.plain_language,
            questions=list(content.questions),
            created_by=actor,
            note=note[:200],
        )
        _refresh_search(translation)
    log.info(
        "kb translation saved article=%s lang=%s v=%s", article.slug, language, translation.version
    )
    return translation, True


def _content_of(translation: ArticleTranslation) -> TranslationContent:
    return TranslationContent(
        title=translation.title,
        summary=translation.summary,
        body=translation.body,
        tags=tuple(translation.tags or ()),
        plain_language=translation.plain_language,
        questions=tuple(translation.questions or ()),
    )


def _publish_action(translation: ArticleTranslation) -> Action:
    if translation.article.kind == Kind.GOOD_PRACTICE:
        return Action.GOOD_PRACTICE_PUBLISH
    return Action.ARTICLE_PUBLISH


def translation_submit_for_review(*, translation: ArticleTranslation, actor) -> ArticleTranslation:
    if translation.article.kind == Kind.GOOD_PRACTICE:
        require(actor, Action.GOOD_PRACTICE_SUBMIT)
    else:
        require(actor, Action.ARTICLE_EDIT)
    return _move(translation, frm={Status.DRAFT}, to=Status.REVIEW)


def translation_publish(*, translation: ArticleTranslation, actor) -> ArticleTranslation:
    require(actor, _publish_action(translation))
    return _move(translation, frm={Status.REVIEW}, to=Status.PUBLISHED, reviewer=actor)


def translation_return_to_draft(*, translation: ArticleTranslation, actor) -> ArticleTranslation:
    """Reject a review or withdraw a published text (it leaves the public pages)."""
    require(actor, _publish_action(translation))
    return _move(
        translation, frm={Status.REVIEW, Status.PUBLISHED}, to=Status.DRAFT, reviewer=actor
    )


def _move(translation, *, frm: set[str], to: str, reviewer=None) -> ArticleTranslation:
    with transaction.atomic():
        current = ArticleTranslation.objects.select_for_update().get(pk=translation.pk)
        if current.status not in frm:
            raise Conflict(
                _("This text is %(status)s and cannot move to %(target)s.")
                % {"status": current.get_status_display(), "target": Status(to).label}
            )
        current.status = to
        if reviewer is not None:
            current.reviewer = reviewer
        if to == Status.PUBLISHED:
            current.published_at = timezone.now()
        current.save(update_fields=["status", "reviewer", "published_at", "updated_at"])
    log.info("kb translation %s -> %s", current.pk, to)
    return current


def translation_import(
    *,
    article: Article,
    language: str,
    content: TranslationContent,
    status: str,
    note: str = "",
) -> tuple[ArticleTranslation, bool]:
    """Trusted write from Markdown files: text as given, status as given."""
    if status not in Status.values:
        raise InvalidInput(_("Unknown status %(value)s.") % {"value": status})
    with transaction.atomic():
        translation, changed = translation_save(
            article=article, language=language, content=content, note=note, check_access=False
        )
        if translation.status != status:
            translation.status = status
            if status == Status.PUBLISHED and translation.published_at is None:
                translation.published_at = timezone.now()
            translation.save(update_fields=["status", "published_at", "updated_at"])
            changed = True
    return translation, changed


def _unique_slug(title: str) -> str:
    base = (slugify(title) or "good-practice")[:80]
    slug, n = base, 2
    while Article.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def good_practice_submit(
    *,
    actor,
    language: str,
    content: TranslationContent,
    topic_slugs: Iterable[str] = (),
    provider=None,
) -> ArticleTranslation:
    """A provider's good practice, sent straight to review by coordinators."""
    require(actor, Action.GOOD_PRACTICE_SUBMIT)
    check_language(language)
    content = check_content(content)
    with transaction.atomic():
        article = article_upsert(
            slug=_unique_slug(content.title),
            audience=Audience.SUPPORTERS,
            kind=Kind.GOOD_PRACTICE,
            topic_slugs=topic_slugs,
            provider=provider,
        )
        translation, _changed = translation_save(
            article=article,
            language=language,
            content=content,
            actor=actor,
            note=_("Submitted as a good practice"),
            check_access=False,
        )
        translation = _move(translation, frm={Status.DRAFT}, to=Status.REVIEW)
    return translation


def _session_hash(session_key: str) -> str:
    return hashlib.sha256(f"kb-vote:{session_key}".encode()).hexdigest()


def vote_helpful(*, article_id: int, language: str, helpful: bool, session_key: str) -> HelpfulVote:
    """Record one answer per browser session and article; a second one is a Conflict."""
    check_language(language)
    if not session_key:
        raise InvalidInput(_("Your browser did not keep a session; allow cookies to vote."))
    article = (
        Article.objects.filter(pk=article_id, translations__status=Status.PUBLISHED)
        .distinct()
        .first()
    )
    if article is None:
        raise NotFound(_("No such article."))
    try:
        with transaction.atomic():
            return HelpfulVote.objects.create(
                article=article,
                language=language,
                helpful=bool(helpful),
                session_hash=_session_hash(session_key),
            )
    except IntegrityError as exc:
        message = _("You have already answered for this guide.")
        raise Conflict(message, code="already_voted") from exc


def suggest_articles(
    *,
    text: str,
    language: str,
    limit: int = 3,
    audience: str = "supporters",
    topic: str | None = None,
) -> list[dict]:
    """Articles for the conversation so far, best first (the `suggestions` frame).

    Only the latest part of a long conversation counts; a reader of audience
    `customers` gets only customer material, supporters get everything. The
    contact's `topic` raises its guides; every language is searched
    (knowledge.suggestions).
    """
    from .suggestions import suggest

    limit = max(0, min(int(limit), 20))
    if not text or limit == 0 or not isinstance(language, str):
        return []
    if language[:2] not in ("fi", "sv", "en"):
        return []
    return suggest(
        text[-SUGGEST_MAX_TEXT:],
        language=language,
        topic=topic if isinstance(topic, str) and topic else None,
        limit=limit,
        audience=Audience.CUSTOMERS if audience == Audience.CUSTOMERS else "all",
    )


@dataclass(frozen=True)
class ImportResult:
    outcome: str  # "created", "updated" or "unchanged"
    unknown_topics: tuple[str, ...] = ()


def article_file_import(*, item) -> ImportResult:
    """Apply one parsed article file (knowledge.markdown_io.ArticleFile), idempotently.

    Topics not in the taxonomy are left out and reported rather than failing
    the file: the taxonomy may be loaded after the articles.
    """
    known = set(Topic.objects.filter(slug__in=item.topics).values_list("slug", flat=True))
    unknown = tuple(t for t in item.topics if t not in known)
    with transaction.atomic():
        existed = ArticleTranslation.objects.filter(
            article__slug=item.article, language=item.language
        ).exists()
        article = article_upsert(
            slug=item.article,
            audience=item.audience,
            kind=item.kind,
            topic_slugs=[t for t in item.topics if t in known],
            video_url=item.video_url,
        )
        _translation, changed = translation_import(
            article=article,
            language=item.language,
            content=TranslationContent(
                title=item.title,
                summary=item.summary,
                body=item.body,
                tags=item.tags,
                plain_language=item.plain_language,
                questions=item.questions,
            ),
            status=item.status,
            note=_("Imported from Markdown"),
        )
    outcome = "updated" if existed and changed else ("unchanged" if existed else "created")
    return ImportResult(outcome=outcome, unknown_topics=unknown)
