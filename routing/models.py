"""Routing workflows, editable per region by its coordinator.

The pure decision core (routing.engine) never imports this module; routing.store
turns these rows into routing.types.Workflow values.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class StepTarget(models.TextChoices):
    MUNICIPALITY = "municipality", _("providers serving the customer's municipality")
    REGION = "region", _("providers of the customer's region")
    DEVELOPMENT_AREA = "development_area", _("providers of the library development area")
    NATIONAL = "national", _("national service (Kansalaisneuvonta)")


class Workflow(models.Model):
    name = models.CharField(_("name"), max_length=120)
    region = models.OneToOneField(
        "helpdesk.Region",
        verbose_name=_("region"),
        related_name="workflow",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text=_("Empty for the national workflows."),
    )
    is_default = models.BooleanField(_("default for regions without their own"), default=False)
    is_national_first_line = models.BooleanField(
        _("national first line (municipality unknown)"), default=False
    )

    class Meta:
        verbose_name = _("routing workflow")
        verbose_name_plural = _("routing workflows")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_workflow",
            ),
            models.UniqueConstraint(
                fields=["is_national_first_line"],
                condition=models.Q(is_national_first_line=True),
                name="one_national_first_line_workflow",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowStep(models.Model):
    workflow = models.ForeignKey(
        Workflow, verbose_name=_("workflow"), related_name="steps", on_delete=models.CASCADE
    )
    order = models.PositiveSmallIntegerField(_("order"))
    target = models.CharField(_("target"), max_length=20, choices=StepTarget.choices)
    require_language = models.BooleanField(_("requires the customer's language"), default=True)
    require_topic = models.BooleanField(_("requires the topic skill"), default=False)
    timeout_s = models.PositiveIntegerField(
        _("timeout (seconds)"),
        null=True,
        blank=True,
        help_text=_("Empty for the last step, which waits until answered."),
    )

    class Meta:
        verbose_name = _("workflow step")
        verbose_name_plural = _("workflow steps")
        ordering = ["workflow", "order"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "order"], name="workflow_step_order_unique")
        ]

    def clean(self) -> None:
        if self.timeout_s is not None and self.timeout_s < 5:
            raise ValidationError(_("A step timeout must be at least 5 seconds."))

    def __str__(self) -> str:
        return f"{self.order}. {self.get_target_display()}"


class ClosedNotice(models.Model):
    """The last "queue closed" notice a waiting contact was sent.

    Kept so that `queue.closed` is published once per change (not on every
    tick) by whichever worker process runs the routing round; the row is
    removed when a provider opens for the contact again.
    """

    contact = models.OneToOneField(
        "helpdesk.Contact",
        verbose_name=_("contact"),
        related_name="closed_notice",
        on_delete=models.CASCADE,
        primary_key=True,
    )
    opens_at = models.DateTimeField(_("opens at"), null=True, blank=True)
    notified_at = models.DateTimeField(_("notified at"))

    class Meta:
        verbose_name = _("queue closed notice")
        verbose_name_plural = _("queue closed notices")
