"""Admin for routing workflows: a coordinator edits their own region's workflow only.

National admins and superusers edit every workflow, including the default and
the national first-line one; a regional coordinator (RoleGrant) sees and edits
the workflows of the regions granted to them and may create one for such a
region. The rule itself is the permission table's WORKFLOW_EDIT.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from helpdesk.models import Region
from helpdesk.permissions import Action, Actor, can
from routing.models import Workflow, WorkflowStep


def _actor(request) -> Actor:
    cached = getattr(request, "_routing_actor", None)
    if cached is None:
        cached = Actor.for_user(request.user)
        request._routing_actor = cached
    return cached


def _may_edit(request, workflow: Workflow | None) -> bool:
    actor = _actor(request)
    if workflow is None:
        return actor.superuser or actor.national_admin or bool(actor.coordinator_region_ids)
    regions = frozenset({workflow.region_id}) if workflow.region_id else frozenset()
    return can(actor, Action.WORKFLOW_EDIT, {"regions": regions})


class WorkflowStepInline(admin.TabularInline):
    model = WorkflowStep
    extra = 0
    ordering = ["order"]
    fields = ["order", "target", "require_language", "require_topic", "timeout_s"]

    def has_view_permission(self, request, obj=None):
        return _may_edit(request, obj)

    def has_add_permission(self, request, obj=None):
        return _may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return _may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _may_edit(request, obj)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "is_default", "is_national_first_line", "step_count"]
    list_filter = ["is_default", "is_national_first_line"]
    search_fields = ["name", "region__name_fi"]
    inlines = [WorkflowStepInline]

    @admin.display(description=_("steps"))
    def step_count(self, obj: Workflow) -> int:
        return obj.steps.count()

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("region")
        actor = _actor(request)
        if actor.superuser or actor.national_admin:
            return qs
        return qs.filter(region_id__in=actor.coordinator_region_ids)

    def get_readonly_fields(self, request, obj=None):
        actor = _actor(request)
        if actor.superuser or actor.national_admin:
            return []
        # Only the national level decides which workflow is the default.
        return ["is_default", "is_national_first_line"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "region":
            actor = _actor(request)
            if not (actor.superuser or actor.national_admin):
                kwargs["queryset"] = Region.objects.filter(pk__in=actor.coordinator_region_ids)
                kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and _may_edit(request, None)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (obj is None or _may_edit(request, obj))

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.is_default or obj.is_national_first_line):
            actor = _actor(request)
            return actor.superuser or actor.national_admin
        return self.has_view_permission(request, obj)
