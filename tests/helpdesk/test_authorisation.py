"""Every role against every API endpoint, admin page and console action.

The API endpoints are read from the URL resolver: a new endpoint without a row
in ALLOWED fails here until someone decides who may call it. Staff sessions
pass the second sign-in step (TWO_FACTOR_REQUIRED stays on). Allowed calls must
succeed; every other one must be refused (401, 403 or 404), never served.
"""

from __future__ import annotations

import io
import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from PIL import Image

from helpdesk.admin_scope import actor_for
from helpdesk.models import Attachment, Contact, Region, Role, RoleGrant
from helpdesk.permissions import admin_ops
from helpdesk.services.attachments import send_attachment
from helpdesk.tokens import make_contact_token
from knowledge.models import Article, ArticleTranslation
from realtime.protocol import SCHEMAS, SUPPORTER
from tests.factories import make_provider, make_supporter, make_user
from tests.realtime.conftest import supporter_client
from tests.realtime.helpers import make_contact

# "customer" holds the token of the contact in the URL, "stranger" the token
# of another contact. "volunteer" and "staff" serve the contact a console
# endpoint names; "colleague" is a volunteer of the same provider who does not.
# "coordinator" coordinates the contact's region, "coordinator_away" another.
ROLES = [
    "anonymous",
    "customer",
    "stranger",
    "volunteer",
    "staff",
    "colleague",
    "provider_admin",
    "coordinator",
    "coordinator_away",
    "national_admin",
]
EVERYONE = set(ROLES)
CUSTOMERS = {"customer", "stranger"}
SUPPORTERS = {"volunteer", "staff", "colleague"}
SERVING = {"volunteer", "staff"}
SIGNED_IN = EVERYONE - {"anonymous"} - CUSTOMERS
ROLE_HOLDERS = {"provider_admin", "coordinator", "coordinator_away", "national_admin"}

# (method, OpenAPI path) -> the roles that may call it.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/contacts/"): EVERYONE,
    ("GET", "/api/contacts/{public_id}/"): {"customer"},
    ("DELETE", "/api/contacts/{public_id}/"): {"customer"},
    ("POST", "/api/contacts/{public_id}/callback"): {"customer"},
    ("GET", "/api/contacts/{public_id}/transcript"): {"customer"},
    ("GET", "/api/contacts/{public_id}/export"): {"customer"},
    ("GET", "/api/municipalities"): EVERYONE,
    ("GET", "/api/topics"): EVERYONE,
    ("GET", "/api/help-near"): EVERYONE,
    ("GET", "/api/console/canned-replies"): SUPPORTERS,
    ("GET", "/api/console/transfer-targets"): SUPPORTERS,
    ("GET", "/api/me"): SIGNED_IN,
    # Supporter material: supporters and every role holder (knowledge/access.py).
    ("GET", "/kb/api/suggest"): SIGNED_IN,
    ("GET", "/kb/api/search"): SIGNED_IN,
    ("GET", "/kb/api/for-topic"): EVERYONE,
    ("POST", "/kb/{slug}/helpful/"): EVERYONE,
    # Statistics: role holders; what each may see is scoped inside
    # (helpdesk/stats, STATS_REGION_VIEW / STATS_NATIONAL_VIEW).
    ("GET", "/api/stats/figures"): ROLE_HOLDERS,
    # Asked for region 01 (below): a coordinator of another region is refused.
    ("GET", "/api/stats/demand"): ROLE_HOLDERS - {"coordinator_away"},
    ("GET", "/api/stats/coverage"): ROLE_HOLDERS,
    # Public, rate-limited per address, no identity involved: answers every
    # role alike (checked below), its behaviour in its own tests.
    ("POST", "/api/device-check/"): EVERYONE,
    # Pictures: the customer of the contact, and the supporter serving it.
    ("POST", "/api/contacts/{public_id}/attachments"): {"customer"},
    ("GET", "/api/contacts/{public_id}/attachments/{attachment_id}"): {"customer"},
    ("POST", "/api/console/contacts/{public_id}/attachments"): SERVING,
    ("GET", "/api/console/contacts/{public_id}/attachments/{attachment_id}"): SERVING,
}
SAME_FOR_EVERYONE = {"/api/device-check/"}
ATTACHMENT_PATHS = {path for _method, path in ALLOWED if "/attachments" in path}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def _endpoints(resolver=None, prefix=""):
    """(path, methods) of every API route; methods empty where the view does not say."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _endpoints(entry, route)
        elif isinstance(entry, URLPattern):
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
            if path.startswith(("/api/", "/kb/api/")) or path.endswith("/helpful/"):
                if path not in ("/api/schema/", "/api/docs/"):
                    yield path, _methods(entry.callback)


def _methods(view) -> frozenset[str]:
    # Class-based views answer the methods they define; function views are
    # walked with the method their row names.
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if cls is None:
        return frozenset()
    return frozenset(
        name.upper()
        for name in cls.http_method_names
        if name not in ("options", "head") and hasattr(cls, name)
    )


@pytest.fixture
def people(reference_data, settings, tmp_path):
    settings.CONTACT_CREATE_RATE_LIMIT = "1000/minute"
    settings.CALLBACK_RATE_LIMIT = "1000/minute"
    settings.ATTACHMENT_RATE_LIMIT = "1000/minute"
    settings.ATTACHMENT_ROOT = tmp_path / "attachments"
    provider = make_provider(regions=["01"])
    supporters = {
        role: make_supporter(providers=[provider], kind=kind)
        for role, kind in (
            ("volunteer", "volunteer"),
            ("staff", "staff"),
            ("colleague", "volunteer"),
        )
    }
    users = {role: supporter.user for role, supporter in supporters.items()} | {
        "provider_admin": make_user(is_staff=True),
        "coordinator": make_user(is_staff=True),
        "coordinator_away": make_user(is_staff=True),
        "national_admin": make_user(is_staff=True),
    }
    RoleGrant.objects.create(
        user=users["provider_admin"], role=Role.PROVIDER_ADMIN, provider=provider
    )
    RoleGrant.objects.create(
        user=users["coordinator"], role=Role.COORDINATOR, region=Region.objects.get(code="01")
    )
    RoleGrant.objects.create(
        user=users["coordinator_away"],
        role=Role.COORDINATOR,
        region=Region.objects.get(code="02"),
    )
    RoleGrant.objects.create(user=users["national_admin"], role=Role.NATIONAL_ADMIN)
    article = Article.objects.create(slug="ohje", audience="customers")
    ArticleTranslation.objects.create(
        article=article, language="fi", title="Ohje", status="published"
    )
    return {"provider": provider, "users": users, "supporters": supporters}


def _client(role: str, people, n: int) -> Client:
    client = Client(REMOTE_ADDR=f"192.0.2.{n + 10}")
    user = people["users"].get(role)
    if user is not None:
        client.force_login(user)
        # The second sign-in step, as after a TOTP code.
        device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def _contact_for(role: str, path: str, people) -> tuple[Contact, str]:
    """A fresh contact for one call, and the id of a picture already in it.

    Console picture endpoints get an active chat served by the caller when the
    caller is a serving role, else by the volunteer (so that a colleague,
    an admin or a customer asks about a chat they do not serve).
    """
    provider = people["provider"]
    if path not in ATTACHMENT_PATHS:
        contact = make_contact(state="waiting", provider=provider, consent_at=timezone.now())
        return contact, ""
    serving = people["supporters"]["volunteer" if role not in SERVING else role]
    contact = make_contact(
        state="active", supporter=serving, provider=provider, consent_at=timezone.now()
    )
    send_attachment(contact_id=contact.pk, data=_png(), declared_type="image/png")
    return contact, str(Attachment.objects.get(contact=contact).public_id)


def _call(client, method: str, path: str, *, role: str, contact: Contact, attachment: str = ""):
    token = None
    if role == "customer":
        token = make_contact_token(contact.public_id)
    elif role == "stranger":
        other = make_contact(state="waiting", consent_at=timezone.now())
        token = make_contact_token(other.public_id)
    headers = {"HTTP_X_CONTACT_TOKEN": token} if token else {}
    url = (
        path.replace("{public_id}", str(contact.public_id))
        .replace("{slug}", "ohje")
        .replace("{attachment_id}", attachment)
    )
    if path.endswith("/attachments"):
        picture = SimpleUploadedFile("kuva.png", _png(), content_type="image/png")
        return client.post(url, {"file": picture}, **headers)
    params = {
        "/api/municipalities": {"q": "Hel"},
        "/api/help-near": {"municipality": "091"},
        "/kb/api/suggest": {"q": "pankki", "lang": "fi"},
        "/kb/api/search": {"q": "pankki", "lang": "fi"},
        "/kb/api/for-topic": {"topic": "banking", "format": "json"},
        "/api/stats/demand": {"region": "01"},
    }.get(path, {})
    if method == "GET":
        return client.get(url, params, **headers)
    if method == "DELETE":
        return client.delete(url, **headers)
    if path == "/api/contacts/":
        body = {"language": "fi", "municipality": "091", "topic": "banking", "consent": True}
        return client.post(url, body, content_type="application/json", **headers)
    if path.endswith("/callback"):
        body = {"callback_number": "040 123 4567"}
        return client.post(url, body, content_type="application/json", **headers)
    return client.post(
        url, {"helpful": "yes", "language": "fi"}, HTTP_ACCEPT="application/json", **headers
    )


@pytest.mark.two_factor
@pytest.mark.django_db
def test_every_api_endpoint_answers_only_the_roles_allowed(people):
    routes = dict(_endpoints())
    assert set(routes) == {path for _method, path in ALLOWED}, set(routes) ^ {
        p for _m, p in ALLOWED
    }
    # Every method a view defines has its row: a new DELETE or PUT is walked too.
    defined = {(method, path) for path, methods in routes.items() for method in methods}
    assert defined <= set(ALLOWED), defined - set(ALLOWED)
    failures = []
    same: dict[str, set[int]] = {}
    for n, role in enumerate(ROLES):
        client = _client(role, people, n)
        for (method, path), allowed in ALLOWED.items():
            contact, attachment = _contact_for(role, path, people)
            response = _call(
                client, method, path, role=role, contact=contact, attachment=attachment
            )
            if path in SAME_FOR_EVERYONE:
                same.setdefault(path, set()).add(response.status_code)
                continue
            ok = response.status_code < 300 and _served(method, path, response)
            refused = response.status_code in (401, 403, 404)
            if (role in allowed and not ok) or (role not in allowed and not refused):
                failures.append((role, method, path, response.status_code))
    assert not failures
    assert all(len(codes) == 1 for codes in same.values()), same


def _served(method: str, path: str, response) -> bool:
    """A picture call succeeded only if the picture really went in or came out."""
    if path not in ATTACHMENT_PATHS:
        return True
    if method == "POST":
        return response.status_code == 201 and response.json()["message"]["kind"] == "file"
    body = b"".join(response.streaming_content)
    return response["Content-Type"] == "image/png" and body.startswith(b"\x89PNG")


@pytest.mark.two_factor
@pytest.mark.django_db
def test_every_admin_page_answers_only_the_roles_the_table_allows(people):
    failures = []
    for n, role in enumerate(ROLES):
        client = _client(role, people, n)
        user = people["users"].get(role)
        if user is not None:
            ops = {
                model: admin_ops(actor_for(type("R", (), {"user": user})()), label)
                for model, label in ((m, m._meta.label_lower) for m in admin.site._registry)
            }
        for model in admin.site._registry:
            meta = model._meta
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
            status = client.get(url).status_code
            may = user is not None and user.is_staff and bool(ops[model])
            if may and status != 200:
                failures.append((role, meta.label, status))
            if not may and status not in (302, 403):
                failures.append((role, meta.label, status))
            if status == 302 and not client.get(url)["Location"].startswith("/admin/login/"):
                failures.append((role, meta.label, "redirect"))
    assert not failures


_SESSION = "0" * 32
# Every console action that names a contact, with a valid frame for it.
CONTACT_ACTIONS = {
    "message.send": {"client_msg_id": "m1", "body": "Hei"},
    "typing": {"active": True},
    "receipt": {"read_seq": 1},
    "note.add": {"client_msg_id": "n1", "body": "Muistiinpano"},
    "article.share": {"article": 1, "client_msg_id": "a1"},
    "contact.pick": {},
    "contact.transfer": {"to_region": "02"},
    "contact.escalate": {},
    "contact.end": {"outcome": "solved"},
    "hold": {},
    "resume": {},
    # Video signalling (realtime/video/frames.py).
    "rtc.propose": {"kind": "video"},
    "rtc.accept": {"proposal": _SESSION},
    "rtc.decline": {"proposal": _SESSION},
    "rtc.candidate": {
        "session": _SESSION,
        "candidate": {
            "candidate": "candidate:1 1 udp 1 192.0.2.1 5000 typ relay raddr 0.0.0.0 rport 0",
            "sdpMid": "0",
        },
    },
    "rtc.stop": {},
    "rtc.ice": {"session": _SESSION},
    "rtc.answer": {
        "session": _SESSION,
        "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
    },
}


@pytest.mark.django_db(transaction=True)
async def test_console_actions_on_a_contact_are_refused_to_everyone_but_its_supporter(
    reference_data,
):
    from channels.routing import URLRouter

    from realtime.routing import websocket_urlpatterns

    app = URLRouter(websocket_urlpatterns)
    named = {kind for kind, fields in SCHEMAS[SUPPORTER].items() if "contact" in fields}
    assert named == set(CONTACT_ACTIONS), named ^ set(CONTACT_ACTIONS)

    def setup():
        home = make_provider(regions=["01"])
        away = make_provider(regions=["02"])
        serving = make_supporter(providers=[home], presence="available")
        colleague = make_supporter(providers=[home], presence="available")
        outsider = make_supporter(providers=[away], presence="available")
        contact = make_contact(state="active", supporter=serving, provider=home)
        return serving.user, colleague.user, outsider.user, contact

    serving, colleague, outsider, contact = await sync_to_async(setup)()
    for user in (colleague, outsider):
        client = await supporter_client(app, user, hello={})
        for kind, fields in CONTACT_ACTIONS.items():
            await client.send({"type": kind, "contact": str(contact.public_id), **fields})
            frame = await client.expect("error")
            # A colleague may try to pick it (it is not waiting: conflict).
            allowed = {"not_allowed", "not_found"} | (
                {"conflict"} if kind == "contact.pick" else set()
            )
            assert frame["code"] in allowed, (kind, frame)
        await client.disconnect()
    refreshed = await sync_to_async(Contact.objects.get)(pk=contact.pk)
    assert refreshed.state == "active" and refreshed.supporter_id == contact.supporter_id
    assert await sync_to_async(refreshed.messages.count)() == 0
    # The supporter serving it may.
    client = await supporter_client(app, serving, hello={})
    await client.send(
        {
            "type": "message.send",
            "contact": str(contact.public_id),
            "client_msg_id": "ok",
            "body": "Hei",
        }
    )
    await client.expect("message.ack")
    await client.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_sockets_refuse_the_wrong_people(reference_data):
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import AnonymousUser

    from realtime.routing import websocket_urlpatterns

    app = URLRouter(websocket_urlpatterns)

    def setup():
        provider = make_provider(regions=["01"])
        coordinator = make_user(is_staff=True)
        RoleGrant.objects.create(
            user=coordinator, role=Role.COORDINATOR, region=Region.objects.get(code="01")
        )
        return coordinator, make_contact(state="waiting", provider=provider)

    coordinator, contact = await sync_to_async(setup)()
    # Not a supporter: no console.
    for user, code in ((AnonymousUser(), 4401), (coordinator, 4403)):
        communicator = WebsocketCommunicator(app, "/ws/console/")
        communicator.scope["user"] = user
        await communicator.connect(timeout=5)
        assert (await communicator.receive_output(timeout=5))["code"] == code
        await communicator.disconnect()
    # A customer socket needs its own contact's token.
    forged = make_contact_token(contact.public_id)[:-2] + "xx"
    for token in ("", forged):
        communicator = WebsocketCommunicator(app, f"/ws/contact/?token={token}")
        await communicator.connect(timeout=5)
        output = await communicator.receive_output(timeout=5)
        assert output["type"] == "websocket.close" and output["code"] in (4401, 4403, 4404)
        await communicator.disconnect()
