"""Anonymous hourly aggregates of contacts, and supporters' planned shifts.

An HourlyBucket holds what happened to the contacts that ARRIVED in one hour
in one cell (region, provider, channel, topic, language): a contact's whole
story (wait, answer, handling, outcome, feedback) is counted in the hour it
arrived, so a late event re-rolls exactly that hour (helpdesk/stats/rollup.py).
Nothing here names a person: no contact ids, no supporter ids.

Waits are stored as counts per fixed bin (WAIT_BIN_EDGES_S), so that
percentiles can be recomputed for any sum of buckets (a region, a week).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from helpdesk.models.providers import CHANNEL_CHOICES

# Upper edges of the wait histogram bins in seconds; the last bin is open.
# 20, 60 and 120 s are edges, so "answered within T" is exact for them.
WAIT_BIN_EDGES_S: tuple[int, ...] = (
    10,
    20,
    30,
    45,
    60,
    90,
    120,
    180,
    240,
    300,
    450,
    600,
    900,
    1200,
    1800,
    2700,
    3600,
)
WAIT_BINS = len(WAIT_BIN_EDGES_S) + 1


def empty_hist() -> list[int]:
    return [0] * WAIT_BINS


def empty_ratings() -> list[int]:
    return [0] * 5


class HourlyBucket(models.Model):
    hour_start = models.DateTimeField(_("hour"), db_index=True)
    region = models.ForeignKey(
        "helpdesk.Region", related_name="+", on_delete=models.CASCADE, null=True, blank=True
    )
    provider = models.ForeignKey(
        "helpdesk.Provider", related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    channel = models.CharField(_("channel"), max_length=8, choices=CHANNEL_CHOICES)
    topic = models.ForeignKey(
        "helpdesk.Topic", related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    language = models.CharField(_("language"), max_length=2)

    arrivals = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    # Waits of answered contacts (until the first answer), and of abandoned ones.
    wait_sum_s = models.FloatField(default=0)
    wait_hist = models.JSONField(default=empty_hist)
    abandon_wait_sum_s = models.FloatField(default=0)
    abandon_wait_hist = models.JSONField(default=empty_hist)
    first_response_n = models.PositiveIntegerField(default=0)
    first_response_sum_s = models.FloatField(default=0)
    handle_n = models.PositiveIntegerField(default=0)
    handle_sum_s = models.FloatField(default=0)
    transfers = models.PositiveIntegerField(default=0)
    escalations = models.PositiveIntegerField(default=0)
    solved = models.PositiveIntegerField(default=0)
    partly = models.PositiveIntegerField(default=0)
    referred = models.PositiveIntegerField(default=0)
    not_solved = models.PositiveIntegerField(default=0)
    message_left = models.PositiveIntegerField(default=0)
    can_do_alone = models.PositiveIntegerField(default=0)
    ratings = models.JSONField(default=empty_ratings)

    class Meta:
        verbose_name = _("hourly statistics")
        verbose_name_plural = _("hourly statistics")
        indexes = [models.Index(fields=["region", "hour_start"], name="stats_bucket_region_hour")]


class RollupCursor(models.Model):
    """How far the rollup has read: one row, named "contacts"."""

    name = models.CharField(max_length=32, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    last_feedback_id = models.BigIntegerField(default=0)
    last_run_started = models.DateTimeField(null=True, blank=True)
    last_run_finished = models.DateTimeField(null=True, blank=True)


class ShiftPattern(models.Model):
    """A supporter's recurring weekly shift for a provider: the planned supply."""

    WEEKDAYS = [
        (0, _("Monday")),
        (1, _("Tuesday")),
        (2, _("Wednesday")),
        (3, _("Thursday")),
        (4, _("Friday")),
        (5, _("Saturday")),
        (6, _("Sunday")),
    ]
    supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("supporter"),
        related_name="shift_patterns",
        on_delete=models.CASCADE,
    )
    provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("provider"),
        related_name="shift_patterns",
        on_delete=models.CASCADE,
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    start = models.TimeField(_("starts"))
    end = models.TimeField(_("ends"))
    channels = models.JSONField(_("channels"), default=list, blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("weekly shift")
        verbose_name_plural = _("weekly shifts")
        ordering = ["supporter", "weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="shift_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"

    def clean(self) -> None:
        _check_supporter_provider(self)
        if self.start and self.end and self.end <= self.start:
            raise ValidationError(_("A shift must end after it starts."))
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError(_("The shift's validity ends before it starts."))
        allowed = {code for code, _label in CHANNEL_CHOICES}
        if not isinstance(self.channels, list) or not set(self.channels) <= allowed:
            raise ValidationError(_("Channels must be a list drawn from chat, phone and video."))


class ShiftException(models.Model):
    """One date that differs from the weekly pattern: an extra shift or a day off."""

    supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("supporter"),
        related_name="shift_exceptions",
        on_delete=models.CASCADE,
    )
    provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("provider"),
        related_name="shift_exceptions",
        on_delete=models.CASCADE,
    )
    date = models.DateField(_("date"))
    cancelled = models.BooleanField(
        _("no shift this day"),
        default=False,
        help_text=_("Ticked: the weekly shifts of this day do not take place."),
    )
    start = models.TimeField(_("starts"), null=True, blank=True)
    end = models.TimeField(_("ends"), null=True, blank=True)

    class Meta:
        verbose_name = _("shift exception")
        verbose_name_plural = _("shift exceptions")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date}"

    def clean(self) -> None:
        _check_supporter_provider(self)
        if self.cancelled:
            return
        if not self.start or not self.end:
            raise ValidationError(_("An extra shift needs a start and an end."))
        if self.end <= self.start:
            raise ValidationError(_("A shift must end after it starts."))


def _check_supporter_provider(shift) -> None:
    if (
        shift.supporter_id
        and shift.provider_id
        and not shift.supporter.providers.filter(pk=shift.provider_id).exists()
    ):
        raise ValidationError(_("The supporter does not work for this provider."))


class OnlineMinutes(models.Model):
    """Measured supply: supporter-minutes online per region and hour (nobody named).

    Sampled by every rollup run (helpdesk/stats/presence.py): each supporter
    who is available or busy, with a live heartbeat, adds the minutes since
    the previous run to every region their providers serve.
    """

    hour_start = models.DateTimeField(_("hour"))
    region = models.ForeignKey("helpdesk.Region", related_name="+", on_delete=models.CASCADE)
    minutes = models.FloatField(default=0)

    class Meta:
        verbose_name = _("measured online time")
        verbose_name_plural = _("measured online time")
        constraints = [
            models.UniqueConstraint(fields=["hour_start", "region"], name="online_minutes_unique")
        ]
