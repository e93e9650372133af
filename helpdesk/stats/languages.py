"""Which municipalities must be served in Swedish: their official language status.

Finland's Language Act (423/2003) makes a municipality bilingual when the
minority official language is spoken by at least 8 % or 3,000 of its
inhabitants; the Government sets the list every ten years (Valtioneuvoston
asetus kuntien kielellisestä asemasta vuosina 2023–2032). The codes below
were compiled for this project from that decree's list as published by the
Ministry of Justice; check them against the decree when it is renewed.
Åland's municipalities are Swedish-speaking by the Act on the Autonomy of
Åland, so its whole region (code 21) counts as Swedish-speaking.

Status values:
- "sv": Swedish-speaking (unilingual);
- "bilingual_sv": bilingual, Swedish-speaking majority;
- "bilingual_fi": bilingual, Finnish-speaking majority;
- "fi": Finnish-speaking (every other municipality).
"""

from __future__ import annotations

ALAND_REGION_CODE = "21"
SWEDISH = frozenset({"280", "440", "545"})  # Korsnäs, Larsmo, Närpes
BILINGUAL_SWEDISH_MAJORITY = frozenset(
    {
        "149",  # Ingå
        "231",  # Kaskö
        "287",  # Kristinestad
        "288",  # Kronoby
        "322",  # Kimitoön
        "445",  # Pargas
        "475",  # Malax
        "499",  # Korsholm
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
        "235",  # Kauniainen
        "257",  # Kirkkonummi
        "272",  # Kokkola
        "407",  # Lapinjärvi
        "434",  # Loviisa
        "638",  # Porvoo
        "753",  # Sipoo
        "755",  # Siuntio
        "853",  # Turku
        "905",  # Vaasa
    }
)


def swedish_status(municipality_code: str, region_code: str | None = None) -> str:
    """The official language status of a municipality (see the module note)."""
    if region_code == ALAND_REGION_CODE or municipality_code in SWEDISH:
        return "sv"
    if municipality_code in BILINGUAL_SWEDISH_MAJORITY:
        return "bilingual_sv"
    if municipality_code in BILINGUAL_FINNISH_MAJORITY:
        return "bilingual_fi"
    return "fi"


def needs_swedish(municipality_code: str, region_code: str | None = None) -> bool:
    return swedish_status(municipality_code, region_code) != "fi"
