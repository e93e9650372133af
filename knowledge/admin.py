"""Admin for the knowledge base: edits go through knowledge.services so that
versions, search columns and the review workflow stay consistent."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from helpdesk.admin_scope import ScopedModelAdmin, ScopedTabularInline
from helpdesk.services.errors import ServiceError

from . import selectors, services
from .models import Article, ArticleImage, ArticleTranslation, ArticleVersion, HelpfulVote


class TranslationInline(ScopedTabularInline):
    model = ArticleTranslation
    fields = ("language", "title", "status", "version", "author", "reviewer", "edit_link")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description=_("open"))
    def edit_link(self, obj):
        url = reverse("admin:knowledge_articletranslation_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("edit"))

    def has_add_permission(self, request, obj=None):
        return False


class ImageInline(ScopedTabularInline):
    model = ArticleImage
    extra = 0


@admin.register(Article)
class ArticleAdmin(ScopedModelAdmin):
    list_display = ("slug", "audience", "kind", "languages", "helpful_yes", "helpful_no")
    list_filter = ("audience", "kind", "topics")
    search_fields = ("slug", "translations__title")
    filter_horizontal = ("topics",)
    inlines = [TranslationInline, ImageInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                yes=Count("votes", filter=Q(votes__helpful=True), distinct=True),
                no=Count("votes", filter=Q(votes__helpful=False), distinct=True),
            )
            .prefetch_related("translations")
        )

    @admin.display(description=_("languages"))
    def languages(self, obj):
        return ", ".join(f"{t.language} ({t.status})" for t in obj.translations.all())

    @admin.display(description=_("helpful"), ordering="yes")
    def helpful_yes(self, obj):
        return obj.yes

    @admin.display(description=_("not helpful"), ordering="no")
    def helpful_no(self, obj):
        return obj.no


class VersionInline(ScopedTabularInline):
    model = ArticleVersion
    fields = ("number", "created_at", "created_by", "note", "diff_link")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-number",)

    @admin.display(description=_("diff"))
    def diff_link(self, obj):
        if obj.number <= 1:
            return "-"
        url = reverse(
            "admin:knowledge_articletranslation_diff",
            args=[obj.translation_id, obj.number - 1, obj.number],
        )
        return format_html('<a href="{}">{}</a>', url, _("changes"))

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ArticleTranslation)
class ArticleTranslationAdmin(ScopedModelAdmin):
    list_display = ("article", "language", "title", "status", "version", "author", "reviewer")
    list_filter = ("status", "language", "article__audience", "article__kind")
    search_fields = ("title", "article__slug")
    fields = (
        "article",
        "language",
        "title",
        "summary",
        "body",
        "tags",
        "questions",
        "plain_language",
        "status",
        "author",
        "reviewer",
        "version",
        "published_at",
    )
    readonly_fields = ("status", "author", "reviewer", "version", "published_at")
    inlines = [VersionInline]
    actions = ["submit_for_review", "publish", "return_to_draft"]

    def get_readonly_fields(self, request, obj=None):
        # Article and language identify a translation; they do not change later.
        return self.readonly_fields + (("article", "language") if obj else ())

    def save_model(self, request, obj, form, change):
        try:
            saved, _changed = services.translation_save(
                article=obj.article,
                language=obj.language,
                content=services.TranslationContent(
                    title=obj.title,
                    summary=obj.summary,
                    body=obj.body,
                    tags=tuple(obj.tags or ()),
                    plain_language=obj.plain_language,
                    questions=obj.questions or (),
                ),
                actor=request.user,
                note=str(_("Edited in admin")),
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk
        obj.refresh_from_db()

    def _run(self, request, queryset, service, done):
        ok = 0
        for translation in queryset.select_related("article"):
            try:
                service(translation=translation, actor=request.user)
                ok += 1
            except ServiceError as exc:
                self.message_user(request, f"{translation}: {exc.message}", messages.WARNING)
        if ok:
            self.message_user(request, done % {"n": ok}, messages.SUCCESS)

    @admin.action(description=_("Send to review"))
    def submit_for_review(self, request, queryset):
        self._run(
            request, queryset, services.translation_submit_for_review, _("%(n)d sent to review.")
        )

    @admin.action(description=_("Publish (after review)"))
    def publish(self, request, queryset):
        self._run(request, queryset, services.translation_publish, _("%(n)d published."))

    @admin.action(description=_("Return to draft"))
    def return_to_draft(self, request, queryset):
        self._run(
            request, queryset, services.translation_return_to_draft, _("%(n)d returned to draft.")
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/diff/<int:old>/<int:new>/",
                self.admin_site.admin_view(self.diff_view),
                name="knowledge_articletranslation_diff",
            )
        ] + super().get_urls()

    def diff_view(self, request, pk: int, old: int, new: int):
        translation = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, translation):
            raise PermissionDenied
        try:
            lines = selectors.version_diff(translation=translation, old=old, new=new)
        except ServiceError:
            lines = []
            self.message_user(request, _("No such version."), messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Changes in %(t)s") % {"t": translation},
            "translation": translation,
            "lines": lines,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/knowledge/diff.html", context)


@admin.register(ArticleVersion)
class ArticleVersionAdmin(ScopedModelAdmin):
    list_display = ("translation", "number", "created_at", "created_by", "note")
    list_filter = ("translation__language",)
    search_fields = ("title", "translation__article__slug")
    readonly_fields = [f.name for f in ArticleVersion._meta.fields]


@admin.register(HelpfulVote)
class HelpfulVoteAdmin(ScopedModelAdmin):
    list_display = ("article", "language", "helpful", "created_at")
    list_filter = ("helpful", "language")
    date_hierarchy = "created_at"
    readonly_fields = ("article", "language", "helpful", "created_at")


@admin.register(ArticleImage)
class ArticleImageAdmin(ScopedModelAdmin):
    list_display = ("article", "file", "alt_text", "uploaded_at")
