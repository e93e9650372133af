"""The waiting room shows how-to guides before scam warnings before emergency guides."""

from __future__ import annotations

import pytest

from knowledge.reassurance import alarm_level, reassuring_first

CASES = [
    ("Annoin pankkitunnukset tai korttitiedot huijarille – toimi heti", 2),
    ("Jag gav mina bankkoder till en bedragare – gör så här genast", 2),
    ("My email account was hacked", 2),
    ("Recognising scam messages: text messages, emails and phone calls", 1),
    ("Huijausviestien tunnistaminen", 1),
    ("Känna igen bedrägerier", 1),
    ("Pankkitunnusten käyttöönotto uudessa puhelimessa", 0),
    ("Mobilt BankID steg för steg", 0),
    ("Paying a bill in online banking", 0),
]


@pytest.mark.parametrize(("title", "level"), CASES)
def test_alarm_level(title, level):
    assert alarm_level({"title": title, "summary": ""}) == level


def test_reassuring_first_keeps_the_order_within_a_group():
    cards = [
        {"title": "Annoin tunnukset huijarille", "summary": ""},
        {"title": "Uusi puhelin ja pankkitunnukset", "summary": ""},
        {"title": "Huijausviestit", "summary": ""},
        {"title": "Laskun maksaminen verkkopankissa", "summary": ""},
    ]
    assert [c["title"] for c in reassuring_first(cards)] == [
        "Uusi puhelin ja pankkitunnukset",
        "Laskun maksaminen verkkopankissa",
        "Huijausviestit",
        "Annoin tunnukset huijarille",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_waiting_room_banking_guides_start_with_a_how_to(client, seed_articles, language):
    data = client.get(
        "/kb/api/for-topic", {"topic": "banking", "lang": language, "format": "json"}
    ).json()
    cards = data["articles"]
    assert cards
    levels = [alarm_level(c) for c in cards]
    assert levels == sorted(levels)
    assert levels[0] == 0, cards[0]["title"]
    assert "annoin-tunnukset-huijarille" != cards[0]["slug"]
