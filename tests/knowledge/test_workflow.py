"""Review workflow, versions with diffs, permissions and good practices."""

import pytest

from helpdesk.services.errors import Conflict, InvalidInput, NotAllowed
from knowledge import selectors, services
from knowledge.models import ArticleVersion, Status
from knowledge.services import TranslationContent

pytestmark = pytest.mark.django_db


def draft(staff, body="Ensimmäinen versio.\nToinen rivi."):
    article = services.article_upsert(slug="ohje", topic_slugs=["banking"])
    translation, changed = services.translation_save(
        article=article,
        language="fi",
        content=TranslationContent(title="Ohje", body=body),
        actor=staff,
    )
    assert changed
    return translation


def test_versions_only_when_content_changes(staff):
    t = draft(staff)
    assert t.version == 1 and t.author == staff and t.status == Status.DRAFT
    same, changed = services.translation_save(
        article=t.article,
        language="fi",
        content=TranslationContent(title="Ohje", body="Ensimmäinen versio.\nToinen rivi."),
        actor=staff,
    )
    assert not changed and same.version == 1
    t2, changed = services.translation_save(
        article=t.article,
        language="fi",
        content=TranslationContent(title="Ohje", body="Ensimmäinen versio.\nKorjattu rivi."),
        actor=staff,
        note="korjaus",
    )
    assert changed and t2.version == 2
    assert list(ArticleVersion.objects.filter(translation=t2).values_list("number", flat=True)) == [
        2,
        1,
    ]
    diff = selectors.version_diff(translation=t2, old=1, new=2)
    assert "-Toinen rivi." in diff and "+Korjattu rivi." in diff
    assert diff[0].startswith("--- v1")


def test_workflow_draft_review_published(staff, national_admin, coordinator):
    t = draft(staff)
    with pytest.raises(Conflict):
        services.translation_publish(translation=t, actor=national_admin)
    t = services.translation_submit_for_review(translation=t, actor=staff)
    assert t.status == Status.REVIEW
    # Coordinators publish good practices; general guides are national material.
    with pytest.raises(NotAllowed):
        services.translation_publish(translation=t, actor=coordinator)
    t = services.translation_publish(translation=t, actor=national_admin)
    assert t.status == Status.PUBLISHED and t.reviewer == national_admin and t.published_at
    t = services.translation_return_to_draft(translation=t, actor=national_admin)
    assert t.status == Status.DRAFT


def test_a_volunteer_cannot_publish_or_edit(staff, volunteer):
    t = draft(staff)
    t = services.translation_submit_for_review(translation=t, actor=staff)
    with pytest.raises(NotAllowed):
        services.translation_publish(translation=t, actor=volunteer)
    with pytest.raises(NotAllowed):
        services.translation_publish(translation=t, actor=staff)
    with pytest.raises(NotAllowed):
        services.translation_save(
            article=t.article,
            language="fi",
            content=TranslationContent(title="X"),
            actor=volunteer,
        )
    with pytest.raises(NotAllowed):
        services.translation_save(
            article=t.article, language="fi", content=TranslationContent(title="X"), actor=None
        )


def test_bad_input_is_refused(staff):
    article = services.article_upsert(slug="ohje")
    for content, language in [
        (TranslationContent(title="  "), "fi"),
        (TranslationContent(title="x" * 201), "fi"),
        (TranslationContent(title="ok"), "de"),
    ]:
        with pytest.raises(InvalidInput):
            services.translation_save(
                article=article, language=language, content=content, actor=staff
            )
    for kwargs in [
        {"slug": "Huono Slug"},
        {"slug": "x", "audience": "all"},
        {"slug": "x", "kind": "poem"},
        {"slug": "x", "topic_slugs": ["nope"]},
    ]:
        with pytest.raises(InvalidInput):
            services.article_upsert(**kwargs)


def test_good_practice_submitted_by_volunteer_and_published_by_coordinator(
    volunteer, coordinator, staff
):
    t = services.good_practice_submit(
        actor=volunteer,
        language="fi",
        content=TranslationContent(title="Vertaistuki kirjastossa", body="Näin teimme."),
        topic_slugs=["smartphone"],
    )
    assert t.status == Status.REVIEW and t.article.kind == "good_practice"
    assert t.article.audience == "supporters"
    assert t in selectors.review_queue(user=coordinator)
    with pytest.raises(NotAllowed):
        services.translation_publish(translation=t, actor=volunteer)
    with pytest.raises(NotAllowed):
        services.translation_publish(translation=t, actor=staff)
    assert services.translation_publish(translation=t, actor=coordinator).status == "published"


def test_review_pages(client, staff, coordinator, volunteer, national_admin):
    t = services.translation_submit_for_review(translation=draft(staff), actor=staff)
    client.force_login(volunteer)
    assert client.get("/kb/review/").status_code == 403
    client.force_login(coordinator)
    assert "Ohje" not in client.get("/kb/review/").content.decode()
    client.force_login(national_admin)
    assert "Ohje" in client.get("/kb/review/").content.decode()
    assert client.get(f"/kb/review/{t.pk}/").status_code == 200
    response = client.post(f"/kb/review/{t.pk}/", {"action": "publish"})
    assert response.status_code == 302
    t.refresh_from_db()
    assert t.status == Status.PUBLISHED


def test_good_practice_form(client, volunteer):
    client.force_login(volunteer)
    assert client.get("/kb/good-practices/new/").status_code == 200
    bad = client.post("/kb/good-practices/new/", {"language": "fi", "title": "", "body": ""})
    assert bad.status_code == 200
    response = client.post(
        "/kb/good-practices/new/",
        {
            "language": "fi",
            "title": "Hyvä käytäntö",
            "body": "Teksti",
            "tags": "a, b",
            "topics": ["banking"],
        },
    )
    assert response.status_code == 302
    from knowledge.models import ArticleTranslation

    t = ArticleTranslation.objects.get(title="Hyvä käytäntö")
    assert t.status == "review" and t.tags == ["a", "b"]
    assert list(t.article.topics.values_list("slug", flat=True)) == ["banking"]


def test_admin_pages(admin_client, staff):
    t = draft(staff)
    services.translation_save(
        article=t.article, language="fi", content=TranslationContent(title="Ohje 2"), actor=staff
    )
    assert admin_client.get("/admin/knowledge/article/").status_code == 200
    change = admin_client.get(f"/admin/knowledge/articletranslation/{t.pk}/change/")
    assert change.status_code == 200
    diff = admin_client.get(f"/admin/knowledge/articletranslation/{t.pk}/diff/1/2/")
    assert diff.status_code == 200 and "+title: Ohje 2" in diff.content.decode()
    response = admin_client.post(
        "/admin/knowledge/articletranslation/",
        {"action": "submit_for_review", "_selected_action": [t.pk]},
    )
    assert response.status_code == 302
    t.refresh_from_db()
    assert t.status == "review"
