"""Suggestions for a conversation and the card shared into a chat."""

import pytest

from knowledge.selectors import article_card
from knowledge.services import suggest_articles

pytestmark = pytest.mark.django_db

NEW_PHONE = "hei, sain uuden puhelimen enkä pääse pankkiin, tunnusluvut ei toimi"


def test_new_phone_bank_codes_suggests_the_bank_app_guide_first(seed_articles):
    found = suggest_articles(text=NEW_PHONE, language="fi")
    assert found[0]["slug"] == "pankkitunnukset-uuteen-puhelimeen"
    assert len(found) <= 3
    assert set(found[0]) == {"id", "slug", "title", "summary", "url", "language"}
    assert found[0]["url"] == "/kb/pankkitunnukset-uuteen-puhelimeen/?lang=fi"


def test_suggestions_in_swedish(seed_articles):
    found = suggest_articles(
        text="hej, jag har en ny telefon och bankkoderna fungerar inte", language="sv"
    )
    assert found[0]["slug"] == "pankkitunnukset-uuteen-puhelimeen"
    assert found[0]["language"] == "sv"


def test_suggestions_for_nothing(seed_articles):
    assert suggest_articles(text="", language="fi") == []
    assert suggest_articles(text="hei", language="fi") == []
    assert suggest_articles(text="x", language="xx") == []


def test_article_card_falls_back_and_hides_staff_material(seed_articles):
    from knowledge.models import Article

    bank = Article.objects.get(slug="pankkitunnukset-uuteen-puhelimeen")
    card = article_card(bank.pk, "sv")
    assert card["language"] == "sv" and card["id"] == bank.pk
    printer = Article.objects.get(slug="tulostimen-asennus")
    assert article_card(printer.pk, "en")["language"] == "fi"
    ethics = Article.objects.get(slug="digituen-etiikka")
    assert article_card(ethics.pk, "fi") is None
    assert article_card(999999, "fi") is None
    assert article_card("nonsense", "fi") is None
