"""A customer downloads and deletes their own contact; staff reads are audit-logged."""

import uuid

import pytest
from channels.db import database_sync_to_async as adb

from helpdesk.models import AuditLogEntry, Contact, Feedback, Message
from helpdesk.services import messages as message_service
from helpdesk.tokens import make_contact_token
from tests.helpdesk.test_api import auth, post_contact
from tests.realtime.conftest import close_chat_store_pool, supporter_client, ws_app  # noqa: F401
from tests.realtime.helpers import make_pair

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"


def _chat(contact, supporter):
    message_service.post_message(contact_id=contact.pk, client_msg_id="c", body="apua 131052-308T")
    message_service.post_message(
        contact_id=contact.pk, client_msg_id="s", body="autan", supporter=supporter
    )
    message_service.post_message(
        contact_id=contact.pk, client_msg_id="n", body="sisäinen", supporter=supporter, kind="note"
    )


def test_the_customer_downloads_their_contact_as_json_without_notes(client, reference_data):
    provider, supporter, contact = make_pair(description="tulostin")
    _chat(contact, supporter)
    token = make_contact_token(contact.public_id)
    response = client.get(f"/api/contacts/{contact.public_id}/export", **auth(token))
    assert response.status_code == 200
    data = response.json()
    assert data["contact"]["description"] == "tulostin"
    assert [m["body"] for m in data["messages"]] == ["apua [•••]", "autan"]
    assert AuditLogEntry.objects.filter(action="customer_export", contact=contact).count() == 1
    text = client.get(f"/api/contacts/{contact.public_id}/transcript", **auth(token))
    assert text.status_code == 200 and "sisäinen" not in text.content.decode()
    assert AuditLogEntry.objects.filter(action="customer_export", contact=contact).count() == 2


def test_export_and_delete_need_the_contacts_own_token(client, reference_data):
    provider, supporter, contact = make_pair()
    other = make_contact_token(uuid.uuid4())
    for method in (client.get, client.delete):
        url = f"/api/contacts/{contact.public_id}/" + ("export" if method == client.get else "")
        assert method(url).status_code == 403
        assert method(url, **auth(other)).status_code == 404
    assert Contact.objects.get(pk=contact.pk).purged_at is None


def test_deleting_an_active_contact_ends_it_and_purges_it_now(client, reference_data):
    provider, supporter, contact = make_pair(description="oma kuvaus")
    _chat(contact, supporter)
    Feedback.objects.create(contact=contact, rating=4, comment="kiitos")
    token = make_contact_token(contact.public_id)
    response = client.delete(f"/api/contacts/{contact.public_id}/", **auth(token))
    assert response.status_code == 204
    contact.refresh_from_db()
    assert contact.state == "ended" and contact.purged_at is not None
    assert contact.description == "" and not Message.objects.filter(contact=contact).exists()
    assert Feedback.objects.get(contact=contact).comment == ""
    entry = AuditLogEntry.objects.get(action="customer_deleted", contact=contact)
    assert entry.detail["messages"] == 3
    # The supporter is free again: the assignment ended with the contact.
    assert not contact.assignments.filter(ended_at__isnull=True).exists()


def test_deleting_a_waiting_contact_abandons_it(client, reference_data):
    created = post_contact(client, "10.8.8.8").json()
    response = client.delete(f"/api/contacts/{created['contact']['id']}/", **auth(created["token"]))
    assert response.status_code == 204
    contact = Contact.objects.get(public_id=created["contact"]["id"])
    assert contact.state == "abandoned" and contact.purged_at is not None


@pytest.mark.django_db(transaction=True)
async def test_a_console_shown_a_whole_transcript_is_audit_logged(ws_app, transactional_db):  # noqa: F811
    provider, supporter, contact = await adb(make_pair)()
    await adb(_chat)(contact, supporter)
    console = await supporter_client(ws_app, supporter.user, hello={})
    await console.disconnect()
    entries = await adb(
        lambda: list(AuditLogEntry.objects.filter(action="transcript_read_console").values())
    )()
    assert [(e["contact_id"], e["actor_id"]) for e in entries] == [(contact.pk, supporter.user_id)]
    # A reconnect that asks only for what is new is not a second read.
    console = await supporter_client(ws_app, supporter.user, hello={str(contact.public_id): 3})
    await console.disconnect()
    assert await adb(AuditLogEntry.objects.filter(action="transcript_read_console").count)() == 1
