"""Phone calls in the admin: read-only, never the caller's number (it is not stored here)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from helpdesk.admin_scope import ScopedModelAdmin
from realtime.telephony.models import PhoneCall
from realtime.telephony.signature import phone_configured


@admin.register(PhoneCall)
class PhoneCallAdmin(ScopedModelAdmin):
    list_display = [
        "call_sid",
        "direction",
        "stage",
        "status",
        "language",
        "region_code",
        "queue_time_s",
        "talk_s",
        "created_at",
    ]
    list_filter = ["direction", "stage", "status"]
    exclude = ["bridge_to"]
    readonly_fields = [f.name for f in PhoneCall._meta.fields if f.name != "bridge_to"]

    def changelist_view(self, request, extra_context=None):
        if phone_configured():
            messages.info(request, _("Phone channel: configured."))
        else:
            messages.warning(
                request,
                _(
                    "Phone channel: not configured. Set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN "
                    "and TWILIO_PHONE_NUMBER to take calls."
                ),
            )
        return super().changelist_view(request, extra_context)
