"""Planned shifts in the admin: provider admins enter their own supporters' shifts.

Django's model permissions are not used for these two models: the admin
table decides (helpdesk/permissions.py ADMIN_TABLE, applied by
helpdesk/admin_scope.py, the same reach as SUPPORTERS_MANAGE), so a provider
admin manages the shifts of their own providers, a coordinator those of the
providers in their regions, and a national admin all of them; the provider
and supporter choices are scoped the same way.
"""

from __future__ import annotations

from django.contrib import admin

from helpdesk.admin_scope import ScopedModelAdmin
from helpdesk.stats.models import ShiftException, ShiftPattern


class _ShiftAdmin(ScopedModelAdmin):
    list_select_related = ["supporter", "provider"]
    autocomplete_fields: list[str] = []


@admin.register(ShiftPattern)
class ShiftPatternAdmin(_ShiftAdmin):
    list_display = ["supporter", "provider", "weekday", "start", "end", "valid_from", "valid_until"]
    list_filter = ["weekday", "provider"]


@admin.register(ShiftException)
class ShiftExceptionAdmin(_ShiftAdmin):
    list_display = ["supporter", "provider", "date", "cancelled", "start", "end"]
    list_filter = ["cancelled", "provider"]
    date_hierarchy = "date"
