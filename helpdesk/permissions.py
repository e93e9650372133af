"""Who may do what: the one permission table, enforced by services and selectors.

Views and consumers check too, but a service never trusts its caller: every
service that acts for a person takes the acting Supporter/user and calls
`require`. The table-driven test in tests/helpdesk/test_permissions.py walks
every role against every action.

Roles:
- customer: anonymous, holds a signed contact token for one contact;
- volunteer / staff supporter: a Supporter record (kind), scoped to their providers;
- Kansalaisneuvonta agent: a supporter of a national provider (Provider.is_national);
- provider admin: RoleGrant scoped to a provider;
- regional coordinator: RoleGrant scoped to a region;
- national admin: RoleGrant without scope.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from .compiled_reads import CompiledRead
from .services.errors import NotAllowed


class Action(enum.StrEnum):
    # customer
    CUSTOMER_SEND = "customer_send"
    FEEDBACK_GIVE = "feedback_give"
    # supporting
    QUEUE_VIEW = "queue_view"
    CONTACT_ACCEPT = "contact_accept"
    CONTACT_PICK = "contact_pick"
    CONTACT_CHAT = "contact_chat"
    CONTACT_TRANSFER = "contact_transfer"
    CONTACT_ESCALATE = "contact_escalate"
    CONTACT_END = "contact_end"
    CUSTOMER_DETAILS_VIEW = "customer_details_view"
    TRANSCRIPT_READ = "transcript_read"
    # Media on a direct path, where each side can learn the other's address.
    VIDEO_DIRECT_PATH = "video_direct_path"
    # administration
    PROVIDER_MANAGE = "provider_manage"
    SUPPORTERS_MANAGE = "supporters_manage"
    WORKFLOW_EDIT = "workflow_edit"
    STATS_REGION_VIEW = "stats_region_view"
    STATS_NATIONAL_VIEW = "stats_national_view"
    STATS_PROVIDER_VIEW = "stats_provider_view"
    REFERENCE_DATA_MANAGE = "reference_data_manage"
    # knowledge base
    ARTICLE_EDIT = "article_edit"
    ARTICLE_PUBLISH = "article_publish"
    GOOD_PRACTICE_SUBMIT = "good_practice_submit"
    GOOD_PRACTICE_PUBLISH = "good_practice_publish"


def _build_active_providers(supporter_id: int):
    from .models import Provider

    return Provider.objects.filter(supporters=supporter_id, active=True).values_list(
        "id", "is_national"
    )


# (id, is_national) of a supporter's active providers; compiled once per process.
_active_providers = CompiledRead(_build_active_providers)


def _supporter_fields() -> list[str]:
    from .models import Supporter

    return [f.attname for f in Supporter._meta.concrete_fields]


def _build_supporter_row(user_id: int):
    from django.db.models import Exists, OuterRef

    from .models import RoleGrant, Supporter

    grants = RoleGrant.objects.filter(user_id=OuterRef("user_id"))
    return (
        Supporter.objects.filter(user_id=user_id)
        .annotate(has_grants=Exists(grants))
        .values_list(*_supporter_fields(), "has_grants")
    )


_supporter_row = CompiledRead(_build_supporter_row)


def _supporter_of(user_id: int):
    """The user's Supporter (None if not one); `has_grants`: whether they hold any RoleGrant."""
    from .models import Supporter

    for *values, has_grants in _supporter_row(user_id):
        supporter = Supporter.from_db(DEFAULT_DB_ALIAS, _supporter_fields(), values)
        supporter.has_grants = has_grants
        return supporter
    return None


@dataclass(frozen=True)
class Actor:
    """Everything the permission table needs to know about who is acting."""

    user_id: int | None = None
    contact_public_id: uuid.UUID | None = None
    supporter_id: int | None = None
    supporter_kind: str | None = None
    provider_ids: frozenset[int] = frozenset()
    national_agent: bool = False
    admin_provider_ids: frozenset[int] = frozenset()
    coordinator_region_ids: frozenset[int] = frozenset()
    national_admin: bool = False
    superuser: bool = False
    # Whether the user holds any RoleGrant at all, scoped or not (the second
    # factor is required of them: helpdesk/two_factor.py).
    has_role_grants: bool = field(default=False, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls()

    @classmethod
    def for_customer(cls, public_id: uuid.UUID) -> Actor:
        return cls(contact_public_id=public_id)

    @classmethod
    def for_user(cls, user) -> Actor:
        return cls.for_user_and_supporter(user)[0]

    @classmethod
    def for_user_and_supporter(cls, user) -> tuple[Actor, Any]:
        """The actor, and the user's Supporter row it was read from (None if not one).

        Two plain queries for a supporter without role grants (most of them):
        the row, with whether any grant exists, and its providers. Every
        console socket builds one when it opens, so a worker's reconnecting
        consoles build hundreds at once.
        """
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(), None
        from .models import Role, RoleGrant

        supporter = _supporter_of(user.pk)
        provider_ids: frozenset[int] = frozenset()
        national = False
        grants: list[tuple] = []
        if supporter is not None:
            supporter.user = user  # the caller's own object: no second read of the user
            providers = _active_providers(supporter.pk)
            provider_ids = frozenset(pk for pk, _ in providers)
            national = any(is_national for _, is_national in providers)
        if supporter is None or supporter.has_grants:
            grants = list(
                RoleGrant.objects.filter(user=user).values_list("role", "provider_id", "region_id")
            )
        actor = cls(
            user_id=user.pk,
            supporter_id=supporter.pk if supporter else None,
            supporter_kind=supporter.kind if supporter else None,
            provider_ids=provider_ids,
            national_agent=national,
            admin_provider_ids=frozenset(p for r, p, _ in grants if r == Role.PROVIDER_ADMIN and p),
            coordinator_region_ids=frozenset(
                g for r, _, g in grants if r == Role.COORDINATOR and g
            ),
            national_admin=any(r == Role.NATIONAL_ADMIN for r, _, _ in grants),
            superuser=bool(user.is_superuser),
            has_role_grants=bool(grants),
        )
        return actor, supporter

    @property
    def is_supporter(self) -> bool:
        return self.supporter_id is not None

    @property
    def is_volunteer(self) -> bool:
        return self.supporter_kind == "volunteer"


# ---------------------------------------------------------------- targets
# A target is described by plain facts so the table can be tested without a
# database: {"contact": uuid, "providers": {ids}, "regions": {ids},
# "serving_supporter": id, "audience": ..., "author": user id}. Use the
# target_* helpers below to build one from model instances.


def target_for_contact(contact, *, candidate_provider_ids: frozenset[int] = frozenset()) -> dict:
    """Facts about a contact: who serves it and which providers may take it."""
    providers = set(candidate_provider_ids)
    if contact.provider_id:
        providers.add(contact.provider_id)
    if contact.pinned_provider_id:
        providers.add(contact.pinned_provider_id)
    return {
        "contact": contact.public_id,
        "providers": frozenset(providers),
        "regions": frozenset({contact.region_id} if contact.region_id else ()),
        "serving_supporter": contact.supporter_id,
    }


def target_for_provider(provider) -> dict:
    regions = set(provider.service_regions.values_list("id", flat=True))
    regions |= set(provider.service_municipalities.values_list("region_id", flat=True))
    return {"providers": frozenset({provider.id}), "regions": frozenset(regions)}


def target_for_region(region) -> dict:
    return {"regions": frozenset({region.id})}


def _in_scope(actor: Actor, target: dict | None) -> bool:
    """Is the target within the actor's providers (or national reach)?"""
    if target is None:
        return False
    providers = target.get("providers", frozenset())
    return bool(actor.provider_ids & providers) or (
        actor.national_agent and target.get("national", False)
    )


def _admin_scope(actor: Actor, target: dict | None) -> bool:
    if actor.national_admin or actor.superuser:
        return True
    if target is None:
        return False
    if actor.admin_provider_ids & target.get("providers", frozenset()):
        return True
    return bool(actor.coordinator_region_ids & target.get("regions", frozenset()))


def _serves(actor: Actor, target: dict | None) -> bool:
    return (
        bool(target)
        and actor.supporter_id is not None
        and (target.get("serving_supporter") == actor.supporter_id)
    )


def _own_contact(actor: Actor, target: dict | None) -> bool:
    return (
        bool(target)
        and actor.contact_public_id is not None
        and (target.get("contact") == actor.contact_public_id)
    )


def can(actor: Actor, action: Action, target: dict | None = None) -> bool:
    a = Action(action)
    if a in (Action.CUSTOMER_SEND, Action.FEEDBACK_GIVE):
        return _own_contact(actor, target)
    if a == Action.QUEUE_VIEW:
        return actor.is_supporter and (target is None or _in_scope(actor, target))
    if a in (Action.CONTACT_ACCEPT, Action.CONTACT_PICK):
        return actor.is_supporter and _in_scope(actor, target)
    if a in (
        Action.CONTACT_CHAT,
        Action.CONTACT_TRANSFER,
        Action.CONTACT_ESCALATE,
        Action.CONTACT_END,
    ):
        return _serves(actor, target)
    if a == Action.CUSTOMER_DETAILS_VIEW:
        # Volunteers see the minimum: never a callback number or identity.
        return _serves(actor, target) and not actor.is_volunteer
    if a == Action.VIDEO_DIRECT_PATH:
        # A volunteer never learns the customer's network address: their
        # video goes through the TURN relay only (realtime/video/ice.py).
        return _serves(actor, target) and not actor.is_volunteer
    if a == Action.TRANSCRIPT_READ:
        # The serving supporter reads their own chat; staff admins of the
        # answering provider and the region's coordinator may read ended ones
        # (every such read is audit-logged by the selector).
        return _serves(actor, target) or _admin_scope(actor, target)
    if a in (Action.PROVIDER_MANAGE, Action.SUPPORTERS_MANAGE):
        return _admin_scope(actor, target)
    if a in (Action.WORKFLOW_EDIT, Action.STATS_REGION_VIEW):
        if actor.national_admin or actor.superuser:
            return True
        return target is not None and bool(
            actor.coordinator_region_ids & target.get("regions", frozenset())
        )
    if a == Action.STATS_PROVIDER_VIEW:
        # A provider admin sees their own provider's figures (helpdesk/stats).
        if actor.national_admin or actor.superuser:
            return True
        return target is not None and bool(
            actor.admin_provider_ids & target.get("providers", frozenset())
        )
    if a in (Action.STATS_NATIONAL_VIEW, Action.REFERENCE_DATA_MANAGE, Action.ARTICLE_PUBLISH):
        return actor.national_admin or actor.superuser
    if a == Action.ARTICLE_EDIT:
        # Drafting method-bank material: staff and admins, never volunteers.
        return (
            actor.national_admin
            or actor.superuser
            or actor.supporter_kind == "staff"
            or bool(actor.admin_provider_ids)
            or bool(actor.coordinator_region_ids)
        )
    if a == Action.GOOD_PRACTICE_SUBMIT:
        return (
            actor.is_supporter
            or bool(actor.admin_provider_ids)
            or bool(actor.coordinator_region_ids)
            or actor.national_admin
            or actor.superuser
        )
    if a == Action.GOOD_PRACTICE_PUBLISH:
        return actor.national_admin or actor.superuser or bool(actor.coordinator_region_ids)
    return False


def require(actor: Actor, action: Action, target: dict | None = None) -> None:
    if not can(actor, action, target):
        raise NotAllowed(f"not allowed: {Action(action).value}")


# ---------------------------------------------------------------- the admin
# What each role may do with each model in the Django admin, and how far its
# scope reaches. helpdesk/admin_scope.py applies this table to every registered
# ModelAdmin and inline (querysets, foreign-key choices, has_*_permission); the
# same roles and scopes as the API: a national admin manages everything, a
# coordinator the providers serving their regions with their supporters,
# opening hours, exception dates, canned replies and the workflows of their
# regions, a provider admin their own providers, their hours, replies and
# supporters. Contacts and their feedback are read-only for everyone: their
# state changes only through services.


class AdminOp(enum.StrEnum):
    VIEW = "view"
    ADD = "add"
    CHANGE = "change"
    DELETE = "delete"


class AdminRole(enum.StrEnum):
    NATIONAL_ADMIN = "national_admin"
    COORDINATOR = "coordinator"
    PROVIDER_ADMIN = "provider_admin"


_V = frozenset({AdminOp.VIEW})
_ALL = frozenset(AdminOp)


@dataclass(frozen=True)
class AdminRule:
    """One model's row: the operations per role and the lookups that scope it.

    provider_path leads from the model to Provider ("" is Provider itself),
    region_path to Region ("" is Region itself). A coordinator's scope follows
    region_path when there is one, else the providers serving their regions; a
    provider admin's scope follows provider_path. A national admin is unscoped.
    A role's readonly fields are shown but not editable for that role.
    """

    ops: dict[AdminRole, frozenset[AdminOp]]
    provider_path: str | None = None
    region_path: str | None = None
    readonly: dict[AdminRole, tuple[str, ...]] = field(default_factory=dict)


_NAT, _COORD, _PADMIN = AdminRole.NATIONAL_ADMIN, AdminRole.COORDINATOR, AdminRole.PROVIDER_ADMIN

ADMIN_TABLE: dict[str, AdminRule] = {
    # The network: providers and what hangs on them.
    "helpdesk.provider": AdminRule(
        {_NAT: _ALL, _COORD: _ALL, _PADMIN: frozenset({AdminOp.VIEW, AdminOp.CHANGE})},
        provider_path="",
        readonly={
            _COORD: ("is_national",),
            # A provider admin runs their provider; where it serves is the
            # coordinator's decision.
            _PADMIN: ("slug", "is_national", "service_municipalities", "service_regions", "active"),
        },
    ),
    "helpdesk.supporter": AdminRule(
        {_NAT: _ALL, _COORD: _ALL, _PADMIN: _ALL}, provider_path="providers"
    ),
    "helpdesk.openinghours": AdminRule(
        {_NAT: _ALL, _COORD: _ALL, _PADMIN: _ALL}, provider_path="provider"
    ),
    "helpdesk.exceptiondate": AdminRule(
        {_NAT: _ALL, _COORD: _ALL, _PADMIN: _ALL}, provider_path="provider"
    ),
    "helpdesk.cannedreply": AdminRule(
        {_NAT: _ALL, _COORD: _ALL, _PADMIN: _ALL}, provider_path="provider"
    ),
    "routing.workflow": AdminRule(
        {_NAT: _ALL, _COORD: _ALL},
        region_path="region",
        # Only the national level decides which workflow is the default.
        readonly={_COORD: ("is_default", "is_national_first_line")},
    ),
    "routing.workflowstep": AdminRule({_NAT: _ALL, _COORD: _ALL}, region_path="workflow__region"),
    # Roles and accounts: national.
    "helpdesk.rolegrant": AdminRule({_NAT: _ALL}),
    "auth.user": AdminRule({_NAT: _ALL}),
    "auth.group": AdminRule({_NAT: _ALL}),
    # Second factors and sign-in lockouts: a national admin resets a lost
    # authenticator (delete its device) or lifts a lockout (delete the attempt).
    "otp_totp.totpdevice": AdminRule({_NAT: frozenset({AdminOp.VIEW, AdminOp.DELETE})}),
    "otp_static.staticdevice": AdminRule({_NAT: frozenset({AdminOp.VIEW, AdminOp.DELETE})}),
    "axes.accessattempt": AdminRule({_NAT: frozenset({AdminOp.VIEW, AdminOp.DELETE})}),
    "axes.accesslog": AdminRule({_NAT: _V}),
    "axes.accessfailurelog": AdminRule({_NAT: _V}),
    # Reference data (REFERENCE_DATA_MANAGE). Region and municipality scopes
    # still bound a coordinator's choices in a provider's service area.
    "helpdesk.developmentarea": AdminRule({_NAT: _ALL}),
    "helpdesk.region": AdminRule({_NAT: _ALL}, region_path=""),
    "helpdesk.municipality": AdminRule({_NAT: _ALL}, region_path="region"),
    "helpdesk.postalcode": AdminRule({_NAT: _ALL}, region_path="municipality__region"),
    "helpdesk.topic": AdminRule({_NAT: _ALL}),
    # Contacts: read-only, each role within its reach (transcripts only where
    # TRANSCRIPT_READ allows, audit-logged by the contact admin).
    "helpdesk.contact": AdminRule(
        {_NAT: _V, _COORD: _V, _PADMIN: _V}, provider_path="provider", region_path="region"
    ),
    "helpdesk.contactevent": AdminRule(
        {_NAT: _V, _COORD: _V, _PADMIN: _V},
        provider_path="contact__provider",
        region_path="contact__region",
    ),
    "helpdesk.message": AdminRule({_NAT: _V}),
    "helpdesk.feedback": AdminRule(
        {_NAT: _V, _COORD: _V, _PADMIN: _V},
        provider_path="contact__provider",
        region_path="contact__region",
    ),
    "helpdesk.offer": AdminRule({_NAT: _V}),
    "helpdesk.assignment": AdminRule({_NAT: _V}),
    "helpdesk.auditlogentry": AdminRule({_NAT: _V}),
    # The knowledge base: the national editorial desk (good practices from the
    # regions are reviewed on /kb/review/).
    "knowledge.article": AdminRule({_NAT: _ALL}),
    "knowledge.articletranslation": AdminRule({_NAT: _ALL}),
    "knowledge.articleversion": AdminRule({_NAT: _V}),
    "knowledge.helpfulvote": AdminRule({_NAT: frozenset({AdminOp.VIEW, AdminOp.DELETE})}),
    "knowledge.articleimage": AdminRule({_NAT: _ALL}),
    # Planned shifts (helpdesk/stats): whoever manages a provider's supporters.
    "stats.shiftpattern": AdminRule(
        {_NAT: _ALL, _COORD: _ALL, _PADMIN: _ALL}, provider_path="provider"
    ),
    "stats.shiftexception": AdminRule(
        {_NAT: _ALL, _COORD: _ALL, _PADMIN: _ALL}, provider_path="provider"
    ),
    # Phone calls: read-only, national (the caller's number is not stored there).
    "telephony.phonecall": AdminRule({_NAT: _V}),
}


def admin_roles(actor: Actor) -> frozenset[AdminRole]:
    """The admin roles an actor holds (a superuser counts as a national admin)."""
    roles = set()
    if actor.national_admin or actor.superuser:
        roles.add(AdminRole.NATIONAL_ADMIN)
    if actor.coordinator_region_ids:
        roles.add(AdminRole.COORDINATOR)
    if actor.admin_provider_ids:
        roles.add(AdminRole.PROVIDER_ADMIN)
    return frozenset(roles)


def admin_ops(actor: Actor, model_label: str) -> frozenset[AdminOp]:
    """Everything the actor may do with a model in the admin, over all their roles."""
    rule = ADMIN_TABLE.get(model_label.lower())
    if rule is None:
        return frozenset()
    ops: set[AdminOp] = set()
    for role in admin_roles(actor):
        ops |= rule.ops.get(role, frozenset())
    return frozenset(ops)
