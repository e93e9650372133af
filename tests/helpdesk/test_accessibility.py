"""The accessibility statement, English 24-hour times and Swedish names first."""

from __future__ import annotations

import datetime

import pytest
from django.utils import formats, translation

STATEMENTS = {
    "fi": ("Saavutettavuusseloste", "306/2019", "Traficom", "osittain"),
    "sv": ("Tillgänglighetsutlåtande", "306/2019", "Traficom", "delvis"),
    "en": ("Accessibility statement", "306/2019", "Traficom", "partially"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_the_statement_in_each_language_linked_from_every_page(client, language, settings):
    settings.ACCESSIBILITY_FEEDBACK_EMAIL = "saavutettavuus@example.fi"
    html = client.get("/accessibility/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    for text in STATEMENTS[language]:
        assert text in html, (language, text)
    assert "mailto:saavutettavuus@example.fi" in html
    assert f'<html lang="{language}">' in html
    for page in ("/", "/privacy/", "/near/", "/kb/"):
        footer = client.get(page, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert 'href="/accessibility/"' in footer, page


@pytest.mark.django_db
def test_without_a_feedback_address_it_points_to_the_people_who_helped(client, settings):
    settings.ACCESSIBILITY_FEEDBACK_EMAIL = ""
    html = client.get("/accessibility/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "mailto:" not in html and "coordinator" in html


def test_english_times_use_the_24_hour_clock():
    moment = datetime.datetime(2026, 11, 30, 21, 5)
    with translation.override("en"):
        assert formats.date_format(moment.time(), "TIME_FORMAT") == "21:05"
        assert formats.date_format(moment, "DATETIME_FORMAT") == "30 November 2026 21:05"
    with translation.override("fi"):
        assert formats.date_format(moment.time(), "TIME_FORMAT") == "21.05"


@pytest.mark.django_db
def test_help_near_lists_swedish_names_first_in_swedish(client, reference_data):
    sv = client.get("/near/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    fi = client.get("/near/", HTTP_ACCEPT_LANGUAGE="fi").content.decode()
    assert "Helsingfors / Helsinki" in sv and "Helsinki / Helsingfors" in fi
