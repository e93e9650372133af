"""Reassuring guides first: the waiting room's order of guides.

Someone waiting for help with a new phone and bank codes should first see
how to do it, not "I gave my codes to a scammer – act now". Guides for
emergencies (someone was cheated, an account was taken over, something was
lost) come last, and warnings about scams after the how-to guides; within each
group the search order stays. The words are matched on the title and summary
in fi, sv and en, as prefixes of words, so inflected forms match too.
"""

from __future__ import annotations

import re

# A guide for someone to whom something bad has already happened.
EMERGENCY_STEMS = (
    # fi
    "huijari", "huijatt", "kaapat", "kaappa", "varastet", "kadotin", "kadonn",
    "toimi heti", "väärinkäyt",
    # sv
    "bedragare", "lurad", "kapad", "kapat", "stulen", "stulna", "tappade", "borttappad",
    "gör så här genast",
    # en
    "scammer", "was scammed", "been scammed", "hacked", "hijacked", "stolen", "i lost",
    "act now", "act at once",
)  # fmt: skip
# A warning that can worry someone who came for something else.
WARNING_STEMS = (
    "huijau", "huijaus", "bedräg", "nätfiske", "scam", "fraud", "phishing", "kalastelu",
)  # fmt: skip

_WORD_START = r"(?<![\w])"


def _pattern(stems: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(_WORD_START + "(?:" + "|".join(re.escape(s) for s in stems) + ")", re.I)


_EMERGENCY = _pattern(EMERGENCY_STEMS)
_WARNING = _pattern(WARNING_STEMS)


def alarm_level(card: dict) -> int:
    """0 for a how-to guide, 1 for a scam warning, 2 for an emergency guide."""
    text = f"{card.get('title') or ''} {card.get('summary') or ''}"
    if _EMERGENCY.search(text):
        return 2
    if _WARNING.search(text):
        return 1
    return 0


def reassuring_first(cards: list[dict]) -> list[dict]:
    """The same cards, how-to guides before warnings before emergencies (stable)."""
    return sorted(cards, key=alarm_level)
