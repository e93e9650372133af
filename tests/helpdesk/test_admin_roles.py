"""The admin follows the role table: every role against every registered admin model.

For each role, each registered model's change list (view), add page (add),
change page (view or change) and delete page (delete) answer exactly as
helpdesk.permissions.ADMIN_TABLE says; change lists hold exactly the role's
scope. A few literal cases are pinned as well, so that a wrong table fails too.
"""

from __future__ import annotations

from datetime import date

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from helpdesk.admin_scope import RoleScopedMixin, actor_for
from helpdesk.models import (
    Assignment,
    AuditLogEntry,
    CannedReply,
    Contact,
    ContactEvent,
    ExceptionDate,
    Feedback,
    Message,
    Municipality,
    Offer,
    PostalCode,
    Provider,
    Region,
    Role,
    RoleGrant,
    Supporter,
)
from helpdesk.permissions import ADMIN_TABLE, Actor, AdminOp, admin_ops
from knowledge.models import Article, ArticleImage, ArticleTranslation, ArticleVersion, HelpfulVote
from routing.models import Workflow, WorkflowStep
from tests.factories import make_provider, make_supporter, make_user

R_HOME, R_AWAY = "12", "11"  # Pohjois-Karjala, Pohjois-Savo
ROLES = ["superuser", "national_admin", "coordinator", "provider_admin", "staff_no_role"]


def _contact(provider: Provider, region: Region) -> Contact:
    contact = Contact.objects.create(
        channel="chat",
        region=region,
        municipality=Municipality.objects.filter(region=region).first(),
        provider=provider,
        state="ended",
        pseudonym=f"Asiakas {provider.pk}",
    )
    supporter = provider.supporters.first()
    Feedback.objects.create(contact=contact, rating=5)
    ContactEvent.objects.create(contact=contact, kind="created", at=timezone.now())
    Message.objects.create(contact=contact, seq=1, author_kind="customer", body="hei")
    Offer.objects.create(contact=contact, supporter=supporter)
    Assignment.objects.create(
        contact=contact, supporter=supporter, provider=provider, started_at=timezone.now()
    )
    AuditLogEntry.objects.create(action="test", contact=contact)
    return contact


@pytest.fixture
def network(reference_data):
    home, away = Region.objects.get(code=R_HOME), Region.objects.get(code=R_AWAY)
    p_home = make_provider(name="Joensuun kirjasto", regions=[R_HOME])
    p_home_2 = make_provider(name="Kontiolahden kirjasto", municipalities=["276"])
    p_away = make_provider(name="Kuopion kirjasto", regions=[R_AWAY])
    objects = {"home": {}, "away": {}}
    for side, provider, region in (("home", p_home, home), ("away", p_away, away)):
        supporter = make_supporter(providers=[provider])
        CannedReply.objects.create(provider=provider, title="Hei", body="Hei!")
        ExceptionDate.objects.create(provider=provider, date=date(2026, 12, 24))
        workflow = Workflow.objects.create(name=f"Workflow {region.code}", region=region)
        WorkflowStep.objects.create(workflow=workflow, order=0, target="region", timeout_s=60)
        contact = _contact(provider, region)
        objects[side] = {"provider": provider, "supporter": supporter, "contact": contact}
    make_supporter(providers=[p_home_2])
    PostalCode.objects.create(code="80100", municipality=Municipality.objects.get(code="167"))
    Group.objects.create(name="Editors")
    article = Article.objects.create(slug="ohje")
    translation = ArticleTranslation.objects.create(article=article, language="fi", title="Ohje")
    ArticleVersion.objects.create(translation=translation, number=1, title="Ohje")
    HelpfulVote.objects.create(article=article, language="fi", helpful=True, session_hash="x")
    ArticleImage.objects.create(article=article, file="kb/kuva.png", alt_text="kuva")
    attempt = {"user_agent": "test", "ip_address": "192.0.2.1", "username": "x", "path_info": "/"}
    AccessAttempt.objects.create(failures_since_start=1, **attempt)
    AccessLog.objects.create(**attempt)
    AccessFailureLog.objects.create(**attempt)

    users = {
        "superuser": make_user("root", is_staff=True, is_superuser=True),
        "national_admin": make_user("national", is_staff=True),
        "coordinator": make_user("coord", is_staff=True),
        "provider_admin": make_user("padmin", is_staff=True),
        "staff_no_role": make_user("nobody", is_staff=True),
    }
    RoleGrant.objects.create(user=users["national_admin"], role=Role.NATIONAL_ADMIN)
    RoleGrant.objects.create(user=users["coordinator"], role=Role.COORDINATOR, region=home)
    RoleGrant.objects.create(
        user=users["provider_admin"], role=Role.PROVIDER_ADMIN, provider=p_home
    )
    from datetime import time as clock

    from helpdesk.stats.models import ShiftException, ShiftPattern
    from realtime.telephony.models import PhoneCall

    for side in ("home", "away"):
        provider, supporter = objects[side]["provider"], objects[side]["supporter"]
        ShiftPattern.objects.create(
            supporter=supporter, provider=provider, weekday=0, start=clock(9), end=clock(12)
        )
        ShiftException.objects.create(
            supporter=supporter, provider=provider, date=date(2026, 12, 24)
        )
    PhoneCall.objects.create(call_sid="CA" + "0" * 32, direction="inbound", stage="menu")
    TOTPDevice.objects.create(user=users["national_admin"], name="app")
    StaticDevice.objects.create(user=users["national_admin"], name="backup")
    return {"users": users, "home": objects["home"], "away": objects["away"], "p_home_2": p_home_2}


def _registered():
    return sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label_lower)


def _url(model, view: str, *args) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


class _Request:
    def __init__(self, user):
        self.user = user


def test_every_registered_admin_and_inline_uses_the_table():
    for model, model_admin in _registered():
        assert isinstance(model_admin, RoleScopedMixin), model
        assert model._meta.label_lower in ADMIN_TABLE, model
        for inline in model_admin.inlines:
            assert issubclass(inline, RoleScopedMixin), inline
            assert inline.model._meta.label_lower in ADMIN_TABLE, inline


def test_the_table_says_what_the_brief_says():
    """Literal cases: a table that drifts from the agreed roles fails here."""
    coord = Actor(user_id=1, coordinator_region_ids=frozenset({1}))
    padmin = Actor(user_id=2, admin_provider_ids=frozenset({1}))
    national = Actor(user_id=3, national_admin=True)
    every = set(AdminOp)
    for label in ("helpdesk.provider", "helpdesk.supporter", "routing.workflow"):
        assert admin_ops(national, label) == every
    for label in (
        "helpdesk.provider",
        "helpdesk.supporter",
        "helpdesk.openinghours",
        "helpdesk.exceptiondate",
        "helpdesk.cannedreply",
        "routing.workflow",
    ):
        assert admin_ops(coord, label) == every, label
    assert admin_ops(padmin, "helpdesk.provider") == {AdminOp.VIEW, AdminOp.CHANGE}
    assert admin_ops(padmin, "helpdesk.supporter") == every
    assert admin_ops(padmin, "routing.workflow") == set()
    for label in ("helpdesk.rolegrant", "auth.user", "helpdesk.region", "knowledge.article"):
        assert admin_ops(coord, label) == set(), label
        assert admin_ops(padmin, label) == set(), label
    assert admin_ops(national, "helpdesk.contact") == {AdminOp.VIEW}
    assert admin_ops(Actor(), "helpdesk.provider") == set()


def _object_for(model, network, role):
    """An object of the model inside the role's scope when it has one."""
    model_admin = admin.site._registry[model]
    user = network["users"][role]
    qs = model_admin.get_queryset(_request_for(user))
    return qs.first() or model._default_manager.first()


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_the_table_says(client, network, role):
    user = network["users"][role]
    client.force_login(user)
    actor = actor_for(_request_for(user))
    failures = []
    for model, _model_admin in _registered():
        label = model._meta.label_lower
        ops = admin_ops(actor, label)
        may_view = bool(ops & {AdminOp.VIEW, AdminOp.CHANGE})

        status = client.get(_url(model, "changelist")).status_code
        if status != (200 if may_view else 403):
            failures.append((label, "view", status))
        status = client.get(_url(model, "add")).status_code
        if status != (200 if AdminOp.ADD in ops else 403):
            failures.append((label, "add", status))

        obj = _object_for(model, network, role)
        assert obj is not None, label
        response = client.get(_url(model, "change", obj.pk))
        if not may_view:
            if response.status_code != 403:
                failures.append((label, "change-page", response.status_code))
        elif response.status_code != 200:
            failures.append((label, "change-page", response.status_code))
        elif bool(response.context["has_change_permission"]) != (AdminOp.CHANGE in ops):
            failures.append((label, "change", response.context["has_change_permission"]))
        status = client.get(_url(model, "delete", obj.pk)).status_code
        if status != (200 if AdminOp.DELETE in ops else 403):
            failures.append((label, "delete", status))
    assert not failures


def _changelist_pks(client, model) -> set:
    response = client.get(_url(model, "changelist"))
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].queryset}


@pytest.mark.django_db
def test_coordinator_sees_only_the_providers_and_people_of_their_region(client, network):
    client.force_login(network["users"]["coordinator"])
    home, away = network["home"], network["away"]
    # Kontiolahti is in Pohjois-Karjala: a provider serving one municipality counts.
    assert _changelist_pks(client, Provider) == {home["provider"].pk, network["p_home_2"].pk}
    supporters = _changelist_pks(client, Supporter)
    assert home["supporter"].pk in supporters and away["supporter"].pk not in supporters
    assert _changelist_pks(client, Workflow) == {Workflow.objects.get(region__code=R_HOME).pk}
    assert _changelist_pks(client, Contact) == {home["contact"].pk}
    assert _changelist_pks(client, Feedback) == {home["contact"].feedback.pk}
    assert _changelist_pks(client, CannedReply) == set(
        CannedReply.objects.filter(provider=home["provider"]).values_list("pk", flat=True)
    )
    # Someone else's provider: not even its change page.
    assert client.get(_url(Provider, "change", away["provider"].pk)).status_code in (302, 403)
    assert client.get(_url(Supporter, "change", away["supporter"].pk)).status_code in (302, 403)


@pytest.mark.django_db
def test_provider_admin_sees_only_their_provider(client, network):
    client.force_login(network["users"]["provider_admin"])
    home = network["home"]
    assert _changelist_pks(client, Provider) == {home["provider"].pk}
    assert _changelist_pks(client, Supporter) == {home["supporter"].pk}
    assert _changelist_pks(client, Contact) == {home["contact"].pk}
    assert client.get(_url(Workflow, "changelist")).status_code == 403
    assert client.get(_url(Provider, "add")).status_code == 403


@pytest.mark.django_db
def test_changelists_hold_exactly_the_scope_for_every_role(client, network):
    from helpdesk.admin_scope import scoped

    for role in ("coordinator", "provider_admin"):
        user = network["users"][role]
        client.force_login(user)
        actor = actor_for(_request_for(user))
        for model, _ in _registered():
            if not admin_ops(actor, model._meta.label_lower):
                continue
            expected = set(scoped(model._default_manager.all(), actor).values_list("pk", flat=True))
            assert _changelist_pks(client, model) == expected, (role, model)
            # The scope is a strict part: someone else's objects stay out.
            if model in (Provider, Supporter, Contact, CannedReply, ExceptionDate):
                assert expected and expected != set(
                    model._default_manager.values_list("pk", flat=True)
                ), (role, model)


@pytest.mark.django_db
def test_foreign_key_choices_stay_in_scope(client, network):
    client.force_login(network["users"]["coordinator"])
    response = client.get(_url(CannedReply, "add"))
    choices = {p.pk for p in response.context["adminform"].form.fields["provider"].queryset}
    assert choices == {network["home"]["provider"].pk, network["p_home_2"].pk}
    response = client.get(_url(Provider, "add"))
    regions = response.context["adminform"].form.fields["service_regions"].queryset
    assert [r.code for r in regions] == [R_HOME]
    response = client.get(_url(Supporter, "add"))
    providers = response.context["adminform"].form.fields["providers"].queryset
    assert network["away"]["provider"] not in providers
    users = response.context["adminform"].form.fields["user"].queryset
    assert network["away"]["supporter"].user not in users
    assert network["users"]["national_admin"] not in users


@pytest.mark.django_db
def test_provider_admin_edits_their_provider_but_not_where_it_serves(client, network):
    client.force_login(network["users"]["provider_admin"])
    provider = network["home"]["provider"]
    response = client.get(_url(Provider, "change", provider.pk))
    form = response.context["adminform"].form
    assert "name" in form.fields and "service_regions" not in form.fields
    data = {
        "name": "Joensuun pääkirjasto",
        "kind": "library",
        "channels": '["chat"]',
        "languages": '["fi"]',
        "opening_hours-TOTAL_FORMS": "0",
        "opening_hours-INITIAL_FORMS": "0",
        "exception_dates-TOTAL_FORMS": "0",
        "exception_dates-INITIAL_FORMS": "0",
        "canned_replies-TOTAL_FORMS": "0",
        "canned_replies-INITIAL_FORMS": "0",
    }
    response = client.post(_url(Provider, "change", provider.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    provider.refresh_from_db()
    assert provider.name == "Joensuun pääkirjasto"
    assert list(provider.service_regions.values_list("code", flat=True)) == [R_HOME]
    away = network["away"]["provider"]
    data["name"] = "hijacked"
    response = client.post(_url(Provider, "change", away.pk), data)
    away.refresh_from_db()
    assert away.name != "hijacked"
