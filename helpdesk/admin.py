"""Django admin: the coordinators' and admins' back office.

Who may see and change what is the admin table in helpdesk/permissions.py,
applied by helpdesk/admin_scope.py to every class here: a provider admin sees
their providers, a coordinator the providers serving their regions, a national
admin everything. Contacts are read-only here; their state changes only
through services.
"""

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from .admin_scope import ScopedModelAdmin, ScopedStackedInline, ScopedTabularInline, actor_for
from .models import (
    Assignment,
    AuditLogEntry,
    CannedReply,
    Contact,
    ContactEvent,
    DevelopmentArea,
    ExceptionDate,
    Feedback,
    Message,
    Municipality,
    Offer,
    OpeningHours,
    PostalCode,
    Provider,
    Region,
    RoleGrant,
    Supporter,
    Topic,
)

# Accounts and groups under the same table as everything else.
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class ScopedUserAdmin(ScopedModelAdmin, UserAdmin):
    pass


@admin.register(Group)
class ScopedGroupAdmin(ScopedModelAdmin, GroupAdmin):
    pass


def _rescope(model) -> None:
    """Put a third-party app's admin (django-otp, django-axes) under the table."""
    original = type(admin.site._registry[model])
    admin.site.unregister(model)
    # Backup codes are secrets: their device shows no token list.
    attrs = {"inlines": []}
    admin.site.register(
        model, type(f"Scoped{original.__name__}", (ScopedModelAdmin, original), attrs)
    )


for _model in (TOTPDevice, StaticDevice, AccessAttempt, AccessLog, AccessFailureLog):
    if _model in admin.site._registry:
        _rescope(_model)


@admin.register(DevelopmentArea)
class DevelopmentAreaAdmin(ScopedModelAdmin):
    list_display = ["code", "name_fi", "library"]


@admin.register(Region)
class RegionAdmin(ScopedModelAdmin):
    list_display = ["code", "name_fi", "name_sv", "development_area"]
    list_filter = ["development_area"]


@admin.register(Municipality)
class MunicipalityAdmin(ScopedModelAdmin):
    list_display = ["code", "name_fi", "name_sv", "region", "population"]
    list_filter = ["region"]
    search_fields = ["code", "name_fi", "name_sv"]


@admin.register(PostalCode)
class PostalCodeAdmin(ScopedModelAdmin):
    list_display = ["code", "municipality"]
    search_fields = ["code"]
    raw_id_fields = ["municipality"]


@admin.register(Topic)
class TopicAdmin(ScopedModelAdmin):
    list_display = ["slug", "name_fi", "name_sv", "name_en", "parent", "order"]
    list_filter = ["parent"]


class OpeningHoursInline(ScopedTabularInline):
    model = OpeningHours
    extra = 0


class ExceptionDateInline(ScopedTabularInline):
    model = ExceptionDate
    extra = 0


class CannedReplyInline(ScopedStackedInline):
    model = CannedReply
    extra = 0


@admin.register(Provider)
class ProviderAdmin(ScopedModelAdmin):
    list_display = ["name", "kind", "is_national", "active"]
    list_filter = ["kind", "active", "is_national"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["service_municipalities", "service_regions"]
    inlines = [OpeningHoursInline, ExceptionDateInline, CannedReplyInline]


@admin.register(OpeningHours)
class OpeningHoursAdmin(ScopedModelAdmin):
    list_display = ["provider", "weekday", "opens", "closes"]
    list_filter = ["weekday"]
    search_fields = ["provider__name"]


@admin.register(ExceptionDate)
class ExceptionDateAdmin(ScopedModelAdmin):
    list_display = ["provider", "date", "closed", "opens", "closes", "note"]
    date_hierarchy = "date"
    search_fields = ["provider__name", "note"]


@admin.register(CannedReply)
class CannedReplyAdmin(ScopedModelAdmin):
    list_display = ["title", "provider", "language"]
    list_filter = ["language"]
    search_fields = ["title", "body", "provider__name"]


@admin.register(Supporter)
class SupporterAdmin(ScopedModelAdmin):
    list_display = ["display_name", "user", "kind", "presence"]
    list_filter = ["kind", "presence", "providers"]
    search_fields = ["display_name", "user__username"]
    filter_horizontal = ["providers", "skills"]
    readonly_fields = ["presence", "presence_changed_at", "last_heartbeat", "idle_since"]


@admin.register(RoleGrant)
class RoleGrantAdmin(ScopedModelAdmin):
    list_display = ["user", "role", "provider", "region"]
    list_filter = ["role"]


class MessageInline(ScopedTabularInline):
    model = Message
    extra = 0
    fields = ["seq", "author_kind", "kind", "body", "created_at"]
    readonly_fields = fields
    can_delete = False


class EventInline(ScopedTabularInline):
    model = ContactEvent
    extra = 0
    fields = ["at", "kind", "supporter", "provider", "step_index", "data"]
    readonly_fields = fields
    can_delete = False


@admin.register(Contact)
class ContactAdmin(ScopedModelAdmin):
    list_display = [
        "pseudonym",
        "channel",
        "language",
        "state",
        "region",
        "topic",
        "created_at",
        "purged_at",
    ]
    list_filter = ["state", "channel", "language", "region"]
    inlines = [EventInline]
    exclude = ["callback_number", "customer_key"]

    def get_inlines(self, request, obj):
        # Transcripts are shown only to those allowed to read them (audit-logged).
        # A purged contact has no transcript left: its "personal data deleted"
        # date says so, and there is no read to log.
        actor = actor_for(request)
        if obj is not None and obj.purged_at is None and (actor.superuser or actor.national_admin):
            AuditLogEntry.objects.create(
                actor=request.user, action="transcript_read_admin", contact=obj
            )
            return [EventInline, MessageInline]
        return [EventInline]


@admin.register(Offer)
class OfferAdmin(ScopedModelAdmin):
    list_display = ["contact", "supporter", "state", "created_at", "decided_at"]
    list_filter = ["state"]


@admin.register(Assignment)
class AssignmentAdmin(ScopedModelAdmin):
    list_display = ["contact", "supporter", "provider", "started_at", "ended_at"]


@admin.register(Feedback)
class FeedbackAdmin(ScopedModelAdmin):
    list_display = ["contact", "rating", "can_do_myself", "created_at"]
    list_filter = ["rating", "can_do_myself"]


@admin.register(AuditLogEntry)
class AuditLogAdmin(ScopedModelAdmin):
    list_display = ["at", "actor", "action", "contact"]
    list_filter = ["action"]


admin.site.site_header = _("Digituki helpdesk administration")
admin.site.site_title = _("Digituki helpdesk")
