"""Role grants beyond supporting: provider admins, regional coordinators, national admins.

Supporter roles (staff/volunteer, Kansalaisneuvonta agent) follow from the
Supporter record; customers hold a signed contact token and no account.
The permission table itself is helpdesk/permissions.py.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PROVIDER_ADMIN = "provider_admin", _("provider admin")
    COORDINATOR = "coordinator", _("regional coordinator")
    NATIONAL_ADMIN = "national_admin", _("national admin")


class RoleGrant(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        related_name="role_grants",
        on_delete=models.CASCADE,
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("provider"),
        related_name="role_grants",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
    )
    region = models.ForeignKey(
        "helpdesk.Region",
        verbose_name=_("region"),
        related_name="role_grants",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("role grant")
        verbose_name_plural = _("role grants")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "provider", "region"], name="role_grant_unique"
            )
        ]

    def clean(self) -> None:
        if self.role == Role.PROVIDER_ADMIN and not self.provider_id:
            raise ValidationError(_("A provider admin grant names a provider."))
        if self.role == Role.COORDINATOR and not self.region_id:
            raise ValidationError(_("A coordinator grant names a region."))

    def __str__(self) -> str:
        scope = self.provider or self.region or _("national")
        return f"{self.user} — {self.get_role_display()} ({scope})"
