"""Small builders for test data; every argument has a sensible default."""

from __future__ import annotations

import itertools
from datetime import time

from django.contrib.auth import get_user_model

from helpdesk.models import Municipality, OpeningHours, Provider, Region, Supporter, Topic

_seq = itertools.count(1)


def make_provider(
    *,
    name: str | None = None,
    kind: str = "library",
    municipalities: list[str] | None = None,
    regions: list[str] | None = None,
    channels: list[str] | None = None,
    languages: list[str] | None = None,
    is_national: bool = False,
    always_open: bool = True,
    **extra,
) -> Provider:
    n = next(_seq)
    provider = Provider.objects.create(
        slug=f"provider-{n}",
        name=name or f"Provider {n}",
        kind="national" if is_national else kind,
        is_national=is_national,
        channels=channels or ["chat", "phone", "video"],
        languages=languages or ["fi", "sv", "en"],
        **extra,
    )
    if municipalities:
        provider.service_municipalities.set(Municipality.objects.filter(code__in=municipalities))
    if regions:
        provider.service_regions.set(Region.objects.filter(code__in=regions))
    if always_open:
        OpeningHours.objects.bulk_create(
            OpeningHours(provider=provider, weekday=d, opens=time(0, 0), closes=time(23, 59, 59))
            for d in range(7)
        )
    return provider


# Every user the factories make signs in with this password.
PASSWORD = "test-password-123"


def make_user(username: str | None = None, **extra):
    User = get_user_model()
    name = username or f"user{next(_seq)}"
    return User.objects.create_user(username=name, password=PASSWORD, **extra)


def make_supporter(
    *,
    providers: list[Provider],
    kind: str = "staff",
    languages: list[str] | None = None,
    skills: list[str] | None = None,
    presence: str = "offline",
    username: str | None = None,
    **extra,
) -> Supporter:
    user = make_user(username)
    supporter = Supporter.objects.create(
        user=user,
        kind=kind,
        display_name=extra.pop("display_name", user.username.title()),
        languages=languages or ["fi"],
        presence=presence,
        **extra,
    )
    supporter.providers.set(providers)
    if skills:
        supporter.skills.set(Topic.objects.filter(slug__in=skills))
    return supporter
