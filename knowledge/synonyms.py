"""Everyday words customers use for what the guides call by another name.

A customer writes "printteri", "kännykkä" or "läppäri"; the guides say
"tulostin", "puhelin" and "kannettava tietokone". Each everyday word (left)
also matches the guide words (right), a little more weakly than the word
itself. The lists name general vocabulary of the three languages, not any
article: an entry belongs here when people commonly say it for the thing.
"""

from __future__ import annotations

import functools

from . import text as textlib

EVERYDAY: dict[str, dict[str, tuple[str, ...]]] = {
    "fi": {
        "kännykkä": ("puhelin", "älypuhelin"),
        "känny": ("puhelin", "älypuhelin"),
        "kännykän": ("puhelin", "älypuhelin"),
        "luuri": ("puhelin",),
        "printteri": ("tulostin",),
        "läppäri": ("tietokone", "kannettava"),
        "kone": ("tietokone",),
        "netti": ("verkko", "internet"),
        "nettipankki": ("verkkopankki",),
        "tekstari": ("tekstiviesti",),
        "meili": ("sähköposti",),
        "sposti": ("sähköposti",),
        "appi": ("sovellus",),
        "äppi": ("sovellus",),
    },
    "sv": {
        "mobil": ("telefon",),
        "mejl": ("e-post",),
    },
    "en": {
        "cellphone": ("phone",),
        "mobile": ("phone",),
        "laptop": ("computer",),
        "email": ("e-mail", "mail"),
    },
}
SYNONYM_STRENGTH = 0.85


@functools.lru_cache(maxsize=8)
def stem_map(language: str) -> dict[str, tuple[str, ...]]:
    """Stem of an everyday word -> the stems of the guide words it stands for."""
    language = textlib.normalise_language(language)
    out: dict[str, set[str]] = {}
    for word, guide_words in EVERYDAY.get(language, {}).items():
        key = textlib.stem(word, language)
        out.setdefault(key, set()).update(textlib.stems(" ".join(guide_words), language))
    return {key: tuple(sorted(value - {key})) for key, value in out.items()}
