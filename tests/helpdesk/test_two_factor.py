"""Two-factor sign-in, login throttling and staff session expiry."""

from __future__ import annotations

import re
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from helpdesk.models import Role, RoleGrant
from helpdesk.two_factor import requires_two_factor
from tests.factories import make_provider, make_supporter, make_user

pytestmark = pytest.mark.two_factor
PASSWORD = "test-password-123"


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"


def _sign_in(client, username: str, password: str = PASSWORD, **extra):
    return client.post(
        "/console/login/",
        {"username": username, "password": password, "next": "/console/"},
        **extra,
    )


@pytest.fixture
def staff(reference_data):
    return make_supporter(providers=[make_provider()], kind="staff").user


def _enrol(client, user) -> list[str]:
    """Walk the first sign-in: QR code, a wrong code, the right code, backup codes."""
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/account/2fa/")
    response = client.get(response["Location"], follow=True)
    html = response.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html and "totp-secret" in html
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    wrong = client.post("/account/2fa/setup/", {"token": "000000", "next": "/console/"})
    assert "wrong" in wrong.content.decode() or wrong.status_code == 200
    device.refresh_from_db()
    assert not device.confirmed
    device.throttle_reset()  # a wrong code makes the next try wait a second
    done = client.post("/account/2fa/setup/", {"token": _code(device), "next": "/console/"})
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    return codes


@pytest.mark.django_db
def test_staff_enrol_at_first_sign_in_and_pass_the_second_step_after(staff):
    client = Client()
    assert _sign_in(client, staff.username).status_code == 302
    # Before the second step the session is worth nothing.
    assert client.get("/api/me").status_code in (401, 403)
    assert client.get("/admin/").status_code == 302
    codes = _enrol(client, staff)
    assert client.get("/console/").status_code == 200
    assert client.get("/api/me").status_code == 200

    # A new sign-in asks for a code; a backup code works exactly once.
    second = Client()
    _sign_in(second, staff.username)
    response = second.get("/console/")
    assert response["Location"].startswith("/account/2fa/?next=")
    wrong = second.post("/account/2fa/", {"token": "123456", "next": "/console/"})
    assert wrong.status_code == 200 and "id_token" in wrong.content.decode()
    assert second.get("/console/").status_code == 302
    time.sleep(1.1)  # after a wrong code, the devices wait a second before the next try
    ok = second.post("/account/2fa/", {"token": codes[0], "next": "/console/"})
    assert ok.status_code == 302 and ok["Location"] == "/console/"
    assert second.get("/console/").status_code == 200
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    third = Client()
    _sign_in(third, staff.username)
    third.post("/account/2fa/", {"token": codes[0]})
    assert third.get("/console/").status_code == 302
    device = TOTPDevice.objects.get(user=staff)
    # TOTP codes are single use: a fresh step's code works.
    device.refresh_from_db()
    device.last_t = -1
    device.throttling_failure_count = 0
    device.save()
    assert third.post("/account/2fa/", {"token": _code(device)}).status_code == 302
    assert third.get("/console/").status_code == 200


@pytest.mark.django_db
def test_who_needs_the_second_step(reference_data, settings):
    provider = make_provider()
    volunteer = make_supporter(providers=[provider], kind="volunteer").user
    staff = make_supporter(providers=[provider], kind="staff").user
    coordinator, padmin, national = make_user(), make_user(), make_user()
    from helpdesk.models import Region

    RoleGrant.objects.create(user=coordinator, role=Role.COORDINATOR, region=Region.objects.first())
    RoleGrant.objects.create(user=padmin, role=Role.PROVIDER_ADMIN, provider=provider)
    RoleGrant.objects.create(user=national, role=Role.NATIONAL_ADMIN)
    root = make_user(is_superuser=True, is_staff=True)
    assert not requires_two_factor(volunteer)
    for user in (staff, coordinator, padmin, national, root):
        assert requires_two_factor(user), user
    # A volunteer signs in with a password alone.
    client = Client()
    _sign_in(client, volunteer.username)
    assert client.get("/console/").status_code == 200


@pytest.mark.django_db
def test_the_actor_a_console_opens_with_answers_without_a_query(
    reference_data, django_assert_num_queries
):
    """A console socket decides from the actor it reads anyway, the same as the queries."""
    from helpdesk.models import Region
    from helpdesk.permissions import Actor

    provider = make_provider()
    volunteer = make_supporter(providers=[provider], kind="volunteer").user
    staff = make_supporter(providers=[provider], kind="staff").user
    # A volunteer who also coordinates a region holds a grant: the second step applies.
    coordinating = make_supporter(providers=[provider], kind="volunteer").user
    region = Region.objects.first()
    RoleGrant.objects.create(user=coordinating, role=Role.COORDINATOR, region=region)
    national = make_user()
    RoleGrant.objects.create(user=national, role=Role.NATIONAL_ADMIN)
    root = make_user(is_superuser=True, is_staff=True)
    plain = make_user()
    users = (volunteer, staff, coordinating, national, root, plain)
    expected = [requires_two_factor(type(u).objects.get(pk=u.pk)) for u in users]
    assert expected == [False, True, True, True, True, False]
    for user, needed in zip(users, expected, strict=True):
        user = type(user).objects.get(pk=user.pk)
        actor = Actor.for_user(user)
        with django_assert_num_queries(0):
            assert requires_two_factor(user, actor=actor) == needed, user
    with pytest.raises(ValueError):
        requires_two_factor(type(staff).objects.get(pk=staff.pk), actor=Actor.for_user(root))


@pytest.mark.django_db
def test_demo_logins_are_exempt_only_in_development(reference_data, settings):
    user = make_user("pk-staff")
    RoleGrant.objects.create(user=user, role=Role.NATIONAL_ADMIN)
    settings.DEBUG = True
    assert not requires_two_factor(user)
    user = type(user).objects.get(pk=user.pk)
    settings.DEBUG = False
    assert requires_two_factor(user)
    user = type(user).objects.get(pk=user.pk)
    settings.DEBUG, settings.TWO_FACTOR_EXEMPT_DEMO_USERS = True, False
    assert requires_two_factor(user)


@pytest.mark.django_db
def test_a_password_guessing_loop_locks_the_account(staff, settings):
    client = Client()
    statuses = [
        _sign_in(client, staff.username, "wrong-guess", REMOTE_ADDR="198.51.100.7").status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    # The form again with its error, until the limit locks the account.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    # Locked: even the right password from another address is refused.
    locked = _sign_in(Client(), staff.username, PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert locked.status_code == 429
    assert "locked" in locked.content.decode()


@pytest.mark.django_db
def test_a_password_guessing_loop_locks_the_address(reference_data, settings):
    users = [make_user() for _ in range(settings.AXES_FAILURE_LIMIT + 1)]
    client = Client()
    for user in users[:-1]:
        _sign_in(client, user.username, "wrong-guess", REMOTE_ADDR="198.51.100.8")
    # The next account tried from that address is refused, right password or not.
    locked = _sign_in(client, users[-1].username, PASSWORD, REMOTE_ADDR="198.51.100.8")
    assert locked.status_code == 429
    # Someone else elsewhere is not affected.
    assert _sign_in(Client(), users[-1].username, REMOTE_ADDR="192.0.2.50").status_code == 302


@pytest.mark.django_db
def test_staff_sessions_expire(staff, settings):
    client = Client()
    _sign_in(client, staff.username)
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600


@pytest.mark.django_db(transaction=True)
async def test_the_console_socket_needs_the_second_step(reference_data):
    from helpdesk.asgi import application

    def sign_in():
        user = make_supporter(providers=[make_provider()], kind="staff").user
        client = Client()
        _sign_in(client, user.username)
        return user, client

    user, client = await sync_to_async(sign_in)()
    headers = [
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        (b"origin", b"http://127.0.0.1"),
    ]
    refused = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    await refused.connect(timeout=5)
    assert (await refused.receive_output(timeout=5))["code"] == 4401
    await refused.disconnect()

    def verify():
        response = client.get("/account/2fa/setup/")
        assert response.status_code == 200
        device = TOTPDevice.objects.get(user=user)
        client.post("/account/2fa/setup/", {"token": _code(device)})

    await sync_to_async(verify)()
    headers[0] = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    accepted = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await accepted.connect(timeout=5)
    assert connected
    await accepted.send_json_to({"type": "ping"})
    assert await accepted.receive_json_from(timeout=5) == {"type": "pong"}
    await accepted.disconnect()
