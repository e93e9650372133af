"""Admin time inputs show and take times to the minute, in each language's own way."""

from __future__ import annotations

import re
from datetime import time

import pytest
from django.urls import reverse

from helpdesk.models import OpeningHours
from tests.factories import make_provider, make_user


@pytest.fixture
def hours(reference_data):
    provider = make_provider(name="Joensuun kirjasto", regions=["12"])
    return OpeningHours.objects.create(provider=provider, weekday=0, opens=time(9), closes=time(16))


def _value(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, name
    return re.search(r'value="([^"]*)"', match.group(0)).group(1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "opens", "heading"),
    [
        ("fi", "09.00", "Muokkaa aukioloaika"),
        ("sv", "09:00", "Ändra öppettid"),
        ("en", "09:00", "Change opening time"),
    ],
)
def test_the_opening_time_form_shows_minutes_and_names_one_rule(
    client, hours, language, opens, heading
):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    url = reverse("admin:helpdesk_openinghours_change", args=[hours.pk])
    html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert _value(html, "opens") == opens
    assert _value(html, "closes") == opens.replace("09", "16")
    assert f"<h1>{heading}</h1>" in html


@pytest.mark.django_db
def test_a_finnish_time_without_seconds_is_saved(client, hours):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    url = reverse("admin:helpdesk_openinghours_change", args=[hours.pk])
    response = client.post(
        url,
        {"provider": hours.provider_id, "weekday": 0, "opens": "9.30", "closes": "16.15"},
        HTTP_ACCEPT_LANGUAGE="fi",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hours.refresh_from_db()
    assert (hours.opens, hours.closes) == (time(9, 30), time(16, 15))
