"""The customer's chat socket: /ws/contact/?token=<contact token>.

The signed token is the customer's only credential; it names one contact,
which is all this socket can see or write. Authorisation is decided once at
connect (the token) and the contact's state is kept up to date from
contact.state events; the message service re-checks the state in the same
statement that stores a message, so a stale cache can never let a message in.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from helpdesk import db_async
from helpdesk.compiled_reads import CompiledInstances, CompiledRead
from helpdesk.models import Contact
from helpdesk.models.contacts import QUEUED_STATES, TERMINAL_STATES, ContactState
from helpdesk.services import feedback as feedback_service
from helpdesk.services import messages as message_service
from helpdesk.services.errors import Conflict
from helpdesk.tokens import read_contact_token
from realtime import serializers
from realtime.consumers import suggestions, welcome_gate
from realtime.consumers.base import (
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    BaseConsumer,
    db,
    post_message,
)
from realtime.consumers.welcome_gate import welcome_db
from realtime.events import apublish, contact_group
from realtime.protocol import CUSTOMER, Frame
from routing.story import story_for_customer

log = logging.getLogger(__name__)

# Events a customer may see, and the keys of each they may see.
_FORWARDED: dict[str, tuple[str, ...]] = {
    "contact.state": ("contact", "state", "supporter_name", "target"),
    "queue.position": ("contact", "position", "estimated_wait_s"),
    "queue.closed": ("contact", "opens_at", "help_points_url"),
}


def _load_contact(public_id) -> Contact | None:
    return Contact.objects.select_related("supporter", "topic").filter(public_id=public_id).first()


_OPEN_FIELDS = ("pk", "public_id", "purged_at", "language", "state", "topic__slug")
# Every page of a restarted worker opens at once: SQL built once per process.
_open_row = CompiledRead(
    lambda public_id: Contact.objects.filter(public_id=public_id).values_list(*_OPEN_FIELDS),
    key=uuid.UUID,
)


def _open_contact(public_id: uuid.UUID) -> dict | None:
    """What a customer socket needs to open: a few columns, no model rows.

    The welcome reads the contact in full once the socket has joined its
    group; this read only says whether, and as what, the socket may open.
    """
    return _opened(_open_row(public_id))


def _opened(rows) -> dict | None:
    for row in rows:
        return dict(zip(_OPEN_FIELDS, row, strict=True))
    return None


async def _open_contact_now(public_id: uuid.UUID) -> dict | None:
    """`_open_contact` from the event loop on the async pool where there is one.

    One statement, and in a reconnect storm every page asks it at once: no
    hand-over to a database thread and back, and no thread's Python work
    competing with the loop for the interpreter.
    """
    if db_async.enabled():
        statement = _open_row.statement(public_id)
        if statement is not None:
            async with welcome_gate.gate():  # the chat's stores share the pool
                return _opened(await db_async.fetchall(*statement))
    return await welcome_db(_open_contact, public_id)


# The welcome's read of its contact, SQL built once per process: every page
# of a restarted worker asks at once (helpdesk/compiled_reads.py).
_contact_row = CompiledInstances(
    Contact, lambda pk: Contact.objects.filter(pk=pk), related=("supporter", "topic")
)


def _welcome(
    contact_id: int, last_seq: int
) -> tuple[dict, message_service.Replay, dict | None, list[dict] | None]:
    found = _contact_row(contact_id)
    if not found:
        raise Contact.DoesNotExist(f"contact {contact_id}")
    contact = found[0]
    # The row just read gives the replay its last seq: one query fewer per welcome.
    replay = message_service.replay(
        contact_id=contact_id, after_seq=last_seq, for_customer=True, next_seq=contact.next_seq
    )
    # Only a page that starts afresh needs the story; a resuming one told it live.
    story = story_for_customer(contact) if last_seq == 0 else None
    return serializers.customer_contact(contact), replay, _closed_notice(contact), story


def _closed_notice(contact: Contact) -> dict | None:
    """The `queue.closed` routing sent this waiting contact, if it still holds.

    Routing publishes the notice once, when it finds nobody open; a page that
    was not connected at that moment (still loading, or reloaded) would never
    learn it. So every welcome of a contact with a standing notice is followed
    by the notice again.
    """
    from routing.closed_notice import closed_frame
    from routing.models import ClosedNotice
    from routing.store import CLAIMABLE

    if contact.state not in CLAIMABLE:
        return None
    notice = ClosedNotice.objects.filter(contact_id=contact.pk).first()
    if notice is None:
        return None
    code = contact.municipality.code if contact.municipality_id else None
    return closed_frame(
        public_id=contact.public_id, opens_at=notice.opens_at, municipality_code=code
    )


class CustomerConsumer(BaseConsumer):
    side = CUSTOMER

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        public_id = read_contact_token((query.get("token") or [None])[0])
        if public_id is None:
            return await self.refuse(CLOSE_UNAUTHENTICATED)
        contact = await _open_contact_now(public_id)
        # A purged contact keeps its row for statistics, but the conversation
        # the token opened is gone: the page is told so (docs/protocol.md).
        if contact is None or contact["purged_at"] is not None:
            return await self.refuse(CLOSE_NOT_FOUND)
        self.contact = str(contact["public_id"])
        self.contact_pks[self.contact] = contact["pk"]
        self.language = contact["language"]
        self.topic = contact["topic__slug"]
        self.state = contact["state"]
        self.known_supporter: str | None = None
        await self.join(contact_group(self.contact))
        await self.start()

    def log_ref(self) -> str:
        return str(getattr(self, "contact", "-"))

    def visible(self, message: dict[str, Any]) -> bool:
        return message.get("kind") != "note"  # internal notes never reach the customer

    async def on_hello(self, frame: Frame) -> None:
        contact, replay, closed, story = await welcome_db(
            _welcome, self.contact_pks[self.contact], frame["last_seq"]
        )
        self.state = contact["state"]
        self.known_supporter = contact["supporter_name"]
        self.cursors[self.contact] = replay.last_seq
        welcome = {"type": "welcome", "contact": contact, "messages": replay.messages}
        if story is not None:
            welcome["story"] = story
        await self.send_json(welcome)
        if closed is not None:
            await self.send_json(closed)

    async def resync_state(self) -> None:
        """After a channel-layer fault: the contact's state and queue place, if changed."""
        if self.contact not in self.cursors:
            return  # no welcome yet: the welcome will carry it
        contact = await db(_load_contact, self.contact)
        if contact is None:
            return
        data = serializers.customer_contact(contact)
        if data["state"] != self.state or self.known_supporter != data["supporter_name"]:
            self.state = data["state"]
            self.known_supporter = data["supporter_name"]
            await self.send_json(
                {
                    "type": "contact.state",
                    "contact": self.contact,
                    "state": data["state"],
                    "supporter_name": data["supporter_name"],
                }
            )
        if data["state"] in QUEUED_STATES:
            await self.send_json(
                {
                    "type": "queue.position",
                    "contact": self.contact,
                    "position": data["position"],
                    "estimated_wait_s": data["estimated_wait_s"],
                }
            )

    async def on_message_send(self, frame: Frame) -> None:
        result = await post_message(
            contact_id=self.contact_pks[self.contact],
            client_msg_id=frame["client_msg_id"],
            body=frame["body"],
        )
        await self.send_json(self.ack(result, language=self.language))
        if not result.duplicate and self.state in (ContactState.ACTIVE, ContactState.ON_HOLD):
            suggestions.schedule(
                contact=self.contact,
                language=self.language,
                text=result.message["body"],
                topic=getattr(self, "topic", None),
            )

    async def on_typing(self, frame: Frame) -> None:
        if self.state in TERMINAL_STATES:
            raise Conflict("the contact has ended")
        await apublish(
            contact_group(self.contact),
            {
                "type": "typing",
                "contact": self.contact,
                "who": "customer",
                "active": frame["active"],
            },
        )

    async def on_receipt(self, frame: Frame) -> None:
        await db(
            message_service.mark_read,
            contact_id=self.contact_pks[self.contact],
            read_seq=frame["read_seq"],
            delivered_seq=self.cursors.get(self.contact, 0),
        )

    async def on_contact_end(self, frame: Frame) -> None:
        from routing import services as routing

        # Routing ends a served contact and abandons a queued one; ending an
        # ended contact is harmless there, so a repeated frame is too.
        await db(routing.end_contact, public_id=self.contact, by_customer=True)

    async def on_feedback(self, frame: Frame) -> None:
        await db(
            feedback_service.submit_feedback,
            contact_id=self.contact_pks[self.contact],
            rating=frame["rating"],
            comment=frame["comment"],
            can_do_myself=frame["can_do_myself"],
        )
        await self.send_json({"type": "feedback.ack", "contact": self.contact})

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message.new":
            await self.deliver_message(self.contact, event["message"])
        elif kind in ("typing", "message.receipt"):
            if event.get("who") != "customer":
                await self.send_json(event)
        elif kind in _FORWARDED:
            if kind == "contact.state":
                self.state = event.get("state", self.state)
                self.known_supporter = event.get("supporter_name")
            frame = {"type": kind, **{key: event.get(key) for key in _FORWARDED[kind]}}
            if frame.get("target") is None:
                frame.pop("target", None)  # only transfers and escalations name one
            await self.send_json(frame)
