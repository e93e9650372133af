"""Admin for routing workflows: a coordinator edits their own region's workflow only.

National admins and superusers edit every workflow, including the default and
the national first-line one; a regional coordinator (RoleGrant) sees and edits
the workflows of the regions granted to them and may create one for such a
region. The rules are the admin table in helpdesk/permissions.py (the same
reach as the permission table's WORKFLOW_EDIT), applied by helpdesk/admin_scope.py.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from helpdesk.admin_scope import ScopedModelAdmin, ScopedTabularInline
from routing.models import Workflow, WorkflowStep


class WorkflowStepInline(ScopedTabularInline):
    model = WorkflowStep
    extra = 0
    ordering = ["order"]
    fields = ["order", "target", "require_language", "require_topic", "timeout_s"]


@admin.register(Workflow)
class WorkflowAdmin(ScopedModelAdmin):
    list_display = ["name", "region", "is_default", "is_national_first_line", "step_count"]
    list_filter = ["is_default", "is_national_first_line"]
    search_fields = ["name", "region__name_fi"]
    inlines = [WorkflowStepInline]

    @admin.display(description=_("steps"))
    def step_count(self, obj: Workflow) -> int:
        return obj.steps.count()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("region")
