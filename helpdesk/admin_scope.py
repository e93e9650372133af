"""The admin's one gate: helpdesk.permissions.ADMIN_TABLE applied to every ModelAdmin.

Every registered ModelAdmin and inline derives from RoleScopedMixin (through
ScopedModelAdmin, ScopedTabularInline, ScopedStackedInline); a test checks that
none is left out. The mixin decides has_module/view/add/change/delete_permission,
the change list's queryset, the objects one may open, the choices of foreign
keys and many-to-many fields, and the fields a role may not edit: all from the
table, none from Django's per-user model permissions (our roles are RoleGrants,
not auth groups).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Model, Q, QuerySet

from .admin_a11y import ADMIN_MEDIA_CSS, ADMIN_MEDIA_JS, LabelledFieldsMixin
from .admin_widgets import MinuteTimeWidget
from .permissions import (
    ADMIN_TABLE,
    Actor,
    AdminOp,
    AdminRole,
    AdminRule,
    admin_ops,
    admin_roles,
)

NOTHING = Q(pk__in=[])


def actor_for(request) -> Actor:
    """The acting user's permission facts, computed once per request."""
    actor = getattr(request, "_admin_actor", None)
    if actor is None:
        actor = Actor.for_user(request.user)
        request._admin_actor = actor
    return actor


def _lookup(path: str) -> str:
    return f"{path}__in" if path else "pk__in"


def _providers_in_regions(region_ids):
    from .models import Provider

    return Provider.objects.filter(
        Q(service_regions__in=region_ids) | Q(service_municipalities__region__in=region_ids)
    ).values("pk")


def _role_scope(rule: AdminRule, role: AdminRole, actor: Actor) -> Q | None:
    """The objects of a model one role of the actor reaches; None means all of them."""
    if role == AdminRole.NATIONAL_ADMIN:
        return None
    if role == AdminRole.COORDINATOR:
        regions = sorted(actor.coordinator_region_ids)
        if rule.region_path is not None:
            return Q(**{_lookup(rule.region_path): regions})
        if rule.provider_path is not None:
            return Q(**{_lookup(rule.provider_path): _providers_in_regions(regions)})
        return NOTHING
    if role == AdminRole.PROVIDER_ADMIN and rule.provider_path is not None:
        return Q(**{_lookup(rule.provider_path): sorted(actor.admin_provider_ids)})
    return NOTHING


def scope_q(actor: Actor, label: str, op: AdminOp | None = None) -> Q | None:
    """A Q over the model for what the actor may `op` (any op when None); None = all."""
    rule = ADMIN_TABLE.get(label)
    if rule is None:
        return NOTHING
    q = NOTHING
    for role in admin_roles(actor):
        if op is not None and op not in rule.ops.get(role, frozenset()):
            continue
        role_q = _role_scope(rule, role, actor)
        if role_q is None:
            return None
        q |= role_q
    return q


def scoped(qs: QuerySet, actor: Actor, op: AdminOp | None = None) -> QuerySet:
    q = scope_q(actor, qs.model._meta.label_lower, op)
    if q is None:
        return qs
    # Through a subquery: scopes that cross many-to-many joins would repeat rows.
    return qs.filter(pk__in=qs.model._default_manager.filter(q).values("pk"))


def choice_queryset(actor: Actor, qs: QuerySet) -> QuerySet:
    """Which related objects a non-national actor may pick in a form field."""
    model = qs.model
    if AdminRole.NATIONAL_ADMIN in admin_roles(actor):
        return qs
    if model is get_user_model():
        # Accounts of supporters in scope, or fresh accounts that hold no role
        # yet (created by a national admin for a coordinator to attach).
        from .models import Supporter

        supporters = scoped(Supporter.objects.all(), actor).values("user_id")
        unattached = model._default_manager.filter(
            supporter__isnull=True, role_grants__isnull=True, is_staff=False, is_superuser=False
        )
        return qs.filter(Q(pk__in=supporters) | Q(pk__in=unattached.values("pk")))
    rule = ADMIN_TABLE.get(model._meta.label_lower)
    if rule is None or (rule.provider_path is None and rule.region_path is None):
        return qs  # public reference data, such as topics
    # Scopes for choices follow the roles' reach, whatever they may edit.
    q = NOTHING
    for role in admin_roles(actor):
        q |= _role_scope(rule, role, actor)
    return qs.filter(pk__in=model._default_manager.filter(q).values("pk"))


class RoleScopedMixin:
    """has_*_permission, querysets, choices and read-only fields from ADMIN_TABLE."""

    model: type[Model]
    # Times to the minute ("09.00"), see helpdesk/admin_widgets.py.
    formfield_overrides = {models.TimeField: {"widget": MinuteTimeWidget}}

    def _label(self) -> str:
        return self.model._meta.label_lower

    def _ops(self, request) -> frozenset[AdminOp]:
        if not (request.user.is_active and request.user.is_staff):
            return frozenset()
        return admin_ops(actor_for(request), self._label())

    def _in_scope(self, request, obj, op: AdminOp) -> bool:
        # Inlines are asked about their parent object: the parent's admin
        # has already checked it.
        if obj is None or not isinstance(obj, self.model):
            return True
        q = scope_q(actor_for(request), self._label(), op)
        if q is None:
            return True
        return self.model._default_manager.filter(q, pk=obj.pk).exists()

    def _may(self, request, op: AdminOp, obj=None) -> bool:
        return op in self._ops(request) and self._in_scope(request, obj, op)

    def has_module_permission(self, request):
        return bool(self._ops(request))

    def has_view_permission(self, request, obj=None):
        return self._may(request, AdminOp.VIEW, obj) or self._may(request, AdminOp.CHANGE, obj)

    def has_add_permission(self, request, obj=None):
        return self._may(request, AdminOp.ADD)

    def has_change_permission(self, request, obj=None):
        return self._may(request, AdminOp.CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, AdminOp.DELETE, obj)

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), actor_for(request))

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        actor = actor_for(request)
        roles = admin_roles(actor)
        rule = ADMIN_TABLE.get(self._label())
        if rule is None or AdminRole.NATIONAL_ADMIN in roles:
            return fields
        # A field stays editable when any role that may change the model may edit it.
        editing = [r for r in roles if AdminOp.CHANGE in rule.ops.get(r, frozenset())]
        if not editing:
            return fields
        locked = set.intersection(*(set(rule.readonly.get(r, ())) for r in editing))
        return fields + tuple(f for f in sorted(locked) if f not in fields)

    def get_prepopulated_fields(self, request, obj=None):
        fields = super().get_prepopulated_fields(request, obj)
        readonly = set(self.get_readonly_fields(request, obj))
        return {k: v for k, v in fields.items() if k not in readonly}

    def _scope_field_names(self) -> set[str]:
        rule = ADMIN_TABLE.get(self._label())
        if rule is None:
            return set()
        paths = (rule.provider_path, rule.region_path)
        return {p.split("__")[0] for p in paths if p}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        actor = actor_for(request)
        if "queryset" not in kwargs:
            kwargs["queryset"] = choice_queryset(
                actor, db_field.remote_field.model._default_manager.all()
            )
        if db_field.name in self._scope_field_names() and (
            AdminRole.NATIONAL_ADMIN not in admin_roles(actor)
        ):
            # Without it, a new object would fall outside its maker's scope.
            kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            qs = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = choice_queryset(actor_for(request), qs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None or obj.pk is None:
            return form
        # Keep what an object already has among the choices (a provider serving
        # two regions stays valid when the coordinator of one edits it).
        for name, field in form.base_fields.items():
            qs = getattr(field, "queryset", None)
            if qs is None or not hasattr(obj, name):
                continue
            current = getattr(obj, name)
            if hasattr(current, "all"):
                keep = list(current.values_list("pk", flat=True))
            elif isinstance(current, Model):
                keep = [current.pk]
            else:
                continue
            if keep:
                field.queryset = qs.model._default_manager.filter(
                    Q(pk__in=qs.values("pk")) | Q(pk__in=keep)
                )
        return form


class ScopedModelAdmin(RoleScopedMixin, admin.ModelAdmin):
    class Media:
        # helpdesk/admin_a11y.py: what the stock admin leaves out for screen readers.
        css = ADMIN_MEDIA_CSS
        js = ADMIN_MEDIA_JS


class ScopedTabularInline(RoleScopedMixin, LabelledFieldsMixin, admin.TabularInline):
    pass


class ScopedStackedInline(RoleScopedMixin, LabelledFieldsMixin, admin.StackedInline):
    pass
