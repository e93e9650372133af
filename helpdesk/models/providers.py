"""Support providers: the organisations that answer customers."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

CHANNEL_CHOICES = [("chat", _("chat")), ("phone", _("phone")), ("video", _("video"))]
LANGUAGE_CODES = ("fi", "sv", "en")


def validate_channels(value) -> None:
    allowed = {code for code, _label in CHANNEL_CHOICES}
    if not isinstance(value, list) or not set(value) <= allowed:
        raise ValidationError(_("Channels must be a list drawn from chat, phone and video."))


def validate_languages(value) -> None:
    if not isinstance(value, list) or not value or not set(value) <= set(LANGUAGE_CODES):
        raise ValidationError(_("Languages must be a non-empty list drawn from fi, sv and en."))


class ProviderKind(models.TextChoices):
    SERVICE_POINT = "service_point", _("service point")
    LIBRARY = "library", _("library")
    ASSOCIATION = "association", _("association")
    PARISH = "parish", _("parish")
    MUNICIPALITY = "municipality", _("municipality")
    COMPANY = "company", _("company")
    NATIONAL = "national", _("national service")


class Provider(models.Model):
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=ProviderKind.choices)
    description = models.TextField(_("description"), blank=True)
    is_national = models.BooleanField(
        _("national service"),
        default=False,
        help_text=_("Kansalaisneuvonta: the national escalation and last overflow target."),
    )
    service_municipalities = models.ManyToManyField(
        "helpdesk.Municipality",
        verbose_name=_("municipalities served"),
        related_name="providers",
        blank=True,
    )
    service_regions = models.ManyToManyField(
        "helpdesk.Region",
        verbose_name=_("whole regions served"),
        related_name="providers",
        blank=True,
    )
    channels = models.JSONField(
        _("channels offered"), default=list, validators=[validate_channels], blank=True
    )
    languages = models.JSONField(_("languages"), default=list, validators=[validate_languages])
    in_person_help = models.BooleanField(_("offers in-person help"), default=False)
    address = models.CharField(_("visiting address"), max_length=250, blank=True)
    in_person_hours = models.TextField(_("in-person help hours"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("email"), blank=True)
    website = models.URLField(_("website"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OpeningHours(models.Model):
    """A weekly rule in Europe/Helsinki wall-clock time; several per weekday allowed."""

    provider = models.ForeignKey(
        Provider, verbose_name=_("provider"), related_name="opening_hours", on_delete=models.CASCADE
    )
    weekday = models.PositiveSmallIntegerField(
        _("weekday"),
        choices=[
            (0, _("Monday")),
            (1, _("Tuesday")),
            (2, _("Wednesday")),
            (3, _("Thursday")),
            (4, _("Friday")),
            (5, _("Saturday")),
            (6, _("Sunday")),
        ],
    )
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        # One weekly rule: "Add opening time", listed under "Opening hours".
        verbose_name = _("opening time")
        verbose_name_plural = _("opening hours")
        ordering = ["provider", "weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closes__gt=models.F("opens")),
                name="opening_hours_closes_after_opens",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class ExceptionDate(models.Model):
    """A date on which the weekly rules do not apply: closed, or open at other hours."""

    provider = models.ForeignKey(
        Provider,
        verbose_name=_("provider"),
        related_name="exception_dates",
        on_delete=models.CASCADE,
    )
    date = models.DateField(_("date"))
    closed = models.BooleanField(_("closed all day"), default=True)
    opens = models.TimeField(_("opens"), null=True, blank=True)
    closes = models.TimeField(_("closes"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("exception date")
        verbose_name_plural = _("exception dates")
        ordering = ["provider", "date"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "date"], name="exception_date_unique")
        ]

    def clean(self) -> None:
        if not self.closed and (
            self.opens is None or self.closes is None or self.closes <= self.opens
        ):
            raise ValidationError(_("An open exception date needs opening and closing times."))

    def __str__(self) -> str:
        return f"{self.date}"


class CannedReply(models.Model):
    provider = models.ForeignKey(
        Provider,
        verbose_name=_("provider"),
        related_name="canned_replies",
        on_delete=models.CASCADE,
    )
    language = models.CharField(_("language"), max_length=2, default="fi")
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("text"))

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["provider", "language", "title"]

    def __str__(self) -> str:
        return self.title
