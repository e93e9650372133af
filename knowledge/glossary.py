"""Everyday words in fi, sv and en that name the same thing, for searching across languages.

A customer writes Swedish on the Finnish site ("bedrägeri sms"), or a
supporter searches in English for a guide that exists only in Finnish
("printer not working"). `knowledge.suggestions` searches every language;
for the search in another language it adds the words of this glossary that
translate the query's words. The rows are general vocabulary of devices and
everyday e-services, never the title of an article.
"""

from __future__ import annotations

import functools

from . import search as searchlib
from . import text as textlib

# (fi, sv, en): one concept a row; a cell may hold several words.
CONCEPTS: tuple[tuple[str, str, str], ...] = (
    ("tulostin tulostaa", "skrivare skriva ut", "printer print"),
    ("puhelin", "telefon mobil", "phone"),
    ("tabletti", "surfplatta", "tablet ipad"),
    ("tietokone", "dator", "computer"),
    ("sähköposti", "e-post", "email"),
    ("salasana", "lösenord", "password"),
    ("pankki", "bank", "bank"),
    ("tunnukset tunnusluku", "koder kod", "codes code"),
    ("lasku", "räkning", "bill invoice"),
    ("huijaus huijari", "bedrägeri bedragare", "scam fraud scammer"),
    ("tekstiviesti", "sms textmeddelande", "text sms"),
    ("videopuhelu", "videosamtal", "video"),
    ("soittaa", "ringa", "call"),
    ("lippu", "biljett", "ticket"),
    ("juna", "tåg", "train"),
    ("bussi", "buss", "bus"),
    ("liite", "bilaga", "attachment"),
    ("resepti", "recept", "prescription"),
    ("verokortti", "skattekort", "tax card"),
    ("muutto muuttaa", "flytt flytta", "move moving"),
    ("sovellus", "app", "app"),
    ("päivitys", "uppdatering", "update"),
    ("lapsenlapsi", "barnbarn", "grandchild grandson granddaughter"),
    ("uusi", "ny", "new"),
)
LANGUAGES = ("fi", "sv", "en")


@functools.lru_cache(maxsize=1)
def _stems() -> list[dict[str, tuple[str, ...]]]:
    return [
        {lang: tuple(textlib.stems(cell, lang)) for lang, cell in zip(LANGUAGES, row, strict=True)}
        for row in CONCEPTS
    ]


def translate(text: str, *, to: str) -> str:
    """The glossary's words in language `to` for the words of `text` in the other languages."""
    words: list[str] = []
    for source in LANGUAGES:
        if source == to:
            continue
        stems = [textlib.stem(w, source) for w in textlib.tokens(text)]
        if not stems:
            continue
        for index, row in enumerate(_stems()):
            if any(searchlib.match_strength(s, g) >= 0.95 for s in stems for g in row[source]):
                words.append(CONCEPTS[index][LANGUAGES.index(to)])
    return " ".join(dict.fromkeys(words))
