"""Reference data shipped with the project: regions, municipalities, postal codes,
the library development areas and the topic taxonomy.

The CSV files in helpdesk/data/ are copies of the project's reference data
(sources in helpdesk/data/SOURCES.md); loading is idempotent.
"""

import csv
from pathlib import Path

from django.db import transaction

DATA_DIR = Path(__file__).resolve().parent / "data"

# The nine libraries with a regional development task, and the regions each
# covers (by Statistics Finland region code). Åland (21) is outside them.
DEVELOPMENT_AREAS = [
    ("joensuu", "Joensuu", "Joensuu", "Joensuu", "Joensuun kaupunginkirjasto", ["12"]),
    ("kuopio", "Kuopio", "Kuopio", "Kuopio", "Kuopion kaupunginkirjasto", ["10", "11"]),
    ("lahti", "Lahti", "Lahtis", "Lahti", "Lahden kaupunginkirjasto", ["05", "07", "08", "09"]),
    ("oulu", "Oulu", "Uleåborg", "Oulu", "Oulun kaupunginkirjasto", ["17", "18"]),
    ("porvoo", "Porvoo", "Borgå", "Porvoo", "Porvoon kaupunginkirjasto", ["01"]),
    ("rovaniemi", "Rovaniemi", "Rovaniemi", "Rovaniemi", "Rovaniemen kaupunginkirjasto", ["19"]),
    ("tampere", "Tampere", "Tammerfors", "Tampere", "Tampereen kaupunginkirjasto", ["06", "13"]),
    ("turku", "Turku", "Åbo", "Turku", "Turun kaupunginkirjasto", ["02", "04"]),
    ("vaasa", "Vaasa", "Vasa", "Vaasa", "Vaasan kaupunginkirjasto", ["14", "15", "16"]),
]

# Two-level topic taxonomy: (slug, fi, sv, en, children).
TOPICS = [
    (
        "authority",
        "Viranomaisasiointi",
        "Myndighetstjänster",
        "Authority e-services",
        [
            (
                "suomifi-identification",
                "Suomi.fi-tunnistus",
                "Suomi.fi-identifikation",
                "Suomi.fi identification",
            ),
            ("suomifi-messages", "Suomi.fi-viestit", "Suomi.fi-meddelanden", "Suomi.fi Messages"),
            ("kela", "Kela", "FPA (Kela)", "Kela"),
            ("omavero", "OmaVero", "MinSkatt", "MyTax (OmaVero)"),
            (
                "omakanta-health",
                "OmaKanta ja terveyspalvelut",
                "MinaKanta och hälsotjänster",
                "My Kanta and health services",
            ),
            ("employment", "Työllisyyspalvelut", "Sysselsättningstjänster", "Employment services"),
            (
                "dvv",
                "Digi- ja väestötietovirasto (DVV)",
                "Myndigheten för digitalisering och befolkningsdata",
                "Digital and Population Data Services Agency",
            ),
        ],
    ),
    (
        "eservices",
        "Muut verkkopalvelut",
        "Andra e-tjänster",
        "Other e-services",
        [
            ("banking", "Pankki ja maksaminen", "Bank och betalningar", "Banking and payments"),
            ("shopping", "Verkko-ostokset", "Näthandel", "Online shopping"),
            ("travel", "Matkustaminen", "Resor", "Travel"),
        ],
    ),
    (
        "devices",
        "Laitteiden käyttö",
        "Användning av enheter",
        "Using devices",
        [
            ("smartphone", "Älypuhelin", "Smarttelefon", "Smartphone"),
            ("tablet", "Tabletti", "Surfplatta", "Tablet"),
            ("computer-basics", "Tietokoneen perusteet", "Datorns grunder", "Computer basics"),
            (
                "email-accounts",
                "Sähköposti ja käyttäjätunnukset",
                "E-post och användarkonton",
                "Email and accounts",
            ),
            (
                "security-scams",
                "Tietoturva ja huijaukset",
                "Datasäkerhet och bedrägerier",
                "Security and scams",
            ),
            ("video-calls", "Videopuhelut", "Videosamtal", "Video calls"),
        ],
    ),
]


def read_csv(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@transaction.atomic
def load_reference_data(*, postal_codes: bool = True) -> dict[str, int]:
    from .models import DevelopmentArea, Municipality, PostalCode, Region, Topic

    areas = {}
    region_area = {}
    for code, fi, sv, en, library, regions in DEVELOPMENT_AREAS:
        areas[code], _ = DevelopmentArea.objects.update_or_create(
            code=code, defaults={"name_fi": fi, "name_sv": sv, "name_en": en, "library": library}
        )
        for region_code in regions:
            region_area[region_code] = areas[code]

    regions = {}
    for row in read_csv("regions.csv"):
        regions[row["code"]], _ = Region.objects.update_or_create(
            code=row["code"],
            defaults={
                "name_fi": row["name_fi"],
                "name_sv": row["name_sv"],
                "development_area": region_area.get(row["code"]),
            },
        )

    municipalities = {}
    for row in read_csv("municipalities.csv"):
        municipalities[row["code"]], _ = Municipality.objects.update_or_create(
            code=row["code"],
            defaults={
                "name_fi": row["name_fi"],
                "name_sv": row["name_sv"],
                "region": regions[row["region_code"]],
                "population": int(row["population"] or 0),
                "population_year": int(row["population_year"]) if row["population_year"] else None,
            },
        )
    # Municipalities merged away since the last load are removed when unused.
    Municipality.objects.exclude(code__in=municipalities).filter(contacts__isnull=True).delete()

    postal_count = 0
    if postal_codes:
        existing = set(PostalCode.objects.values_list("code", flat=True))
        rows = read_csv("postal_codes.csv")
        PostalCode.objects.bulk_create(
            [
                PostalCode(
                    code=row["postal_code"], municipality=municipalities[row["municipality_code"]]
                )
                for row in rows
                if row["postal_code"] not in existing
            ],
            batch_size=1000,
        )
        postal_count = len(rows)

    order = 0
    for slug, fi, sv, en, children in TOPICS:
        order += 1
        parent, _ = Topic.objects.update_or_create(
            slug=slug,
            defaults={"name_fi": fi, "name_sv": sv, "name_en": en, "parent": None, "order": order},
        )
        for child_slug, cfi, csv_, cen in children:
            order += 1
            Topic.objects.update_or_create(
                slug=child_slug,
                defaults={
                    "name_fi": cfi,
                    "name_sv": csv_,
                    "name_en": cen,
                    "parent": parent,
                    "order": order,
                },
            )
    return {
        "development_areas": len(areas),
        "regions": len(regions),
        "municipalities": len(municipalities),
        "postal_codes": postal_count,
        "topics": Topic.objects.count(),
    }
