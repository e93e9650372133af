"""Knowledge base and method bank (docs/architecture.md section 1).

An Article carries what is common to every language (audience, kind, topics);
each ArticleTranslation has its own text, review workflow and version history.
Only knowledge.services writes these rows: it keeps the search columns and the
version history in step with the text.
"""

from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

LANGUAGES = ("fi", "sv", "en")
LANGUAGE_CHOICES = [("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English"))]
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "svg")
IMAGE_MAX_BYTES = 2 * 1024 * 1024


class Audience(models.TextChoices):
    CUSTOMERS = "customers", _("customers")
    SUPPORTERS = "supporters", _("supporters")
    BOTH = "both", _("customers and supporters")


class Kind(models.TextChoices):
    GUIDE = "guide", _("guide")
    CHECKLIST = "checklist", _("checklist")
    TRAINING = "training", _("training material")
    GOOD_PRACTICE = "good_practice", _("good practice")
    VIDEO_LINK = "video_link", _("video link")


class Status(models.TextChoices):
    DRAFT = "draft", _("draft")
    REVIEW = "review", _("in review")
    PUBLISHED = "published", _("published")


class Article(models.Model):
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    audience = models.CharField(
        _("audience"), max_length=12, choices=Audience.choices, default=Audience.CUSTOMERS
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.GUIDE)
    topics = models.ManyToManyField(
        "helpdesk.Topic", verbose_name=_("topics"), related_name="articles", blank=True
    )
    video_url = models.URLField(_("video address"), blank=True)
    provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("submitted by provider"),
        related_name="good_practices",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ArticleTranslation(models.Model):
    article = models.ForeignKey(
        Article, verbose_name=_("article"), related_name="translations", on_delete=models.CASCADE
    )
    language = models.CharField(_("language"), max_length=2, choices=LANGUAGE_CHOICES)
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    body = models.TextField(_("text (Markdown)"), blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    # How customers ask for this guide in their own words (short sentences);
    # search matches them, customers never see them.
    questions = models.JSONField(_("how customers ask"), default=list, blank=True)
    plain_language = models.BooleanField(_("plain language"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    version = models.PositiveIntegerField(_("version"), default=0)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Filled only on PostgreSQL, with the text search configuration of the
    # row's language; queries filter by language and name the same one.
    search_vector = SearchVectorField(null=True, editable=False)
    # Snowball stems of title, tags, summary and body, then once each the
    # stems of the questions that the rest lacks; space separated and space
    # padded, so that " stem" finds word starts on every backend (and the
    # pg_trgm index serves similarity and LIKE on PostgreSQL).
    search_document = models.TextField(default="", editable=False)

    class Meta:
        verbose_name = _("translation")
        verbose_name_plural = _("translations")
        ordering = ["article__slug", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "language"], name="knowledge_translation_unique"
            )
        ]
        indexes = [
            models.Index(fields=["language", "status"], name="knowledge_tr_lang_status"),
            # The GIN indexes (tsvector and pg_trgm) exist on PostgreSQL only and
            # are created by migration 0002, which SQLite skips.
        ]

    def __str__(self) -> str:
        return f"{self.article.slug} [{self.language}]"


class ArticleVersion(models.Model):
    """An immutable snapshot, written each time the content of a translation changes."""

    translation = models.ForeignKey(
        ArticleTranslation,
        verbose_name=_("translation"),
        related_name="versions",
        on_delete=models.CASCADE,
    )
    number = models.PositiveIntegerField(_("number"))
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    body = models.TextField(_("text (Markdown)"), blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    questions = models.JSONField(_("how customers ask"), default=list, blank=True)
    plain_language = models.BooleanField(_("plain language"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("saved by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(_("saved"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("version")
        verbose_name_plural = _("versions")
        ordering = ["translation", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["translation", "number"], name="knowledge_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.translation} v{self.number}"


def validate_image_file(value) -> None:
    # Without Pillow we cannot decode images, so we accept only the formats we
    # render and keep them small; SVGs are served as files, never inlined.
    suffix = PurePosixPath(value.name or "").suffix.lower().lstrip(".")
    if suffix not in IMAGE_EXTENSIONS:
        raise ValidationError(
            _("Allowed image types: %(types)s."), params={"types": ", ".join(IMAGE_EXTENSIONS)}
        )
    size = getattr(value, "size", 0) or 0
    if size > IMAGE_MAX_BYTES:
        raise ValidationError(_("The image is larger than 2 MB."))


class ArticleImage(models.Model):
    article = models.ForeignKey(
        Article, verbose_name=_("article"), related_name="images", on_delete=models.CASCADE
    )
    file = models.FileField(
        _("image file"), upload_to="kb/images/%Y/", validators=[validate_image_file]
    )
    alt_text = models.CharField(
        _("alternative text"),
        max_length=300,
        help_text=_("Describe the image for people who cannot see it."),
    )
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")

    def __str__(self) -> str:
        return self.file.name


class HelpfulVote(models.Model):
    """One "was this helpful?" answer; statistics count these rows by day and language."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), related_name="votes", on_delete=models.CASCADE
    )
    language = models.CharField(_("language"), max_length=2, choices=LANGUAGE_CHOICES)
    helpful = models.BooleanField(_("helpful"))
    # A hash of the session key: enough to refuse a second vote, useless to identify anyone.
    session_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("helpful vote")
        verbose_name_plural = _("helpful votes")
        constraints = [
            models.UniqueConstraint(
                fields=["article", "session_hash"], name="knowledge_vote_once_per_session"
            )
        ]
