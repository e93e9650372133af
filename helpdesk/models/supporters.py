from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .providers import validate_languages


class SupporterKind(models.TextChoices):
    STAFF = "staff", _("staff")
    VOLUNTEER = "volunteer", _("volunteer")


class Presence(models.TextChoices):
    AVAILABLE = "available", _("available")
    BUSY = "busy", _("busy")
    AWAY = "away", _("away")
    OFFLINE = "offline", _("offline")


class Supporter(models.Model):
    """A person answering the queues of one or more providers."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        related_name="supporter",
        on_delete=models.CASCADE,
    )
    providers = models.ManyToManyField(
        "helpdesk.Provider", verbose_name=_("providers"), related_name="supporters"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=SupporterKind.choices)
    display_name = models.CharField(
        _("name shown to customers"), max_length=60, help_text=_("A first name is enough.")
    )
    languages = models.JSONField(_("languages"), default=list, validators=[validate_languages])
    skills = models.ManyToManyField(
        "helpdesk.Topic", verbose_name=_("topic skills"), related_name="supporters", blank=True
    )
    capacity_chat = models.PositiveSmallIntegerField(_("concurrent chats"), default=3)
    capacity_phone = models.PositiveSmallIntegerField(_("concurrent calls"), default=1)
    capacity_video = models.PositiveSmallIntegerField(_("concurrent video calls"), default=1)
    presence = models.CharField(
        _("presence"), max_length=10, choices=Presence.choices, default=Presence.OFFLINE
    )
    presence_changed_at = models.DateTimeField(_("presence changed"), default=timezone.now)
    last_heartbeat = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    idle_since = models.DateTimeField(_("idle since"), default=timezone.now)

    class Meta:
        verbose_name = _("supporter")
        verbose_name_plural = _("supporters")
        ordering = ["display_name"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.user.get_username()})"

    def capacity(self) -> dict[str, int]:
        return {
            "chat": self.capacity_chat,
            "phone": self.capacity_phone,
            "video": self.capacity_video,
        }

    @property
    def is_volunteer(self) -> bool:
        return self.kind == SupporterKind.VOLUNTEER
