"""Knowledge-base fixtures: the seed articles, and people in each role."""

import pytest
from django.core.management import call_command

import knowledge
from helpdesk.models import Role, RoleGrant
from knowledge import services
from knowledge.models import Article
from tests.factories import make_provider, make_supporter, make_user


@pytest.fixture
def seed_articles(reference_data):
    call_command("import_articles", str(knowledge.content_dir()), stdout=open("/dev/null", "w"))
    assert Article.objects.exists()


@pytest.fixture
def provider(reference_data):
    return make_provider(name="Kirjasto")


@pytest.fixture
def staff(provider):
    return make_supporter(providers=[provider], kind="staff").user


@pytest.fixture
def volunteer(provider):
    return make_supporter(providers=[provider], kind="volunteer").user


@pytest.fixture
def coordinator(reference_data):
    from helpdesk.models import Region

    user = make_user()
    RoleGrant.objects.create(user=user, role=Role.COORDINATOR, region=Region.objects.first())
    return user


@pytest.fixture
def national_admin(reference_data):
    user = make_user()
    RoleGrant.objects.create(user=user, role=Role.NATIONAL_ADMIN)
    return user


def make_article(
    slug="testi-ohje",
    *,
    language="fi",
    title="Testiohje",
    summary="",
    body="",
    tags=(),
    audience="customers",
    kind="guide",
    topics=(),
    status="published",
):
    article = services.article_upsert(slug=slug, audience=audience, kind=kind, topic_slugs=topics)
    translation, _ = services.translation_import(
        article=article,
        language=language,
        content=services.TranslationContent(title=title, summary=summary, body=body, tags=tags),
        status=status,
    )
    return article, translation
