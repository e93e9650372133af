from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelephonyConfig(AppConfig):
    name = "realtime.telephony"
    label = "telephony"
    verbose_name = _("Phone")
    default_auto_field = "django.db.models.BigAutoField"
