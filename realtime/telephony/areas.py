"""Where a caller probably is, from the area code of a Finnish landline number.

Finnish landline area codes cover one or a few regions (maakunta), not a
municipality: 013 is Pohjois-Karjala, 09 Helsinki and Uusimaa. The caller is
placed in the region that the code mainly covers; mobile numbers, nationwide
service numbers and foreign numbers tell nothing, and then the caller picks a
region from a short menu. Pure: no database, no request.
"""

from __future__ import annotations

# Area code without the leading 0 -> region (maakunta) code.
AREA_CODE_REGIONS = {
    "13": "12",  # Pohjois-Karjala
    "14": "13",  # Keski-Suomi
    "15": "10",  # Etelä-Savo
    "16": "19",  # Lappi
    "17": "11",  # Pohjois-Savo
    "18": "21",  # Ahvenanmaa
    "19": "01",  # Uusimaa (western)
    "2": "02",  # Varsinais-Suomi (and Satakunta)
    "3": "06",  # Pirkanmaa (and Häme)
    "5": "08",  # Kymenlaakso (and Etelä-Karjala)
    "6": "15",  # Pohjanmaa (and Etelä- and Keski-Pohjanmaa)
    "8": "17",  # Pohjois-Pohjanmaa (and Kainuu)
    "9": "01",  # Helsinki and Uusimaa
}
# Nationwide and service prefixes that look like area codes but are not.
NATIONWIDE = ("10", "20", "29", "30", "60", "70", "71", "73", "75")
MOBILE = ("4", "50")


def region_for_number(number: str) -> str | None:
    """The region code a Finnish landline number points to, or None."""
    if not isinstance(number, str):
        return None
    digits = number.strip()
    if digits.startswith("+358"):
        rest = digits[4:]
    elif digits.startswith("00358"):
        rest = digits[5:]
    elif digits.startswith("0") and not digits.startswith("00"):
        rest = digits[1:]
    else:
        return None
    if not rest.isdigit() or len(rest) < 5:
        return None
    if rest.startswith(NATIONWIDE) or rest.startswith(MOBILE):
        return None
    for length in (2, 1):
        region = AREA_CODE_REGIONS.get(rest[:length])
        if region is not None:
            return region
    return None
