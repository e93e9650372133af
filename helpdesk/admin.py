"""Django admin: the coordinators' and admins' back office.

Querysets are scoped by RoleGrant: a provider admin sees their providers, a
coordinator the providers serving their regions, a national admin everything.
Contacts are read-only here; their state changes only through services.
"""

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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
from .permissions import Actor


def provider_scope(request):
    """A Q over Provider for what this admin user may manage, or None for everything."""
    actor = Actor.for_user(request.user)
    if actor.superuser or actor.national_admin:
        return None
    return (
        Q(id__in=actor.admin_provider_ids)
        | Q(service_regions__in=actor.coordinator_region_ids)
        | Q(service_municipalities__region__in=actor.coordinator_region_ids)
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(DevelopmentArea)
class DevelopmentAreaAdmin(admin.ModelAdmin):
    list_display = ["code", "name_fi", "library"]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name_fi", "name_sv", "development_area"]
    list_filter = ["development_area"]


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["code", "name_fi", "name_sv", "region", "population"]
    list_filter = ["region"]
    search_fields = ["code", "name_fi", "name_sv"]


@admin.register(PostalCode)
class PostalCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "municipality"]
    search_fields = ["code"]
    raw_id_fields = ["municipality"]


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["slug", "name_fi", "name_sv", "name_en", "parent", "order"]
    list_filter = ["parent"]


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


class ExceptionDateInline(admin.TabularInline):
    model = ExceptionDate
    extra = 0


class CannedReplyInline(admin.StackedInline):
    model = CannedReply
    extra = 0


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_national", "active"]
    list_filter = ["kind", "active", "is_national"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["service_municipalities", "service_regions"]
    inlines = [OpeningHoursInline, ExceptionDateInline, CannedReplyInline]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        scope = provider_scope(request)
        return qs if scope is None else qs.filter(scope).distinct()


@admin.register(Supporter)
class SupporterAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "kind", "presence"]
    list_filter = ["kind", "presence", "providers"]
    search_fields = ["display_name", "user__username"]
    filter_horizontal = ["providers", "skills"]
    readonly_fields = ["presence", "presence_changed_at", "last_heartbeat", "idle_since"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        scope = provider_scope(request)
        if scope is None:
            return qs
        return qs.filter(providers__in=Provider.objects.filter(scope)).distinct()


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "provider", "region"]
    list_filter = ["role"]

    def has_module_permission(self, request):
        return request.user.is_superuser or Actor.for_user(request.user).national_admin


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["seq", "author_kind", "kind", "body", "created_at"]
    readonly_fields = fields
    can_delete = False


class EventInline(admin.TabularInline):
    model = ContactEvent
    extra = 0
    fields = ["at", "kind", "supporter", "provider", "step_index", "data"]
    readonly_fields = fields
    can_delete = False


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
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
        actor = Actor.for_user(request.user)
        if obj is not None and obj.purged_at is None and (actor.superuser or actor.national_admin):
            AuditLogEntry.objects.create(
                actor=request.user, action="transcript_read_admin", contact=obj
            )
            return [EventInline, MessageInline]
        return [EventInline]


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ["contact", "supporter", "state", "created_at", "decided_at"]
    list_filter = ["state"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["contact", "supporter", "provider", "started_at", "ended_at"]


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["contact", "rating", "can_do_myself", "created_at"]
    list_filter = ["rating", "can_do_myself"]


@admin.register(AuditLogEntry)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "contact"]
    list_filter = ["action"]


admin.site.site_header = _("Digituki helpdesk administration")
admin.site.site_title = _("Digituki helpdesk")
