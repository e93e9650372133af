"""Planned shifts in the admin: provider admins enter their own supporters' shifts.

Django's model permissions are not used for these two models: the role
table decides (helpdesk/permissions.py, SUPPORTERS_MANAGE), so a provider
admin manages the shifts of their own providers, a coordinator those of the
providers in their regions, and a national admin all of them.
"""

from __future__ import annotations

from django.contrib import admin

from helpdesk.admin import provider_scope
from helpdesk.models import Provider, Supporter
from helpdesk.permissions import Action, Actor, can, target_for_provider
from helpdesk.stats.models import ShiftException, ShiftPattern


class _ShiftAdmin(admin.ModelAdmin):
    list_select_related = ["supporter", "provider"]
    autocomplete_fields: list[str] = []

    def _providers(self, request):
        scope = provider_scope(request)
        qs = Provider.objects.filter(active=True)
        return qs if scope is None else qs.filter(scope).distinct()

    def _may(self, request, obj=None) -> bool:
        actor = Actor.for_user(request.user)
        if not request.user.is_active or not request.user.is_staff:
            return False
        if obj is not None:
            return can(actor, Action.SUPPORTERS_MANAGE, target_for_provider(obj.provider))
        return bool(
            actor.superuser
            or actor.national_admin
            or actor.admin_provider_ids
            or actor.coordinator_region_ids
        )

    def has_module_permission(self, request):
        return self._may(request)

    def has_view_permission(self, request, obj=None):
        return self._may(request, obj)

    def has_add_permission(self, request):
        return self._may(request)

    def has_change_permission(self, request, obj=None):
        return self._may(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(provider__in=self._providers(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "provider":
            kwargs["queryset"] = self._providers(request)
        elif db_field.name == "supporter":
            kwargs["queryset"] = Supporter.objects.filter(
                providers__in=self._providers(request)
            ).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ShiftPattern)
class ShiftPatternAdmin(_ShiftAdmin):
    list_display = ["supporter", "provider", "weekday", "start", "end", "valid_from", "valid_until"]
    list_filter = ["weekday", "provider"]


@admin.register(ShiftException)
class ShiftExceptionAdmin(_ShiftAdmin):
    list_display = ["supporter", "provider", "date", "cancelled", "start", "end"]
    list_filter = ["cancelled", "provider"]
    date_hierarchy = "date"
