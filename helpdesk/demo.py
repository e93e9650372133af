"""The demo network: a few regions' providers, supporters and coordinators.

Used by the serve command so that a new user sees a working platform, and by
tests. Every login shares one password (DEMO_PASSWORD, with a development
default): it is demo data for a local machine, never for production.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import (
    CannedReply,
    Municipality,
    OpeningHours,
    Provider,
    Region,
    Role,
    RoleGrant,
    Supporter,
    Topic,
)

DEFAULT_DEMO_PASSWORD = "digituki-demo-2026"

WEEKDAYS_9_16 = [(d, time(9), time(16)) for d in range(5)]
LIBRARY_HOURS = [(d, time(9), time(19)) for d in range(5)] + [(5, time(10), time(15))]
ASSOCIATION_HOURS = [(d, time(10), time(14)) for d in (0, 2, 4)]
ALWAYS = [(d, time(0), time(23, 59, 59)) for d in range(7)]

AUTHORITY = [
    "suomifi-identification",
    "suomifi-messages",
    "kela",
    "omavero",
    "omakanta-health",
    "employment",
    "dvv",
]
DEVICES = [
    "smartphone",
    "tablet",
    "computer-basics",
    "email-accounts",
    "security-scams",
    "video-calls",
]
ESERVICES = ["banking", "shopping", "travel"]


@dataclass(frozen=True)
class DemoPerson:
    username: str
    name: str
    kind: str  # staff | volunteer
    languages: tuple[str, ...]
    skills: tuple[str, ...]


@dataclass(frozen=True)
class DemoProvider:
    slug: str
    name: str
    kind: str
    regions: tuple[str, ...]
    municipalities: tuple[str, ...]
    channels: tuple[str, ...]
    languages: tuple[str, ...]
    hours: list
    address: str
    people: tuple[DemoPerson, ...]
    in_person: bool = True
    is_national: bool = False


PROVIDERS = [
    DemoProvider(
        "joensuun-kirjasto",
        "Joensuun kaupunginkirjasto",
        "library",
        ("12",),
        (),
        ("chat", "phone", "video"),
        ("fi", "en"),
        LIBRARY_HOURS,
        "Koskikatu 25, 80100 Joensuu",
        (
            DemoPerson("pk-staff", "Aino", "staff", ("fi", "en"), tuple(AUTHORITY + ESERVICES)),
            DemoPerson("pk-volunteer", "Eero", "volunteer", ("fi",), tuple(DEVICES)),
        ),
    ),
    DemoProvider(
        "lieksan-asiointipiste",
        "Lieksan asiointipiste",
        "service_point",
        (),
        ("422",),
        ("chat", "phone"),
        ("fi",),
        WEEKDAYS_9_16,
        "Pielisentie 20, 81700 Lieksa",
        (DemoPerson("lieksa-staff", "Sanna", "staff", ("fi",), tuple(AUTHORITY)),),
    ),
    DemoProvider(
        "pk-seniorit",
        "Pohjois-Karjalan seniorien digikaverit ry",
        "association",
        ("12",),
        (),
        ("chat", "video"),
        ("fi",),
        ASSOCIATION_HOURS,
        "Kirkkokatu 12, 80100 Joensuu",
        (
            DemoPerson(
                "pk-senior-volunteer", "Raili", "volunteer", ("fi",), tuple(DEVICES + ESERVICES)
            ),
        ),
    ),
    DemoProvider(
        "kuopion-kirjasto",
        "Kuopion kaupunginkirjasto",
        "library",
        ("11",),
        (),
        ("chat", "phone", "video"),
        ("fi", "sv", "en"),
        LIBRARY_HOURS,
        "Maaherrankatu 12, 70100 Kuopio",
        (
            DemoPerson(
                "ps-staff", "Mikko", "staff", ("fi", "sv", "en"), tuple(AUTHORITY + ESERVICES)
            ),
            DemoPerson("ps-volunteer", "Helka", "volunteer", ("fi",), tuple(DEVICES)),
        ),
    ),
    DemoProvider(
        "iisalmen-seurakunta",
        "Iisalmen seurakunnan digituki",
        "parish",
        (),
        ("140",),
        ("chat",),
        ("fi",),
        ASSOCIATION_HOURS,
        "Kirkkokatu 1, 74100 Iisalmi",
        (DemoPerson("iisalmi-volunteer", "Pekka", "volunteer", ("fi",), tuple(DEVICES)),),
    ),
    DemoProvider(
        "helmet-digituki",
        "Helmet-kirjastojen digituki",
        "library",
        (),
        ("091", "049", "092", "235"),
        ("chat", "phone", "video"),
        ("fi", "sv", "en"),
        LIBRARY_HOURS,
        "Töölönlahdenkatu 4, 00100 Helsinki",
        (
            DemoPerson(
                "uusimaa-staff", "Laura", "staff", ("fi", "sv", "en"), tuple(AUTHORITY + ESERVICES)
            ),
            DemoPerson(
                "uusimaa-volunteer", "Ahmed", "volunteer", ("fi", "en"), tuple(DEVICES + ESERVICES)
            ),
        ),
    ),
    DemoProvider(
        "porvoon-kirjasto",
        "Porvoon kaupunginkirjasto",
        "library",
        ("01",),
        (),
        ("chat", "phone"),
        ("fi", "sv"),
        LIBRARY_HOURS,
        "Papinkatu 20, 06100 Porvoo",
        (DemoPerson("porvoo-staff", "Johanna", "staff", ("sv", "fi"), tuple(AUTHORITY + DEVICES)),),
    ),
    DemoProvider(
        "espoon-digikaverit",
        "Espoon digikaverit ry",
        "association",
        (),
        ("049",),
        ("chat",),
        ("fi", "en"),
        ASSOCIATION_HOURS,
        "Kamreerintie 3, 02770 Espoo",
        (DemoPerson("espoo-volunteer", "Tuomas", "volunteer", ("fi", "en"), tuple(DEVICES)),),
    ),
    DemoProvider(
        "rovaniemen-kirjasto",
        "Rovaniemen kaupunginkirjasto",
        "library",
        ("19",),
        (),
        ("chat", "phone", "video"),
        ("fi", "en"),
        LIBRARY_HOURS,
        "Jorma Eton tie 6, 96100 Rovaniemi",
        (
            DemoPerson("lappi-staff", "Kaisa", "staff", ("fi", "en"), tuple(AUTHORITY + ESERVICES)),
            DemoPerson("lappi-volunteer", "Niilo", "volunteer", ("fi",), tuple(DEVICES)),
        ),
    ),
    DemoProvider(
        "inarin-asiointipiste",
        "Inarin kunnan asiointipiste",
        "municipality",
        (),
        ("148",),
        ("chat", "phone"),
        ("fi",),
        WEEKDAYS_9_16,
        "Piiskuntie 2, 99870 Inari",
        (DemoPerson("inari-staff", "Elli", "staff", ("fi",), tuple(AUTHORITY)),),
    ),
    DemoProvider(
        "kansalaisneuvonta",
        "Kansalaisneuvonta",
        "national",
        (),
        (),
        ("chat", "phone", "video"),
        ("fi", "sv", "en"),
        [(d, time(9), time(16)) for d in range(5)],
        "",
        (
            DemoPerson(
                "kn-agent",
                "Minna",
                "staff",
                ("fi", "sv", "en"),
                tuple(AUTHORITY + ESERVICES + DEVICES),
            ),
        ),
        in_person=False,
        is_national=True,
    ),
]

COORDINATORS = [
    ("coord-pohjois-karjala", "12"),
    ("coord-pohjois-savo", "11"),
    ("coord-uusimaa", "01"),
    ("coord-lappi", "19"),
]

CANNED = {
    "fi": [
        ("Tervehdys", "Hei! Olen digitukihenkilö. Miten voin auttaa?"),
        (
            "Ei salasanoja",
            "Muistathan: älä kerro minulle salasanoja, tunnuslukuja tai vahvistuskoodeja. "
            "Teet vaiheet itse, minä neuvon.",
        ),
        ("Lopetus", "Kiitos yhteydenotosta! Voit palata tänne milloin vain."),
    ],
    "sv": [
        ("Hälsning", "Hej! Jag är digistödjare. Hur kan jag hjälpa dig?"),
        (
            "Inga lösenord",
            "Kom ihåg: berätta inte lösenord, PIN-koder eller bekräftelsekoder för mig. "
            "Du gör stegen själv, jag guidar.",
        ),
    ],
    "en": [
        ("Greeting", "Hello! I'm a digital support volunteer. How can I help?"),
        (
            "No passwords",
            "Please never tell me passwords, PIN codes or confirmation codes. "
            "You do the steps yourself; I'll guide you.",
        ),
    ],
}


def demo_usernames() -> frozenset[str]:
    """Every login the demo network creates (helpdesk/two_factor.py may exempt them)."""
    names = {person.username for spec in PROVIDERS for person in spec.people}
    names |= {f"{spec.slug}-admin" for spec in PROVIDERS}
    names |= {username for username, _region in COORDINATORS}
    return frozenset(names | {"national-admin", "admin"})


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD


@transaction.atomic
def load_demo_network(*, always_open: bool = False) -> list[tuple[str, str]]:
    """Create or refresh the demo network; returns (username, description) rows."""
    User = get_user_model()
    password = demo_password()
    logins: list[tuple[str, str]] = []

    def user(username: str, **extra):
        obj, created = User.objects.get_or_create(username=username, defaults=extra)
        if created:
            obj.set_password(password)
            obj.save()
        return obj

    for spec in PROVIDERS:
        provider, _ = Provider.objects.update_or_create(
            slug=spec.slug,
            defaults={
                "name": spec.name,
                "kind": spec.kind,
                "is_national": spec.is_national,
                "channels": list(spec.channels),
                "languages": list(spec.languages),
                "in_person_help": spec.in_person,
                "address": spec.address,
                "in_person_hours": "ma–pe 10–14" if spec.in_person else "",
                "active": True,
            },
        )
        provider.service_regions.set(Region.objects.filter(code__in=spec.regions))
        provider.service_municipalities.set(
            Municipality.objects.filter(code__in=spec.municipalities)
        )
        provider.opening_hours.all().delete()
        OpeningHours.objects.bulk_create(
            OpeningHours(provider=provider, weekday=d, opens=o, closes=c)
            for d, o, c in (ALWAYS if always_open else spec.hours)
        )
        for language in spec.languages:
            for title, body in CANNED.get(language, []):
                CannedReply.objects.get_or_create(
                    provider=provider, language=language, title=title, defaults={"body": body}
                )
        for person in spec.people:
            account = user(person.username, first_name=person.name, is_staff=False)
            supporter, _ = Supporter.objects.update_or_create(
                user=account,
                defaults={
                    "kind": person.kind,
                    "display_name": person.name,
                    "languages": list(person.languages),
                },
            )
            supporter.providers.add(provider)
            supporter.skills.set(Topic.objects.filter(slug__in=person.skills))
            role = "Kansalaisneuvonta" if spec.is_national else person.kind
            logins.append((person.username, f"{role} supporter, {spec.name}"))
        admin_name = f"{spec.slug}-admin"
        admin = user(admin_name, is_staff=True)
        RoleGrant.objects.get_or_create(user=admin, role=Role.PROVIDER_ADMIN, provider=provider)
        logins.append((admin_name, f"provider admin, {spec.name}"))

    for username, region_code in COORDINATORS:
        region = Region.objects.get(code=region_code)
        account = user(username, is_staff=True)
        RoleGrant.objects.get_or_create(user=account, role=Role.COORDINATOR, region=region)
        logins.append((username, f"regional coordinator, {region.name_fi}"))

    national = user("national-admin", is_staff=True)
    RoleGrant.objects.get_or_create(user=national, role=Role.NATIONAL_ADMIN)
    logins.append(("national-admin", "national admin"))
    root = user("admin", is_staff=True, is_superuser=True)
    if not root.is_superuser:
        root.is_superuser = root.is_staff = True
        root.save(update_fields=["is_superuser", "is_staff"])
    logins.append(("admin", "superuser (Django admin)"))
    return logins
