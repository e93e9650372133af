"""Contacts (one support session, whatever its channel), their messages and event log.

State machine (TRANSITIONS below is the single source of truth):

    waiting ──offer──▶ offered ──accept──▶ active ⇄ on_hold
       ▲                 │                   │
       └──decline/expire─┘                   ├─transfer──▶ transferred (queued again)
                                             ├─escalate──▶ escalated  (queued for Kansalaisneuvonta)
    any non-terminal ──────────────────────▶ ended | abandoned

"transferred" and "escalated" are queued states like "waiting", pinned to a
target. Routing writes these states through routing.services only.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .providers import CHANNEL_CHOICES


class Channel(models.TextChoices):
    CHAT = "chat", _("chat")
    PHONE = "phone", _("phone")
    VIDEO = "video", _("video")


class ContactState(models.TextChoices):
    WAITING = "waiting", _("waiting")
    OFFERED = "offered", _("offered")
    ACTIVE = "active", _("active")
    ON_HOLD = "on_hold", _("on hold")
    TRANSFERRED = "transferred", _("transferred")
    ESCALATED = "escalated", _("escalated")
    ENDED = "ended", _("ended")
    ABANDONED = "abandoned", _("abandoned")


QUEUED_STATES = frozenset({ContactState.WAITING, ContactState.TRANSFERRED, ContactState.ESCALATED})
IN_SERVICE_STATES = frozenset({ContactState.ACTIVE, ContactState.ON_HOLD})
TERMINAL_STATES = frozenset({ContactState.ENDED, ContactState.ABANDONED})
OPEN_STATES = frozenset(ContactState.values) - TERMINAL_STATES

TRANSITIONS: dict[str, frozenset[str]] = {
    ContactState.WAITING: frozenset(
        {"offered", "active", "transferred", "escalated", "ended", "abandoned"}
    ),
    ContactState.OFFERED: frozenset(
        {"active", "waiting", "transferred", "escalated", "ended", "abandoned"}
    ),
    ContactState.ACTIVE: frozenset({"on_hold", "transferred", "escalated", "ended", "abandoned"}),
    ContactState.ON_HOLD: frozenset({"active", "transferred", "escalated", "ended", "abandoned"}),
    ContactState.TRANSFERRED: frozenset({"offered", "active", "escalated", "ended", "abandoned"}),
    ContactState.ESCALATED: frozenset({"offered", "active", "ended", "abandoned"}),
    ContactState.ENDED: frozenset(),
    ContactState.ABANDONED: frozenset(),
}


def can_transition(old: str, new: str) -> bool:
    return new in TRANSITIONS.get(old, frozenset())


class Outcome(models.TextChoices):
    SOLVED = "solved", _("solved")
    PARTLY = "partly", _("partly solved")
    REFERRED = "referred", _("referred elsewhere")
    NOT_SOLVED = "not_solved", _("not solved")
    MESSAGE_LEFT = "message_left", _("message left")


class Contact(models.Model):
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(_("channel"), max_length=8, choices=CHANNEL_CHOICES)
    language = models.CharField(_("language"), max_length=2, default="fi")
    municipality = models.ForeignKey(
        "helpdesk.Municipality",
        verbose_name=_("municipality"),
        related_name="contacts",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    region = models.ForeignKey(
        "helpdesk.Region",
        verbose_name=_("region"),
        related_name="contacts",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    topic = models.ForeignKey(
        "helpdesk.Topic",
        verbose_name=_("topic"),
        related_name="contacts",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    description = models.TextField(_("description"), blank=True)
    state = models.CharField(
        _("state"), max_length=12, choices=ContactState.choices, default=ContactState.WAITING
    )
    priority = models.SmallIntegerField(_("priority"), default=0)
    is_callback = models.BooleanField(_("callback request"), default=False)
    callback_number = models.CharField(_("callback number"), max_length=40, blank=True)
    customer_key = models.CharField(
        _("pseudonymous customer key"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_("A hash of the browser's random id: recognises a returning customer."),
    )
    pseudonym = models.CharField(_("pseudonym"), max_length=40, blank=True)
    entry_provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("entry provider (widget)"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    workflow = models.ForeignKey(
        "routing.Workflow",
        verbose_name=_("workflow"),
        related_name="contacts",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    step_index = models.PositiveSmallIntegerField(_("workflow step"), default=0)
    step_started_at = models.DateTimeField(_("step started"), null=True, blank=True)
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    pinned_provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("pinned to provider"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    pinned_supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("pinned to supporter"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    preferred_supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("preferred supporter (returning customer)"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    provider = models.ForeignKey(
        "helpdesk.Provider",
        verbose_name=_("answering provider"),
        related_name="contacts",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    supporter = models.ForeignKey(
        "helpdesk.Supporter",
        verbose_name=_("supporter"),
        related_name="contacts",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    handover_note = models.TextField(_("handover note"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=14, choices=Outcome.choices, blank=True)
    last_position = models.PositiveIntegerField(_("last queue position"), null=True, blank=True)
    last_estimated_wait_s = models.PositiveIntegerField(
        _("last estimated wait (s)"), null=True, blank=True
    )
    # When the customer was last sent a queue position (routing.positions).
    last_position_at = models.DateTimeField(_("last queue position sent"), null=True, blank=True)
    next_seq = models.PositiveIntegerField(_("next message sequence"), default=1)
    consent_at = models.DateTimeField(_("privacy notice accepted"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    customer_last_seen_seq = models.PositiveIntegerField(default=0)
    supporter_last_seen_seq = models.PositiveIntegerField(default=0)
    # Set when the retention period removed the personal content
    # (helpdesk/services/retention.py); what is left is statistics.
    purged_at = models.DateTimeField(_("personal data deleted"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "channel"], name="contact_state_channel"),
            # The purge looks only at contacts not yet purged: a partial index
            # stays the size of one retention period however long the history.
            models.Index(
                fields=["ended_at", "created_at"],
                condition=models.Q(purged_at__isnull=True),
                name="contact_unpurged_ended",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pseudonym or self.public_id} ({self.get_state_display()})"

    @property
    def is_queued(self) -> bool:
        return self.state in QUEUED_STATES

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class Offer(models.Model):
    """An offer of a contact to one supporter; at most one pending offer per contact."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        ACCEPTED = "accepted", _("accepted")
        DECLINED = "declined", _("declined")
        EXPIRED = "expired", _("expired")
        WITHDRAWN = "withdrawn", _("withdrawn")

    contact = models.ForeignKey(Contact, related_name="offers", on_delete=models.CASCADE)
    supporter = models.ForeignKey(
        "helpdesk.Supporter", related_name="offers", on_delete=models.CASCADE
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    return_state = models.CharField(
        max_length=12, default=ContactState.WAITING, help_text="Queued state to return to."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        constraints = [
            models.UniqueConstraint(
                fields=["contact"],
                condition=models.Q(state="pending"),
                name="offer_one_pending_per_contact",
            )
        ]


class Assignment(models.Model):
    """Who serves a contact; the unique constraint makes a double assignment impossible."""

    contact = models.ForeignKey(Contact, related_name="assignments", on_delete=models.CASCADE)
    supporter = models.ForeignKey(
        "helpdesk.Supporter", related_name="assignments", on_delete=models.CASCADE
    )
    provider = models.ForeignKey(
        "helpdesk.Provider", related_name="assignments", on_delete=models.SET_NULL, null=True
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["contact"],
                condition=models.Q(ended_at__isnull=True),
                name="assignment_one_active_per_contact",
            )
        ]


class Message(models.Model):
    class Author(models.TextChoices):
        CUSTOMER = "customer", _("customer")
        SUPPORTER = "supporter", _("supporter")
        SYSTEM = "system", _("system")

    class Kind(models.TextChoices):
        TEXT = "text", _("text")
        ARTICLE = "article", _("article card")
        NOTE = "note", _("internal note")
        SYSTEM = "system", _("system notice")
        FILE = "file", _("picture or file")

    # No index of its own: the unique (contact, seq) index serves every lookup
    # by contact, and one index fewer is one write fewer per message.
    contact = models.ForeignKey(
        Contact, related_name="messages", on_delete=models.CASCADE, db_index=False
    )
    seq = models.PositiveIntegerField(_("sequence number"))
    author_kind = models.CharField(_("author"), max_length=10, choices=Author.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    author_name = models.CharField(_("author name shown"), max_length=60, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.TEXT)
    body = models.TextField(_("text"), blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    client_msg_id = models.CharField(_("client message id"), max_length=64, null=True, blank=True)
    masked = models.BooleanField(_("masked"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["contact", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["contact", "client_msg_id"],
                condition=models.Q(client_msg_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]


class ContactEvent(models.Model):
    """Append-only log of everything that happens to a contact; statistics read it."""

    contact = models.ForeignKey(Contact, related_name="events", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=40, db_index=True)
    at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    supporter = models.ForeignKey(
        "helpdesk.Supporter", related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    provider = models.ForeignKey(
        "helpdesk.Provider", related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    step_index = models.PositiveSmallIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("contact event")
        verbose_name_plural = _("contact events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.at:%Y-%m-%d %H:%M:%S}"


class Feedback(models.Model):
    contact = models.OneToOneField(Contact, related_name="feedback", on_delete=models.CASCADE)
    rating = models.PositiveSmallIntegerField(
        _("rating"), choices=[(i, str(i)) for i in range(1, 6)]
    )
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    can_do_myself = models.BooleanField(_("I can now do this myself"), null=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="feedback_rating_1_5"
            )
        ]
