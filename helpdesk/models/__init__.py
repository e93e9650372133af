"""The domain model, one module per entity group (docs/architecture.md)."""

from .attachments import Attachment
from .audit import AuditLogEntry
from .contacts import (
    Assignment,
    Channel,
    Contact,
    ContactEvent,
    ContactState,
    Feedback,
    Message,
    Offer,
)
from .geo import DevelopmentArea, Municipality, PostalCode, Region
from .providers import CannedReply, ExceptionDate, OpeningHours, Provider, ProviderKind
from .roles import Role, RoleGrant
from .supporters import Presence, Supporter, SupporterKind
from .topics import Topic

__all__ = [
    "Assignment",
    "Attachment",
    "AuditLogEntry",
    "CannedReply",
    "Channel",
    "Contact",
    "ContactEvent",
    "ContactState",
    "DevelopmentArea",
    "ExceptionDate",
    "Feedback",
    "Message",
    "Municipality",
    "Offer",
    "OpeningHours",
    "PostalCode",
    "Presence",
    "Provider",
    "ProviderKind",
    "Region",
    "Role",
    "RoleGrant",
    "Supporter",
    "SupporterKind",
    "Topic",
]
