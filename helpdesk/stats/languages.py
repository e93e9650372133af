"""Which municipalities must be served in Swedish: their official language status.

Finland's Language Act (423/2003) makes a municipality bilingual when the
minority official language is spoken by at least 8 % or 3,000 of its
inhabitants, or when the council asks for it; the Government sets the list
every ten years (Valtioneuvoston asetus kuntien kielellisestä asemasta
vuosina 2023–2032). For 2023–2032 the decree left the division unchanged:
15 bilingual municipalities with a Swedish-speaking majority (Korsnäs,
Larsmo and Närpes among them, bilingual at their councils' request), 18
with a Finnish-speaking majority (Lohja at its council's request), and the
16 municipalities of Åland, Swedish-speaking by the Act on the Autonomy of
Åland, counted here through their region (code 21). The codes below were
compiled for this project from the published classification (Statistics
Finland's "kielisuhde"); check them when the decree is renewed.

Status values:
- "sv": Swedish-speaking (unilingual);
- "bilingual_sv": bilingual, Swedish-speaking majority;
- "bilingual_fi": bilingual, Finnish-speaking majority;
- "fi": Finnish-speaking (every other municipality).
"""

from __future__ import annotations

ALAND_REGION_CODE = "21"
BILINGUAL_SWEDISH_MAJORITY = frozenset(
    {
        "149",  # Ingå
        "280",  # Korsnäs
        "287",  # Kristinestad
        "288",  # Kronoby
        "322",  # Kimitoön
        "440",  # Larsmo
        "445",  # Pargas
        "475",  # Malax
        "499",  # Korsholm
        "545",  # Närpes
        "598",  # Jakobstad
        "599",  # Pedersöre
        "710",  # Raseborg
        "893",  # Nykarleby
        "946",  # Vörå
    }
)
BILINGUAL_FINNISH_MAJORITY = frozenset(
    {
        "049",  # Espoo
        "078",  # Hanko
        "091",  # Helsinki
        "092",  # Vantaa
        "231",  # Kaskinen
        "235",  # Kauniainen
        "257",  # Kirkkonummi
        "272",  # Kokkola
        "407",  # Lapinjärvi
        "434",  # Loviisa
        "444",  # Lohja
        "504",  # Myrskylä
        "624",  # Pyhtää
        "638",  # Porvoo
        "753",  # Sipoo
        "755",  # Siuntio
        "853",  # Turku
        "905",  # Vaasa
    }
)


def swedish_status(municipality_code: str, region_code: str | None = None) -> str:
    """The official language status of a municipality (see the module note)."""
    if region_code == ALAND_REGION_CODE:
        return "sv"
    if municipality_code in BILINGUAL_SWEDISH_MAJORITY:
        return "bilingual_sv"
    if municipality_code in BILINGUAL_FINNISH_MAJORITY:
        return "bilingual_fi"
    return "fi"


def needs_swedish(municipality_code: str, region_code: str | None = None) -> bool:
    return swedish_status(municipality_code, region_code) != "fi"
