"""A video contact is a contact: started from the start page's API, routed, transferred, escalated.

And its video starts and stops are ContactEvents beside the routing ones.
"""

import re

import pytest

from helpdesk.models import Contact, ContactEvent, Offer, Supporter
from helpdesk.services import video
from helpdesk.services.errors import InvalidInput
from routing import services as routing

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_network(reference_data, settings):
    from helpdesk.demo import load_demo_network

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"
    settings.TURN_URL = "turn:127.0.0.1:3478"
    settings.TURN_SECRET = "secret"
    load_demo_network(always_open=True)
    for supporter in Supporter.objects.all():
        routing.set_presence(supporter=supporter, presence="available")


def create(client, **overrides):
    body = {"language": "fi", "municipality": "091", "consent": True, **overrides}
    return client.post(
        "/api/contacts/", body, content_type="application/json", REMOTE_ADDR="10.9.8.7"
    )


def offer_and_accept(contact: Contact) -> Supporter:
    routing.dispatch()
    offer = Offer.objects.select_related("supporter").get(contact=contact, state="pending")
    routing.accept_offer(offer_id=offer.pk, supporter=offer.supporter)
    return offer.supporter


def test_start_page_api_creates_a_video_contact(client, open_network):
    response = create(client, channel="video")
    assert response.status_code == 201, response.content
    assert response.json()["contact"]["channel"] == "video"
    assert Contact.objects.get().channel == "video"
    assert create(client).json()["contact"]["channel"] == "chat"
    for bad in ("phone", "", None, 5, ["video"]):
        assert create(client, channel=bad).status_code == 400, bad


def test_video_contact_is_routed_transferred_and_escalated(client, open_network):
    from helpdesk.models import Provider

    public_id = create(client, channel="video").json()["contact"]["id"]
    contact = Contact.objects.get(public_id=public_id)
    first = offer_and_accept(contact)
    assert first.providers.filter(slug="helmet-digituki").exists()
    contact.refresh_from_db()
    assert contact.state == "active" and contact.channel == "video"

    # Video runs; a transfer stops it (the consumers release the sockets) and moves the contact.
    who = video.Participant("supporter", "socket-s", first)
    proposed = video.propose(contact_id=contact.pk, who=who, kind="video")
    video.accept(
        contact_id=contact.pk,
        who=video.Participant("customer", "socket-c"),
        proposal=proposed.proposal,
    )
    no_video = Provider.objects.get(slug="lieksan-asiointipiste")
    with pytest.raises(InvalidInput):
        routing.transfer_contact(
            public_id=contact.public_id, supporter=first, to_provider_id=no_video.pk
        )
    kuopio = Provider.objects.get(slug="kuopion-kirjasto")
    routing.transfer_contact(public_id=contact.public_id, supporter=first, to_provider_id=kuopio.pk)
    assert video.release_socket(contact_id=contact.pk, socket="socket-s", reason="transferred")
    second = offer_and_accept(contact)
    assert second.providers.filter(pk=kuopio.pk).exists()

    # The new supporter can start video again; then escalate to Kansalaisneuvonta.
    who = video.Participant("supporter", "socket-s2", second)
    proposed = video.propose(contact_id=contact.pk, who=who, kind="screen")
    video.accept(
        contact_id=contact.pk,
        who=video.Participant("customer", "socket-c"),
        proposal=proposed.proposal,
    )
    routing.escalate_contact(public_id=contact.public_id, supporter=second, note="Kela-asia")
    video.release_socket(contact_id=contact.pk, socket="socket-s2", reason="escalated")
    third = offer_and_accept(contact)
    assert third.providers.filter(is_national=True).exists()

    kinds = list(
        ContactEvent.objects.filter(contact=contact).order_by("id").values_list("kind", flat=True)
    )
    video_kinds = [k for k in kinds if k.startswith(("video.", "screen."))]
    assert video_kinds == [
        "video.proposed",
        "video.started",
        "video.stopped",
        "screen.proposed",
        "screen.started",
        "screen.stopped",
    ]
    assert kinds.index("video.stopped") > kinds.index("transferred")
    stopped = ContactEvent.objects.filter(contact=contact, kind="screen.stopped").get()
    assert stopped.data["reason"] == "escalated" and stopped.provider_id == kuopio.pk


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.I)
HANDLER_OR_STYLE = re.compile(r"\s(?:on[a-z]+|style)=", re.I)


@pytest.mark.parametrize(
    ("language", "no_recording", "start_video"),
    [
        ("fi", "Mitään ei koskaan tallenneta", "Aloita video"),
        ("sv", "Inget spelas någonsin in", "Starta video"),
        ("en", "No recording, ever", "Start video"),
    ],
)
def test_pages_offer_video_in_three_languages_without_inline_code(
    client, open_network, language, no_recording, start_video
):
    from helpdesk.models import Supporter

    chat = client.get("/chat/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert no_recording in chat and start_video in chat
    assert 'id="video-strings"' in chat and "customer-video.js" in chat
    start = client.get("/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert 'name="channel" value="video"' in start
    client.force_login(Supporter.objects.get(user__username="uusimaa-volunteer").user)
    console = client.get("/console/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "console-video.js" in console and start_video in console
    for html in (chat, start, console):
        assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)
    # The video parts (the page's own base template is another matter).
    for html, marker in ((chat, 'id="video-area"'), (console, 'class="video-area"')):
        area = html[html.index(marker) : html.index("</section>", html.index(marker))]
        assert "<video" in area and not HANDLER_OR_STYLE.search(area)
    choice = start[
        start.index('id="channel-choice"') : start.index(
            "</fieldset>", start.index('id="channel-choice"')
        )
    ]
    assert not HANDLER_OR_STYLE.search(choice)
    privacy = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert {"fi": "ei tallenneta koskaan", "sv": "spelas aldrig in", "en": "never recorded"}[
        language
    ] in privacy
