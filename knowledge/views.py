"""Public self-help pages and the good-practice review pages (thin adapters)."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from helpdesk.models import Topic
from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed, NotFound, ServiceError

from . import selectors, services
from . import text as textlib
from .access import Action, can, is_supporter
from .models import LANGUAGE_CHOICES, ArticleTranslation, Status

log = logging.getLogger(__name__)
MAX_QUERY_CHARS = 300
LANGUAGE_NAMES = dict(LANGUAGE_CHOICES)


def _language(request) -> str:
    """?lang= picks the content language; otherwise the interface language."""
    requested = request.GET.get("lang", "")
    if requested in LANGUAGE_NAMES:
        return requested
    return textlib.normalise_language(get_language())


def _voted_key(article_id: int) -> str:
    return f"kb_voted_{article_id}"


def index(request):
    language = _language(request)
    query = (request.GET.get("q") or "").strip()[:MAX_QUERY_CHARS]
    results = (
        selectors.search_articles(q=query, language=language, user=request.user) if query else None
    )
    return render(
        request,
        "knowledge/index.html",
        {
            "query": query,
            "results": results,
            "topics": selectors.topics_with_articles(user=request.user),
            "content_language": language,
            "language_names": LANGUAGE_NAMES,
        },
    )


def topic(request, slug: str):
    language = _language(request)
    try:
        topic_obj, cards = selectors.topic_articles(
            topic_slug=slug, language=language, user=request.user
        )
    except NotFound as exc:
        raise Http404(_("No such topic.")) from exc
    return render(
        request,
        "knowledge/topic.html",
        {
            "topic": topic_obj,
            "articles": cards,
            "content_language": language,
            "language_names": LANGUAGE_NAMES,
        },
    )


def article(request, slug: str):
    language = _language(request)
    try:
        view = selectors.public_article(slug=slug, language=language, user=request.user)
    except NotFound as exc:
        raise Http404(_("No such guide.")) from exc
    except NotAllowed:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return HttpResponseForbidden(_("This material is for supporters."))
    return render(
        request,
        "knowledge/article.html",
        {
            "view": view,
            "translation": view.translation,
            "body_html": textlib.markdown_to_html(view.translation.body),
            "language_names": LANGUAGE_NAMES,
            "requested_language_name": LANGUAGE_NAMES[view.requested_language],
            "shown_language_name": LANGUAGE_NAMES[view.translation.language],
            "already_voted": bool(request.session.get(_voted_key(view.article.pk))),
            "images": view.article.images.all(),
            # For supporters: how customers put it helps to recognise the guide in a chat.
            "questions": view.translation.questions if is_supporter(request.user) else [],
        },
    )


@require_POST
def helpful(request, slug: str):
    """One vote per browser session per article; no login."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    language = request.POST.get("language", "")
    answer = request.POST.get("helpful", "")
    article_id = selectors.Article.objects.filter(slug=slug).values_list("pk", flat=True).first()
    try:
        if article_id is None:
            raise NotFound(_("No such guide."))
        if answer not in ("yes", "no"):
            raise InvalidInput(_("Answer yes or no."))
        if request.session.get(_voted_key(article_id)):
            raise Conflict(_("You have already answered for this guide."), code="already_voted")
        if not request.session.session_key:
            request.session.save()
        services.vote_helpful(
            article_id=article_id,
            language=language,
            helpful=answer == "yes",
            session_key=request.session.session_key,
        )
        request.session[_voted_key(article_id)] = True
    except ServiceError as exc:
        if wants_json:
            return JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.http_status)
        if isinstance(exc, NotFound):
            raise Http404(exc.message) from exc
        messages.info(request, exc.message)
    else:
        if wants_json:
            return JsonResponse({"ok": True})
        messages.success(request, _("Thank you for your answer."))
    lang = language if language in LANGUAGE_NAMES else ""
    target = selectors.article_url(slug, lang) if lang else f"/kb/{slug}/"
    return redirect(f"{target}#helpful")


def for_topic(request):
    """Top customer guides for a topic: an HTML fragment, or JSON on request."""
    language = _language(request)
    slug = request.GET.get("topic", "")
    try:
        cards = selectors.customer_guides_for_topic(
            topic_slug=slug, language=language, text=request.GET.get("q", "")[:500]
        )
    except NotFound:
        cards = []
    if request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    ):
        return JsonResponse({"articles": cards})
    return render(request, "knowledge/_guides_fragment.html", {"articles": cards})


class GoodPracticeForm(forms.Form):
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=LANGUAGE_CHOICES)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    summary = forms.CharField(
        label=gettext_lazy("Summary"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    body = forms.CharField(
        label=gettext_lazy("Description (Markdown)"), widget=forms.Textarea(attrs={"rows": 14})
    )
    tags = forms.CharField(
        label=gettext_lazy("Keywords, separated by commas"), max_length=600, required=False
    )
    questions = forms.CharField(
        label=gettext_lazy("How customers ask"),
        help_text=gettext_lazy(
            "One per line, in the words customers use when they ask about this, "
            "not the title again. Search finds the guide by them; customers do not see them."
        ),
        max_length=services.MAX_QUESTIONS * (services.MAX_QUESTION_CHARS + 2),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    topics = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Topics"),
        queryset=Topic.objects.all(),
        required=False,
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
    )


@login_required
@require_http_methods(["GET", "POST"])
def good_practice_new(request):
    if not can(request.user, Action.GOOD_PRACTICE_SUBMIT):
        return HttpResponseForbidden(_("Only supporters and provider admins can submit."))
    form = GoodPracticeForm(request.POST or None, initial={"language": _language(request)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        supporter = getattr(request.user, "supporter", None)
        provider = supporter.providers.first() if supporter else None
        try:
            services.good_practice_submit(
                actor=request.user,
                language=data["language"],
                content=services.TranslationContent(
                    title=data["title"],
                    summary=data["summary"],
                    body=data["body"],
                    tags=tuple(t.strip() for t in data["tags"].split(",") if t.strip()),
                    questions=tuple(data["questions"].splitlines()),
                ),
                topic_slugs=[t.slug for t in data["topics"]],
                provider=provider,
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Thank you. Your good practice was sent for review."))
            return redirect("knowledge:index")
    return render(request, "knowledge/good_practice_form.html", {"form": form})


def _may_review(user) -> bool:
    return can(user, Action.ARTICLE_PUBLISH) or can(user, Action.GOOD_PRACTICE_PUBLISH)


@login_required
def review_list(request):
    if not _may_review(request.user):
        return HttpResponseForbidden(_("Only coordinators and national admins review."))
    return render(
        request,
        "knowledge/review_list.html",
        {"items": selectors.review_queue(user=request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_item(request, pk: int):
    if not _may_review(request.user):
        return HttpResponseForbidden(_("Only coordinators and national admins review."))
    translation = get_object_or_404(ArticleTranslation.objects.select_related("article"), pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "publish":
                services.translation_publish(translation=translation, actor=request.user)
                messages.success(request, _("Published."))
            elif action == "reject":
                services.translation_return_to_draft(translation=translation, actor=request.user)
                messages.info(request, _("Returned to draft."))
            else:
                raise InvalidInput(_("Unknown action."))
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("knowledge:review")
    diff = []
    if translation.version > 1:
        diff = selectors.version_diff(
            translation=translation, old=translation.version - 1, new=translation.version
        )
    return render(
        request,
        "knowledge/review_item.html",
        {
            "translation": translation,
            "body_html": textlib.markdown_to_html(translation.body),
            "diff": diff,
            "is_review": translation.status == Status.REVIEW,
            "is_supporter": is_supporter(request.user),
        },
    )
