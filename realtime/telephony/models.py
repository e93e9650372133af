"""One Twilio call leg as the platform knows it, keyed by Twilio's CallSid.

The caller's number is never stored here: Twilio sends it with every webhook
and it is kept only when the caller asks to be called back, on the Contact
(`callback_number`, which volunteers never see). `bridge_to` holds the
supporter's own side (a softphone identity or the supporter's own number)
only while the call is being connected, and is cleared when the call ends.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Stage(models.TextChoices):
    LANGUAGE = "language", _("choosing a language")
    REGION = "region", _("choosing a region")
    TOPIC = "topic", _("choosing a topic")
    QUEUED = "queued", _("waiting in the queue")
    CLOSED = "closed", _("out of hours")
    CALLBACK = "callback", _("callback requested")
    BRIDGING = "bridging", _("connecting to a supporter")
    BRIDGED = "bridged", _("talking to a supporter")
    DONE = "done", _("finished")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("incoming call")
    CALLBACK = "callback", _("callback dialled by the platform")


# Twilio's call statuses in the order a call moves through them; a callback
# carrying a lower rank than the one recorded arrived late and changes nothing.
STATUS_RANK = {
    "queued": 1,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
    "completed": 4,
    "busy": 4,
    "failed": 4,
    "no-answer": 4,
    "canceled": 4,
}
FINAL_RANK = 4


class PhoneCall(models.Model):
    call_sid = models.CharField(_("Twilio CallSid"), max_length=64, unique=True)
    direction = models.CharField(
        _("direction"), max_length=8, choices=Direction.choices, default=Direction.INBOUND
    )
    contact = models.ForeignKey(
        "helpdesk.Contact",
        verbose_name=_("contact"),
        related_name="phone_calls",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices)
    attempt = models.PositiveSmallIntegerField(_("attempt at this menu"), default=1)
    language = models.CharField(_("language"), max_length=2, default="fi")
    municipality_code = models.CharField(_("municipality code"), max_length=3, blank=True)
    region_code = models.CharField(_("region code"), max_length=2, blank=True)
    topic_slug = models.CharField(_("topic"), max_length=64, blank=True)
    status = models.CharField(_("Twilio call status"), max_length=16, blank=True)
    status_rank = models.PositiveSmallIntegerField(default=0)
    queue_time_s = models.PositiveIntegerField(_("time in queue (s)"), null=True, blank=True)
    talk_s = models.PositiveIntegerField(_("talk time (s)"), null=True, blank=True)
    duration_s = models.PositiveIntegerField(_("call duration (s)"), null=True, blank=True)
    supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("supporter"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    bridge_to = models.CharField(_("connect to"), max_length=80, blank=True)
    last_announced_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("phone call")
        verbose_name_plural = _("phone calls")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.call_sid[-6:]} ({self.get_stage_display()})"


class TransferState(models.TextChoices):
    ASKING = "asking", _("asking the target")
    CONNECTING = "connecting", _("calling the target")
    JOINED = "joined", _("target on the line")
    HANDED_OVER = "handed_over", _("handed over")
    DECLINED = "declined", _("declined")
    CANCELLED = "cancelled", _("cancelled")


OPEN_TRANSFER_STATES = (TransferState.ASKING, TransferState.CONNECTING, TransferState.JOINED)


class WarmTransfer(models.Model):
    """One warm transfer of a call: the serving supporter stays on the line with the
    caller in a conference while the target joins, then hands over and leaves.

    `host_dial` and `target_dial` are the two supporters' own sides (a softphone
    identity or a supporter's own number, never the caller's); the conference
    name is random, as Twilio asks that it carry nothing personal.
    """

    call = models.ForeignKey(
        PhoneCall, verbose_name=_("call"), related_name="warm_transfers", on_delete=models.CASCADE
    )
    contact = models.ForeignKey(
        "helpdesk.Contact", verbose_name=_("contact"), related_name="+", on_delete=models.CASCADE
    )
    from_supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("from supporter"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
    )
    to_supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("to supporter"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    to_provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("to provider"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    state = models.CharField(
        _("state"), max_length=12, choices=TransferState.choices, default=TransferState.ASKING
    )
    reason = models.CharField(_("reason"), max_length=32, blank=True)
    note = models.TextField(_("handover note"), blank=True)
    conference = models.CharField(_("conference"), max_length=64)
    host_dial = models.CharField(max_length=80, blank=True)
    target_dial = models.CharField(max_length=80, blank=True)
    host_sid = models.CharField(max_length=64, blank=True)
    target_sid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("warm transfer")
        verbose_name_plural = _("warm transfers")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["call"],
                condition=models.Q(state__in=["asking", "connecting", "joined"]),
                name="one_open_warm_transfer_per_call",
            )
        ]

    def __str__(self) -> str:
        return f"{self.call} → {self.get_state_display()}"
