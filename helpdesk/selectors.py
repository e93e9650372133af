"""Permission-aware reads for the customer pages, the console and the public API.

Nothing here writes. Functions that serve supporters take the Supporter and
only ever return rows of that supporter's own providers; customer-facing reads
return public data only (see docs/architecture.md section 5: volunteers and customers see
the minimum).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import get_language, gettext

from helpdesk.models import (
    CannedReply,
    Contact,
    Message,
    Municipality,
    OpeningHours,
    Provider,
    Region,
    Supporter,
    Topic,
)
from helpdesk.models.contacts import IN_SERVICE_STATES
from helpdesk.tokens import read_contact_token

SUPPORTED_LANGUAGES = ("fi", "sv", "en")


def current_language(value: str | None = None) -> str:
    """One of fi/sv/en: the given value if it is one, else the active language."""
    lang = (value or get_language() or "fi")[:2].lower()
    return lang if lang in SUPPORTED_LANGUAGES else "fi"


# --- municipalities -------------------------------------------------------


def municipality_entries(*, preferred_codes: Iterable[str] = ()) -> list[dict]:
    """Every municipality as a small dict for the autocomplete, preferred ones first.

    The widget passes its provider's service area as `preferred_codes` so that a
    customer on a provider's own site finds the nearest choices at the top.
    """
    preferred = set(preferred_codes)
    rows = Municipality.objects.select_related("region").order_by("name_fi")
    entries = [
        {
            "code": m.code,
            "name_fi": m.name_fi,
            "name_sv": m.name_sv,
            "region": m.region.localized_name(),
            "preferred": m.code in preferred,
        }
        for m in rows
    ]
    entries.sort(key=lambda e: (not e["preferred"], e["name_fi"]))
    return entries


def search_municipalities(*, query: str, limit: int = 20) -> list[Municipality]:
    """Municipalities whose Finnish or Swedish name starts with (or contains) `query`.

    Prefix matches come first: typing "por" should offer Porvoo before Sipoo.
    """
    query = query.strip()
    rows = Municipality.objects.select_related("region")
    if not query:
        return list(rows.order_by("name_fi")[:limit])
    prefix = list(
        rows.filter(Q(name_fi__istartswith=query) | Q(name_sv__istartswith=query)).order_by(
            "name_fi"
        )[:limit]
    )
    if len(prefix) >= limit:
        return prefix
    seen = {m.pk for m in prefix}
    rest = rows.filter(Q(name_fi__icontains=query) | Q(name_sv__icontains=query)).exclude(
        pk__in=seen
    )
    return prefix + list(rest.order_by("name_fi")[: limit - len(prefix)])


def municipality_by_code(code: str | None) -> Municipality | None:
    if not code or not isinstance(code, str) or not code.isdigit() or len(code) > 3:
        return None
    return Municipality.objects.select_related("region").filter(code=code.zfill(3)).first()


# --- topics ---------------------------------------------------------------


def topic_tree(*, language: str | None = None) -> list[dict]:
    """Categories with their topics, localised, in display order."""
    lang = current_language(language)
    categories = Topic.objects.filter(parent__isnull=True).prefetch_related(
        Prefetch("children", queryset=Topic.objects.order_by("order", "slug"))
    )
    return [
        {
            "slug": category.slug,
            "name": category.localized_name(lang),
            "topics": [
                {"slug": child.slug, "name": child.localized_name(lang)}
                for child in category.children.all()
            ],
        }
        for category in categories.order_by("order", "slug")
    ]


# --- providers ------------------------------------------------------------


def active_provider(slug: str | None) -> Provider | None:
    if not slug or not isinstance(slug, str) or len(slug) > 80:
        return None
    return Provider.objects.filter(slug=slug, active=True).first()


def first_in_person_provider() -> Provider | None:
    """A provider to show the widget demo with when none is named."""
    return (
        Provider.objects.filter(active=True, is_national=False).order_by("-in_person_help", "name")
    ).first()


def provider_service_municipality_codes(provider: Provider) -> list[str]:
    direct = provider.service_municipalities.values_list("code", flat=True)
    via_region = Municipality.objects.filter(region__in=provider.service_regions.all()).values_list(
        "code", flat=True
    )
    return sorted(set(direct) | set(via_region))


def help_near(*, municipality: Municipality) -> QuerySet[Provider]:
    """Active providers giving in-person help in the municipality or its whole region."""
    return (
        Provider.objects.filter(active=True, in_person_help=True)
        .filter(Q(service_municipalities=municipality) | Q(service_regions=municipality.region_id))
        .distinct()
        .prefetch_related(
            Prefetch("opening_hours", queryset=OpeningHours.objects.order_by("weekday", "opens"))
        )
        .order_by("name")
    )


# --- contacts seen by the customer ---------------------------------------


def contact_for_token(*, public_id: uuid.UUID, token: str | None) -> Contact | None:
    """The contact when `token` was issued for exactly this contact, else None.

    A wrong token and an unknown id give the same answer so that the API never
    tells a stranger whether a contact exists.
    """
    token_id = read_contact_token(token)
    if token_id is None or token_id != public_id:
        return None
    return (
        Contact.objects.select_related("topic", "supporter", "municipality")
        .filter(public_id=public_id)
        .first()
    )


def customer_visible_messages(contact: Contact) -> QuerySet[Message]:
    """Everything the customer may see: internal notes never leave the supporters."""
    return contact.messages.exclude(kind=Message.Kind.NOTE).order_by("seq")


def supporter_name_for_customer(contact: Contact) -> str | None:
    if contact.state in IN_SERVICE_STATES and contact.supporter_id:
        return contact.supporter.display_name
    return None


# --- supporters -----------------------------------------------------------


def supporter_for_user(user) -> Supporter | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Supporter.objects.filter(user=user).prefetch_related("providers").first()


def canned_replies_for(
    *, supporter: Supporter, language: str | None = None
) -> QuerySet[CannedReply]:
    """Canned replies of the supporter's own providers, optionally of one language."""
    rows = CannedReply.objects.filter(provider__in=supporter.providers.all()).select_related(
        "provider"
    )
    if language:
        rows = rows.filter(language=language)
    return rows.order_by("provider__name", "language", "title")


@dataclass(frozen=True)
class TransferTargets:
    supporters: list[Supporter]
    providers: list[Provider]
    regions: list[Region]


def transfer_targets(*, supporter: Supporter) -> TransferTargets:
    """Where this supporter may hand a contact over.

    Colleagues: other supporters of the same providers (a named handover is a
    team matter). Providers and regions: the whole active network, because a
    customer may need a provider far from the one that answered.
    """
    own_providers = supporter.providers.all()
    colleagues = (
        Supporter.objects.filter(providers__in=own_providers)
        .exclude(pk=supporter.pk)
        .distinct()
        .order_by("display_name")
    )
    providers = Provider.objects.filter(active=True).order_by("name")
    regions = Region.objects.order_by("code")
    return TransferTargets(
        supporters=list(colleagues), providers=list(providers), regions=list(regions)
    )


# --- transcripts ------------------------------------------------------------


def article_payload(payload) -> dict:
    """The card of an article message: shared cards sit under "article" (older rows: flat)."""
    payload = payload if isinstance(payload, dict) else {}
    card = payload.get("article")
    return card if isinstance(card, dict) else payload


def article_url(payload: dict) -> str:
    """Where an article card points: its own url, else the public guide page."""
    url = payload.get("url")
    if isinstance(url, str) and url:
        return url
    slug = payload.get("slug")
    return f"/kb/{slug}/" if isinstance(slug, str) and slug else ""


def transcript_text(*, contact: Contact, messages: Iterable[Message], base_url: str) -> str:
    """The customer's plain-text copy of a chat, in the chat's language.

    `messages` is expected to be customer-visible already; notes are skipped
    here as well so that a caller's mistake cannot leak one. A contact past
    its retention period has no messages left; its copy says so.
    """
    with translation.override(contact.language or "fi"):
        lines = [
            gettext("Digituki chat transcript"),
            gettext("Started: %(time)s")
            % {"time": f"{timezone.localtime(contact.created_at):%d.%m.%Y %H:%M}"},
            "",
        ]
        if contact.purged_at is not None:
            lines.append(
                gettext(
                    "The messages of this conversation were deleted on %(date)s,"
                    " when their retention period ended."
                )
                % {"date": f"{timezone.localtime(contact.purged_at):%d.%m.%Y}"}
            )
        for message in messages:
            if message.kind == Message.Kind.NOTE:
                continue
            stamp = f"{timezone.localtime(message.created_at):%d.%m.%Y %H:%M}"
            if message.author_kind == Message.Author.CUSTOMER:
                who = gettext("You")
            elif message.author_kind == Message.Author.SUPPORTER:
                who = message.author_name or gettext("Supporter")
            else:
                who = gettext("Digituki")
            text = message.body
            if message.kind == Message.Kind.ARTICLE:
                payload = article_payload(message.payload)
                title = payload.get("title") or message.body
                url = article_url(payload)
                if url.startswith("/"):
                    url = base_url + url
                text = gettext("Guide: %(title)s %(url)s") % {"title": title, "url": url}
                summary = payload.get("summary")
                if isinstance(summary, str) and summary.strip():
                    text += "\n    " + summary.strip()
            lines.append(f"[{stamp}] {who}: {text}")
        return "\n".join(lines) + "\n"
