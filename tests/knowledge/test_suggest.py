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
    assert set(found[0]) == {"id", "slug", "title", "summary", "url", "language", "other_language"}
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


# Issue 11 item 9: the cases seen in use.


def test_a_video_call_with_topic_video_calls_gets_no_password_or_scam_guide(seed_articles):
    found = suggest_articles(
        text="Haluan soittaa videopuhelun lapsenlapselle", language="fi", topic="video-calls"
    )
    assert found[0]["slug"] == "videopuhelu-laheiselle"
    slugs = {c["slug"] for c in found}
    assert not slugs & {
        "sahkopostiin-ei-paase",
        "salasanan-vaihtaminen",
        "annoin-tunnukset-huijarille",
    }


def test_new_phone_bank_codes_is_not_answered_with_the_scam_guide_first(seed_articles):
    found = suggest_articles(text="new phone, bank codes", language="en", topic="banking")
    assert found[0]["slug"] == "pankkitunnukset-uuteen-puhelimeen"


def test_a_swedish_query_on_the_finnish_site_finds_the_scam_guide_in_finnish(seed_articles):
    found = suggest_articles(text="bedrägeri sms", language="fi")
    assert found[0]["slug"] == "huijausviestit-tunnistaminen"
    assert found[0]["language"] == "fi" and found[0]["other_language"] is False


def test_an_english_query_finds_the_finnish_only_printer_guide_marked_finnish(seed_articles):
    found = suggest_articles(text="printer not working", language="en")
    assert found[0]["slug"] == "tulostimen-asennus"
    assert found[0]["language"] == "fi" and found[0]["other_language"] is True


def test_waiting_room_guides_put_how_to_before_the_scam_guide(seed_articles):
    from knowledge.selectors import customer_guides_for_topic

    plain = customer_guides_for_topic(topic_slug="banking", language="en", limit=10)
    slugs = [c["slug"] for c in plain]
    assert "annoin-tunnukset-huijarille" in slugs
    assert slugs.index("annoin-tunnukset-huijarille") == len(slugs) - 1
    written = customer_guides_for_topic(
        topic_slug="banking", language="en", text="new phone, bank codes"
    )
    assert written[0]["slug"] == "pankkitunnukset-uuteen-puhelimeen"
