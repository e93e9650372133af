"""Customer pages: start, chat, help near me, privacy notice, and the widget.

The pages are plain Django templates with small JavaScript modules; all the
writing happens through the REST API and the contact WebSocket. Widget pages
are the only ones a foreign site may frame (the rest stay X-Frame-Options DENY and
CSP frame-ancestors 'none'): our own pages, WIDGET_FRAME_ANCESTORS and the
website of the provider the widget is for (helpdesk/csp.py).
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django.utils.formats import date_format
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from helpdesk import selectors
from helpdesk.csp import allow_framing_by, widget_frame_ancestors

PRIVACY_TEMPLATES = {
    "fi": "helpdesk/privacy/privacy_fi.html",
    "sv": "helpdesk/privacy/privacy_sv.html",
    "en": "helpdesk/privacy/privacy_en.html",
}


def _start_context(request, *, provider=None, widget: bool = False) -> dict:
    preferred = selectors.provider_service_municipality_codes(provider) if provider else []
    return {
        "municipalities": selectors.municipality_entries(preferred_codes=preferred),
        "topics": selectors.topic_tree(),
        "provider": provider,
        "widget": widget,
        "support_language": selectors.current_language(),
        "chat_url": "/widget/chat/" if widget else "/chat/",
    }


@require_safe
@ensure_csrf_cookie
def start(request):
    return render(request, "helpdesk/start.html", _start_context(request))


@require_safe
def chat(request):
    return render(request, "helpdesk/chat.html", {"widget": False, "start_url": "/"})


@require_safe
def near(request):
    code = request.GET.get("municipality", "")
    municipality = selectors.municipality_by_code(code)
    context = {
        "municipality": municipality,
        "asked": bool(code),
        "providers": selectors.help_near(municipality=municipality) if municipality else [],
        "municipalities": selectors.municipality_entries(),
    }
    status = 404 if code and municipality is None else 200
    return render(request, "helpdesk/near.html", context, status=status)


@require_safe
def privacy(request):
    lang = selectors.current_language()
    context = {
        "notice_template": PRIVACY_TEMPLATES[lang],
        "retention_days": settings.TRANSCRIPT_RETENTION_DAYS,
    }
    return render(request, "helpdesk/privacy.html", context)


ACCESSIBILITY_TEMPLATES = {
    lang: f"helpdesk/accessibility/accessibility_{lang}.html" for lang in ("fi", "sv", "en")
}


@require_safe
def accessibility(request):
    """The accessibility statement (saavutettavuusseloste, Act 306/2019) in fi/sv/en."""
    lang = selectors.current_language()
    context = {
        "statement_template": ACCESSIBILITY_TEMPLATES[lang],
        "prepared": date_format(settings.ACCESSIBILITY_STATEMENT_PREPARED, "SHORT_DATE_FORMAT"),
        "updated": date_format(settings.ACCESSIBILITY_STATEMENT_UPDATED, "SHORT_DATE_FORMAT"),
        "feedback_email": settings.ACCESSIBILITY_FEEDBACK_EMAIL,
    }
    return render(request, "helpdesk/accessibility.html", context)


def _widget_language(request) -> str:
    # The embedding site says which language its visitors read (data-lang);
    # a third-party iframe cannot rely on our language cookie.
    return selectors.current_language(request.GET.get("lang"))


@require_safe
@xframe_options_exempt
def widget_start(request):
    lang = _widget_language(request)
    provider = selectors.active_provider(request.GET.get("provider"))
    with translation.override(lang):
        context = _start_context(request, provider=provider, widget=True)
        context["widget_lang"] = lang
        response = render(request, "helpdesk/widget.html", context)
    response["Content-Language"] = lang
    return allow_framing_by(response, widget_frame_ancestors(provider))


@require_safe
@xframe_options_exempt
def widget_chat(request):
    lang = _widget_language(request)
    provider = selectors.active_provider(request.GET.get("provider"))
    start_url = f"/widget/?lang={lang}" + (f"&provider={provider.slug}" if provider else "")
    with translation.override(lang):
        response = render(
            request,
            "helpdesk/chat.html",
            {"widget": True, "widget_lang": lang, "provider": provider, "start_url": start_url},
        )
    response["Content-Language"] = lang
    return allow_framing_by(response, widget_frame_ancestors(provider))


@require_safe
def widget_demo(request):
    provider = selectors.active_provider(request.GET.get("provider")) or (
        selectors.first_in_person_provider()
    )
    return render(request, "helpdesk/widget_demo.html", {"provider": provider})
