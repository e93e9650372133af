"""Public pages in fi/sv/en, audience rules, helpful votes and the JSON endpoints."""

import pytest

from knowledge.models import Article, HelpfulVote

from .conftest import make_article

pytestmark = pytest.mark.django_db
BANK = "pankkitunnukset-uuteen-puhelimeen"


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_pages_render_in_each_language(client, seed_articles, lang):
    client.cookies["django_language"] = lang
    home = client.get("/kb/")
    assert home.status_code == 200 and f'lang="{lang}"' in home.content.decode()
    found = client.get("/kb/", {"q": "pankkitunnukset uusi puhelin", "lang": lang})
    assert found.status_code == 200
    page = client.get(f"/kb/{BANK}/", {"lang": lang})
    html = page.content.decode()
    assert page.status_code == 200 and f'<article lang="{lang}">' in html
    assert client.get("/kb/topics/banking/", {"lang": lang}).status_code == 200


def test_fallback_is_visible(client, seed_articles):
    client.cookies["django_language"] = "en"
    html = client.get("/kb/tulostimen-asennus/", {"lang": "sv"}).content.decode()
    assert "This guide is not available in Swedish; showing Finnish." in html
    assert '<article lang="fi">' in html


def test_search_page_results(client, seed_articles):
    html = client.get("/kb/", {"q": "salasanan vaihtaminen", "lang": "fi"}).content.decode()
    assert "/kb/salasanan-vaihtaminen/?lang=fi" in html and "<mark>" in html


NO_GUIDE_TEXT = {
    "fi": "Emme löytäneet ohjetta",
    "sv": "Vi hittade ingen guide",
    "en": "We found no guide",
}


@pytest.mark.parametrize(
    ("lang", "query"),
    [
        ("fi", "voiko tontille rakentaa saunan ilman lupaa"),
        ("sv", "hur byter jag däck på bilen"),
        ("en", "how do i renew my fishing licence"),
    ],
)
def test_search_page_without_an_answer_points_to_people(client, seed_articles, lang, query):
    client.cookies["django_language"] = lang
    html = client.get("/kb/", {"q": query, "lang": lang}).content.decode()
    assert NO_GUIDE_TEXT[lang] in html
    assert 'href="/near/" data-in-person' in html and 'href="/"' in html
    assert 'class="kb-results"' not in html


def test_api_search_without_an_answer_is_empty(client, seed_articles, staff):
    client.force_login(staff)
    found = client.get("/kb/api/search", {"q": "how do i renew my fishing licence", "lang": "en"})
    assert found.status_code == 200 and found.json() == []


def test_unknown_and_unpublished_give_404(client, seed_articles):
    make_article("luonnos", status="draft")
    assert client.get("/kb/ei-ole/").status_code == 404
    assert client.get("/kb/luonnos/").status_code == 404
    assert client.get("/kb/topics/ei-ole/").status_code == 404


def test_supporter_material_needs_a_supporter(client, seed_articles, staff):
    response = client.get("/kb/digituen-etiikka/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert "digituen-etiikka" not in client.get("/kb/", {"q": "digituen etiikka"}).content.decode()
    client.force_login(staff)
    assert client.get("/kb/digituen-etiikka/").status_code == 200


def test_helpful_votes_once_per_session(client, seed_articles):
    url = f"/kb/{BANK}/helpful/"
    assert client.post(url, {"helpful": "yes", "language": "fi"}).status_code == 302
    again = client.post(url, {"helpful": "no", "language": "fi"}, HTTP_ACCEPT="application/json")
    assert again.status_code == 409 and again.json()["error"] == "already_voted"
    vote = HelpfulVote.objects.get()
    assert vote.helpful and vote.language == "fi" and vote.article.slug == BANK
    page = client.get(f"/kb/{BANK}/").content.decode()
    assert 'value="yes"' not in page
    other = client.__class__()
    assert other.post(url, {"helpful": "no", "language": "sv"}).status_code == 302
    assert HelpfulVote.objects.filter(helpful=False, language="sv").count() == 1


def test_helpful_bad_input(client, seed_articles):
    bad = client.post(
        f"/kb/{BANK}/helpful/",
        {"helpful": "maybe", "language": "fi"},
        HTTP_ACCEPT="application/json",
    )
    assert bad.status_code == 400
    bad = client.post(
        f"/kb/{BANK}/helpful/", {"helpful": "yes", "language": "xx"}, HTTP_ACCEPT="application/json"
    )
    assert bad.status_code == 400
    assert client.post("/kb/ei-ole/helpful/", {"helpful": "yes"}).status_code == 404
    assert client.get(f"/kb/{BANK}/helpful/").status_code == 405
    assert HelpfulVote.objects.count() == 0


def test_api_needs_a_supporter(client, seed_articles, django_user_model):
    assert client.get("/kb/api/suggest", {"q": "x"}).status_code in (401, 403)
    client.force_login(django_user_model.objects.create_user("citizen", password="x" * 12))
    assert client.get("/kb/api/search", {"q": "x"}).status_code == 403


def test_api_suggest_and_search(client, seed_articles, staff):
    client.force_login(staff)
    q = "hei, sain uuden puhelimen enkä pääse pankkiin, tunnusluvut ei toimi"
    found = client.get("/kb/api/suggest", {"q": q, "lang": "fi"}).json()
    assert found[0]["slug"] == BANK and len(found) <= 3
    found = client.get("/kb/api/search", {"q": "bankkoder ny telefon", "lang": "sv"}).json()
    assert found[0]["slug"] == BANK and found[0]["language"] == "sv"
    bad = client.get("/kb/api/search", {"q": "x", "lang": "de"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"
    assert client.get("/kb/api/search", {"q": "", "lang": "fi"}).json() == []


def test_for_topic_fragment(client, seed_articles):
    html = client.get("/kb/api/for-topic", {"topic": "banking", "lang": "fi"}).content.decode()
    assert "<section" in html and "/kb/" in html
    data = client.get("/kb/api/for-topic", {"topic": "banking", "format": "json"}).json()
    assert data["articles"] and len(data["articles"]) <= 3
    slugs = {a["slug"] for a in data["articles"]}
    audiences = set(Article.objects.filter(slug__in=slugs).values_list("audience", flat=True))
    assert audiences <= {"customers", "both"}
    assert client.get("/kb/api/for-topic", {"topic": "nope", "format": "json"}).json() == {
        "articles": []
    }
