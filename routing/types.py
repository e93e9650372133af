"""Plain values that go into and come out of the routing decision.

The routing engine (``routing.engine.decide``) is a pure function from a
``Snapshot`` to a ``Decision``. Everything here is a frozen dataclass of plain
values so a snapshot can be built from the database, from Redis, from a test
table or from the day simulator alike, and so two equal snapshots always give
equal decisions. See docs/architecture.md section 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

Channel = str
"""One of ``CHANNELS``: "chat", "phone", "video"."""

Presence = str
"""One of ``PRESENCES``: "available", "busy", "away", "offline"."""

Target = str
"""One of ``TARGETS``: which level of the provider network a step asks."""

CHANNELS: Final = ("chat", "phone", "video")
PRESENCES: Final = ("available", "busy", "away", "offline")
TARGETS: Final = ("municipality", "region", "development_area", "national")


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a routing workflow.

    ``timeout_s`` is how long a contact waits at this step before overflowing
    to the next one; ``None`` marks the terminal step.
    """

    target: Target
    require_language: bool
    require_topic: bool
    timeout_s: int | None

    @property
    def is_terminal(self) -> bool:
        return self.timeout_s is None


@dataclass(frozen=True, slots=True)
class Workflow:
    id: int
    steps: tuple[Step, ...]


DEFAULT_STEPS: Final[tuple[Step, ...]] = (
    Step("region", require_language=True, require_topic=True, timeout_s=90),
    Step("region", require_language=True, require_topic=False, timeout_s=120),
    Step("development_area", require_language=True, require_topic=False, timeout_s=180),
    # Kansalaisneuvonta takes everyone who reaches it; the language is still
    # preferred when picking the supporter (see routing.engine, rule 4).
    Step("national", require_language=False, require_topic=False, timeout_s=None),
)
"""Regional first, then the library development area, then national."""

NATIONAL_FIRST_LINE_STEPS: Final[tuple[Step, ...]] = (
    Step("national", require_language=False, require_topic=False, timeout_s=None),
)
"""For contacts whose municipality is unknown: no regional provider can be chosen."""


@dataclass(frozen=True, slots=True)
class PendingOffer:
    supporter_id: int
    offered_at: datetime


@dataclass(frozen=True, slots=True)
class WaitingContact:
    """A contact that is waiting for a supporter (or has an offer out)."""

    id: int
    channel: Channel
    language: str
    municipality: str | None
    region: str | None
    development_area: str | None
    topic: str | None
    priority: int
    """Higher is served first; callbacks get a higher priority than live contacts."""
    waiting_since: datetime
    workflow_id: int
    step_index: int
    step_started_at: datetime
    preferred_supporter: int | None = None
    """The supporter a returning customer talked to last time."""
    declined_by: frozenset[int] = frozenset()
    pending_offer: PendingOffer | None = None
    pinned_provider: int | None = None
    """Set by a transfer or escalation to a provider: the workflow no longer applies."""
    pinned_supporter: int | None = None
    """Set by a transfer to a named supporter: only they may take the contact."""


@dataclass(frozen=True, slots=True)
class SupporterState:
    id: int
    provider_ids: frozenset[int]
    presence: Presence
    languages: frozenset[str]
    skills: frozenset[str]
    """Topic slugs the supporter is trained for."""
    capacity: Mapping[Channel, int]
    """How many contacts of each channel the supporter handles at once."""
    load: Mapping[Channel, int]
    """Active contacts per channel (accepted, not yet ended)."""
    idle_since: datetime


@dataclass(frozen=True, slots=True)
class ProviderState:
    """A provider as routing sees it.

    The area sets are already expanded by the caller: ``regions`` and
    ``development_areas`` are those its service area touches.
    """

    id: int
    is_national: bool
    municipalities: frozenset[str]
    regions: frozenset[str]
    development_areas: frozenset[str]
    channels: frozenset[Channel]
    languages: frozenset[str]
    is_open: bool
    next_open: datetime | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: datetime
    contacts: tuple[WaitingContact, ...]
    supporters: tuple[SupporterState, ...]
    providers: tuple[ProviderState, ...]
    workflows: Mapping[int, Workflow]
    handle_time_s: Mapping[Channel, float] = field(default_factory=dict)
    """Recent mean handle time per channel, for the estimated wait."""
    offer_timeout_s: float = 30


@dataclass(frozen=True, slots=True)
class Offer:
    contact_id: int
    supporter_id: int


@dataclass(frozen=True, slots=True)
class Advance:
    """Move the contact to ``to_step`` of its workflow and restart the step clock."""

    contact_id: int
    to_step: int


@dataclass(frozen=True, slots=True)
class ExpireOffer:
    """The supporter did not answer in time.

    The caller withdraws the offer, records it as a decline and sets the
    supporter away.
    """

    contact_id: int
    supporter_id: int


@dataclass(frozen=True, slots=True)
class Position:
    contact_id: int
    position: int
    estimated_wait_s: int | None


@dataclass(frozen=True, slots=True)
class ClosedNotice:
    """No step of the contact's workflow has an open provider now.

    ``opens_at`` is the earliest opening of a provider that could serve the
    contact at some step, ``None`` if no such provider ever opens.
    """

    contact_id: int
    opens_at: datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    offers: tuple[Offer, ...] = ()
    advances: tuple[Advance, ...] = ()
    expirations: tuple[ExpireOffer, ...] = ()
    positions: tuple[Position, ...] = ()
    closed: tuple[ClosedNotice, ...] = ()
