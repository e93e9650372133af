"""What the supporter console shows instead of codes, in the page's language.

The console receives codes over its socket (states, channels, languages,
topic slugs, municipality names in the server's language); the page embeds
these tables once so every label is shown in the volunteer's language: fi, sv
or en, with Swedish place names where the reference data has them.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from helpdesk.models import Municipality, Provider, Supporter
from helpdesk.models.contacts import ContactState, Outcome
from helpdesk.models.providers import CHANNEL_CHOICES
from helpdesk.models.supporters import Presence


def _sentence(label: object) -> str:
    text = str(label)
    return text[:1].upper() + text[1:]


def _languages() -> dict[str, str]:
    return {
        code: _sentence(label)
        for code, label in (("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English")))
    }


def labels(*, topics: list[dict]) -> dict:
    """Code -> label tables for the console page (states, channels, ...)."""
    lang = (get_language() or "fi")[:2]
    municipalities: dict[str, str] = {}
    for m in Municipality.objects.only("name_fi", "name_sv"):
        shown = m.localized_name(lang)
        for name in {m.name_fi, m.name_sv} - {"", shown}:
            municipalities[name] = shown
    return {
        "states": {value: _sentence(label) for value, label in ContactState.choices},
        "channels": {value: _sentence(label) for value, label in CHANNEL_CHOICES},
        "languages": _languages(),
        "presence": {value: _sentence(label) for value, label in Presence.choices},
        "topics": {t["slug"]: t["name"] for c in topics for t in c["topics"]}
        | {c["slug"]: c["name"] for c in topics},
        "municipalities": municipalities,
    }


def outcomes() -> list[dict]:
    """The outcomes a supporter chooses from when ending, capitalised as labels."""
    return [
        {"value": value, "label": _sentence(label)}
        for value, label in Outcome.choices
        if value != Outcome.MESSAGE_LEFT
    ]


def provider_availability(providers: list[Provider]) -> dict[int, int]:
    """How many supporters of each provider are available now."""
    rows = (
        Supporter.objects.filter(providers__in=providers)
        .values("providers")
        .annotate(n=Count("pk", filter=Q(presence=Presence.AVAILABLE)))
    )
    return {row["providers"]: row["n"] for row in rows}


def transfer_groups(targets, *, me: Supporter) -> list[dict]:
    """Transfer targets grouped by provider: the provider's queue, then its people.

    Each provider says how many of its supporters are available; colleagues
    carry their presence so the console can disable offline ones. Only the
    colleagues of `targets` (the supporter's own providers) are listed.
    """
    available = provider_availability(targets.providers)
    colleague_ids = {s.pk for s in targets.supporters}
    memberships: dict[int, list[Supporter]] = {}
    through = Supporter.providers.through.objects.filter(
        supporter_id__in=colleague_ids, provider_id__in=[p.pk for p in targets.providers]
    ).values_list("provider_id", "supporter_id")
    people = {s.pk: s for s in targets.supporters}
    for provider_id, supporter_id in through:
        memberships.setdefault(provider_id, []).append(people[supporter_id])
    own = set(me.providers.values_list("pk", flat=True))
    groups = [
        {
            "id": p.pk,
            "name": p.name,
            "is_national": p.is_national,
            "own": p.pk in own,
            "available": available.get(p.pk, 0),
            "supporters": [
                {"id": s.pk, "display_name": s.display_name, "presence": s.presence}
                for s in sorted(memberships.get(p.pk, []), key=lambda s: s.display_name)
            ],
        }
        for p in targets.providers
    ]
    # The supporter's own providers first, then the rest by name.
    groups.sort(key=lambda g: (not g["own"], g["name"]))
    return groups
