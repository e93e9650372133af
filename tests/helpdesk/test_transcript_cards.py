"""A shared guide in the transcript: title, summary and a link that opens it."""

from __future__ import annotations

import pytest

from helpdesk import selectors
from helpdesk.models import Message
from routing import services

pytestmark = pytest.mark.django_db


def test_shared_guide_shows_title_summary_and_link(reference_data):
    contact = services.enqueue_contact(
        channel="chat", language="sv", municipality_code="091", topic_slug=None, consent=True
    )
    card = {
        "id": 7,
        "slug": "mobilt-bankid",
        "title": "Mobilt BankID steg för steg",
        "summary": "Så tar du i bruk koderna i en ny telefon.",
        "url": "/kb/mobilt-bankid/?lang=sv",
        "language": "sv",
    }
    Message.objects.create(
        contact=contact,
        seq=1,
        author_kind="supporter",
        author_name="Aino",
        kind="article",
        body=card["title"],
        payload={"article": card},
    )
    text = selectors.transcript_text(
        contact=contact, messages=contact.messages.all(), base_url="https://help.example"
    )
    assert "Mobilt BankID steg för steg https://help.example/kb/mobilt-bankid/?lang=sv" in text
    assert "Så tar du i bruk koderna i en ny telefon." in text
