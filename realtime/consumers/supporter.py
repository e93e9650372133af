"""The supporter's console socket: /ws/console/ (Django session).

Groups: the supporter's own group (offers, presence), the queue group of each
of their providers (and the national one for Kansalaisneuvonta supporters),
and one group per contact they serve, joined on accept/pick and left on
end/transfer/escalate. Which contacts they serve is cached per socket and
re-read whenever routing says something changed; the message service checks
it again in the statement that stores a message.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from helpdesk import two_factor
from helpdesk.compiled_reads import CompiledRead
from helpdesk.models import Contact, Message, Offer, Supporter
from helpdesk.permissions import Actor
from helpdesk.services import audit
from helpdesk.services import messages as message_service
from helpdesk.services.errors import Conflict, NotAllowed, NotFound
from helpdesk.services.replays import replay_many
from realtime import serializers
from realtime.consumers import heartbeats, presence, queue_share, suggestions
from realtime.consumers.base import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    BaseConsumer,
    console_db,
    db,
    post_message,
)
from realtime.events import (
    apublish,
    contact_group,
    national_queue_group,
    provider_queue_group,
    supporter_group,
)
from realtime.protocol import SUPPORTER, Frame
from realtime.socket_auth import user_of
from realtime.video import signalling as video_signalling
from routing.selectors import (
    pending_offers,
    queue_rows,
    serving_contact_ids,
    serving_contacts,
)

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 15.0
# Reads of a welcome while the contacts served keep changing under it.
_WELCOME_ATTEMPTS = 3
SNAPSHOT_EVERY_S = 1.0
# Events after which the set of contacts this supporter serves may have changed.
_RESYNC_EVENTS = frozenset({"contact.state", "offer.withdrawn"})


def _session_expiry(session):
    """When the console's session ends (None without a session store)."""
    if session is None or not getattr(session, "session_key", None):
        return None
    return session.get_expiry_date()


def _routing():
    from routing import services

    return services


def _open_console(user, session) -> tuple[int, Any]:
    """Everything a console's connect reads, in one trip to the pool.

    (close code or 0, (session expiry, supporter, actor, serving, beat_due)).
    The user is read from the session here when the socket came with one
    (realtime/socket_auth.py). The actor (the supporter's row, providers and
    roles) is read once here and serves the second-factor check, the groups to
    join and the first welcome; `serving` (public id -> pk), the contacts whose
    groups the socket joins with its others; `beat_due`, whether the row's
    heartbeat is too old to leave as it is (heartbeats.heartbeat_due). A storm
    of reconnecting consoles queues for the console pool; one turn each, with
    as few statements as that, keeps the queue short.
    """
    user = user_of(user)
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED, None
    actor, supporter = Actor.for_user_and_supporter(user)
    # A session that has not passed its second sign-in step is not trusted
    # (helpdesk/two_factor.py); it expires like any staff session.
    if not two_factor.trusted(user, session, actor=actor):
        return CLOSE_UNAUTHENTICATED, None
    if supporter is None:
        return CLOSE_FORBIDDEN, None
    due = heartbeats.heartbeat_due(supporter.last_heartbeat, timezone.now())
    return 0, (_session_expiry(session), supporter, actor, serving_contact_ids(supporter), due)


def _contact_data(supporter: Supporter, contact_id: int) -> dict:
    # The assigned frame carries the whole transcript: a read to log.
    audit.record_transcript_read(user_id=supporter.user_id, contact_id=contact_id, where="assigned")
    contact = Contact.objects.select_related(
        "supporter", "topic", "municipality", "region__development_area"
    ).get(pk=contact_id)
    return serializers.supporter_contact(contact, viewer=supporter)


def _seen(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _queue_key(queue: list[dict] | None) -> list[dict] | None:
    """A queue as the console shows it: waiting times in whole minutes."""
    if queue is None:
        return None
    return [{**item, "waited_s": (item.get("waited_s") or 0) // 60} for item in queue]


def _build_presence_and_offered(supporter_id: int):
    pending = Offer.objects.filter(supporter_id=OuterRef("pk"), state=Offer.State.PENDING)
    return (
        Supporter.objects.filter(pk=supporter_id)
        .annotate(offered=Exists(pending))
        .values_list("presence", "offered")
    )


# The welcome's one read of the supporter's own row; compiled once per process.
_presence_and_offered = CompiledRead(_build_presence_and_offered)


def _welcome(
    supporter: Supporter, joined: dict[str, int], after: dict[str, int], actor: Actor | None
) -> dict:
    """The welcome frame for the contacts the supporter serves, or what to join first.

    The contacts served now are read in one query. A replay is only right
    for a contact whose group the socket had joined before it was read
    (`joined`, public id -> pk): when the contacts served differ from those
    (one assigned or ended since the socket subscribed), nothing more is read
    and `{"join": ..., "leave": ...}` comes back; the socket joins and leaves
    those groups and asks again.

    The viewer's permissions are read once for all the contacts and the
    queue: a reconnecting console costs a handful of queries, which matters
    when every console of a restarted worker comes back at once. The queue
    itself is not read here but shared by the worker's consoles
    (`SupporterConsumer.queue_for`).

    `actor` is the one the socket read when it opened, for its first welcome
    (None: read afresh). The presence is read afresh either way: it may have
    changed before the socket had joined the supporter's group, where changes
    are announced. With it comes whether any offer is pending: most consoles
    have none, and the offers' own read is the dearest of a welcome.
    """
    serving_now = serving_contacts(supporter)
    join = {str(c.public_id): c.pk for c in serving_now if str(c.public_id) not in joined}
    leave = joined.keys() - {str(c.public_id) for c in serving_now}
    if join or leave:
        return {"join": join, "leave": sorted(leave)}
    if actor is None:
        actor = Actor.for_user(supporter.user)
    offers = []
    for now, offered in _presence_and_offered(supporter.pk):
        supporter.presence = now
        if offered:
            offers = serializers.for_viewer(pending_offers(supporter), supporter)
    contacts, replays, read = [], {}, []
    # Every contact's messages in one query, however many the console serves:
    # the rows just read give their last seqs.
    replayed = replay_many(
        after={c.pk: _seen(after.get(str(c.public_id))) for c in serving_now},
        for_customer=False,
        next_seqs={c.pk: c.next_seq for c in serving_now},
    )
    for contact in serving_now:
        public_id = str(contact.public_id)
        replay = replayed.get(contact.pk) or message_service.Replay(
            last_seq=max(contact.next_seq - 1, 0), messages=[]
        )
        data = serializers.supporter_contact(contact, viewer=supporter, actor=actor)
        if after.get(public_id, 0) == 0 and replay.messages:
            read.append(contact.pk)
        # The replay's number is the newer one: the contact row was read first.
        contacts.append({**data, "last_seq": replay.last_seq, "messages": replay.messages})
        replays[public_id] = replay.last_seq
    # One audit statement for all the transcripts shown, however many.
    audit.record_transcript_reads(user_id=supporter.user_id, contact_ids=read, where="welcome")
    return {
        "frame": {
            "type": "welcome",
            "supporter": serializers.supporter_self(supporter),
            "contacts": contacts,
            "offers": offers,
        },
        "cursors": replays,
        # The queue is added by the socket from its worker's shared read (queue_share).
        "actor": actor,
    }


def _actor(supporter: Supporter) -> Actor:
    return Actor.for_user(supporter.user)


def _accept(supporter: Supporter, offer_id: int) -> int:
    return _routing().accept_offer(offer_id=offer_id, supporter=supporter).pk


def _pick(supporter: Supporter, public_id: str) -> int:
    return _routing().pick_contact(public_id=public_id, supporter=supporter).pk


def _share_article(supporter: Supporter, contact_id: int, article: Any, client_msg_id: str):
    try:
        from knowledge.selectors import article_card
    except ImportError:
        raise NotFound("the knowledge base is not available") from None
    language = Contact.objects.values_list("language", flat=True).get(pk=contact_id)
    card = article_card(article, language)
    if not card:
        raise NotFound("unknown article")
    return message_service.post_message(
        contact_id=contact_id,
        client_msg_id=client_msg_id,
        body=str(card.get("title") or card.get("url") or article)[:200],
        supporter=supporter,
        kind=Message.Kind.ARTICLE,
        payload={"article": card},
    )


class SupporterConsumer(BaseConsumer):
    side = SUPPORTER

    async def connect(self) -> None:
        # Not looked at here: a user not read yet is read in the pool (_open_console).
        user = self.scope.get("user")
        refused, opened = await console_db(_open_console, user, self.scope.get("session"))
        if refused:
            return await self.refuse(refused)
        self._session_expires, self.supporter, actor, serving, beat_due = opened
        # For the first welcome only: a later hello reads the roles afresh.
        self._opening_actor: Actor | None = actor
        self.provider_ids = actor.provider_ids
        self.hello_done = False
        # Offers this socket announced and not yet saw withdrawn: offer id -> contact id.
        self.offers_shown: dict[int, str | None] = {}
        # Contacts being sent as contact.assigned: contact id -> done.
        self._showing: dict[int, asyncio.Future] = {}
        self._last_heartbeat = 0.0
        self._snapshot_task: asyncio.Task | None = None
        self._last_queue: list[dict] | None = None  # the queue this socket last sent
        self._queue_changed_at = 0.0  # when the last queue.changed came (time.monotonic)
        # Its contacts' groups too, with the others in one subscription: the
        # welcome reads their replays after this, and re-reads which contacts
        # are served, so one assigned or ended meanwhile is joined or left
        # then (`_welcome`). Nothing a socket receives before its welcome is
        # delivered anyway (no cursor yet).
        self.contact_pks.update(serving)
        await self.join_all(
            [
                supporter_group(self.supporter.pk),
                *(provider_queue_group(p) for p in sorted(self.provider_ids)),
                *([national_queue_group()] if actor.national_agent else []),
                *(contact_group(public_id) for public_id in serving),
            ]
        )
        # Queue reads that start from now on are no older than what this
        # socket will hear of live (realtime/consumers/queue_share.py).
        self.subscribed_at = time.monotonic()
        await self.start()
        await self.heartbeat(force=True, write=beat_due)

    def log_ref(self) -> str:
        supporter = getattr(self, "supporter", None)
        return f"supporter {supporter.pk if supporter else '-'}; " + super().log_ref()

    async def on_disconnect(self) -> None:
        supporter = getattr(self, "supporter", None)
        if supporter is None:
            return
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()
        try:
            remaining = await presence.socket_closed(supporter.pk, self.channel_name)
            if remaining == 0:
                await db(_routing().set_presence, supporter=supporter, presence="offline")
        except Exception:
            log.warning("presence update failed for supporter %s", supporter.pk, exc_info=True)

    async def heartbeat(self, *, force: bool = False, write: bool = True) -> None:
        """Sign of life: at once on connect, else batched with the worker's others.

        `write` False (on connect): the supporter's heartbeat row is fresh;
        the socket is only counted in presence.
        """
        now = time.monotonic()
        if not force and now - self._last_heartbeat < HEARTBEAT_EVERY_S:
            return
        self._last_heartbeat = now
        if not force:
            heartbeats.beat(self.supporter.pk, self.channel_name)
            return
        try:
            # Written before the connect completes, so routing may offer work
            # at once; a storm of reconnecting consoles shares the writes.
            await heartbeats.alive_now(self.supporter.pk, self.channel_name, write=write)
        except Exception:
            log.warning("heartbeat failed for supporter %s", self.supporter.pk, exc_info=True)

    # -- serving set -------------------------------------------------------------

    async def resync_serving(self) -> dict[str, int]:
        """Join and leave the contacts the supporter serves now, and show new ones.

        A contact served but never shown on this socket (taken in another
        tab, handed over by a colleague, assigned while the channel layer was
        away) is sent like a pick: `contact.assigned` with its transcript.
        Before the welcome, the welcome shows them.
        """
        serving = await console_db(serving_contact_ids, self.supporter)
        new = {p: pk for p, pk in serving.items() if p not in self.contact_pks}
        if new:
            self.contact_pks.update(new)
            await self.join_all([contact_group(public_id) for public_id in new])
        for public_id in [p for p in self.contact_pks if p not in serving]:
            await self.stop_serving(public_id)
        if self.hello_done:
            for public_id, pk in serving.items():
                if public_id not in self.cursors:  # no cursor: never shown here
                    await self.assigned(pk)
        return serving

    async def start_serving(self, public_id: str, pk: int) -> None:
        self.contact_pks[public_id] = pk
        await self.join(contact_group(public_id))

    async def stop_serving(self, public_id: str) -> None:
        await video_signalling.stop_for_socket(self, public_id, reason="left")
        self.contact_pks.pop(public_id, None)
        self.cursors.pop(public_id, None)
        self.own_seqs.pop(public_id, None)
        await self.leave(contact_group(public_id))

    def serving_pk(self, public_id: str) -> int:
        pk = self.contact_pks.get(public_id)
        if pk is None:
            raise NotAllowed("you do not serve this contact")
        return pk

    async def assigned(self, contact_id: int) -> None:
        """After a won accept/pick: join the contact and send it with its transcript.

        The snapshot task and the frame handlers may both come to show the
        same contact at once: the second waits for the first's frame.
        """
        showing = self._showing.get(contact_id)
        if showing is not None:
            await asyncio.shield(showing)
            return
        showing = self._showing[contact_id] = asyncio.get_running_loop().create_future()
        try:
            await self._show(contact_id)
        finally:
            del self._showing[contact_id]
            showing.set_result(None)

    async def _show(self, contact_id: int) -> None:
        data = await console_db(_contact_data, self.supporter, contact_id)
        public_id = data["id"]
        await self.start_serving(public_id, contact_id)
        # Read after joining: a message stored in between arrives as an event
        # and is either in this replay or above its cursor.
        replay = await db(
            message_service.replay, contact_id=contact_id, after_seq=0, for_customer=False
        )
        self.cursors[public_id] = replay.last_seq
        await self.send_json(
            {"type": "contact.assigned", "contact": data, "messages": replay.messages}
        )
        # Guides for what the customer wrote so far and the topic they chose.
        said = [data.get("description") or ""] + [
            m.get("body") or "" for m in replay.messages if m.get("author") == "customer"
        ]
        suggestions.schedule(
            contact=public_id,
            language=data.get("language") or "fi",
            text="\n".join(t for t in said if t),
            topic=data.get("topic"),
        )

    # -- frames ----------------------------------------------------------------------

    async def on_ping(self, frame: Frame) -> None:
        if self._session_expires is not None and timezone.now() >= self._session_expires:
            log.info("console session expired; closing (%s)", self.log_ref())
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        await self.send_json({"type": "pong"})
        await self.heartbeat()

    async def queue_for(self, actor: Actor, *, not_before: float, read=None) -> list[dict]:
        """This console's queue list from its worker's shared read (queue_share.py).

        `read`, one already fetched for the providers the socket subscribed
        to, is used when the actor's providers are still the same.
        """
        if read is None or {p.id for p in read.providers} != set(actor.provider_ids):
            read = await queue_share.shared_read(actor.provider_ids, not_before=not_before)
        return serializers.for_viewer(queue_rows(read, self.supporter, actor), self.supporter)

    async def on_hello(self, frame: Frame) -> None:
        # No older than the socket's subscription, nor than a queue.changed
        # it has already heard.
        not_before = max(self.subscribed_at, self._queue_changed_at)
        # The queue read (shared with the worker's other consoles) and the
        # console's own reads go on at the same time.
        actor, self._opening_actor = self._opening_actor, None
        welcome, read = await asyncio.gather(
            console_db(_welcome, self.supporter, dict(self.contact_pks), frame["contacts"], actor),
            queue_share.shared_read(self.provider_ids, not_before=not_before),
        )
        # The contacts served changed since the socket joined their groups:
        # join and leave, then read again (a later read is after the join).
        attempts = 1
        while "frame" not in welcome:
            if attempts == _WELCOME_ATTEMPTS:
                raise Conflict("the contacts you serve keep changing; say hello again")
            attempts += 1
            for public_id in welcome["leave"]:
                await self.stop_serving(public_id)
            if welcome["join"]:
                self.contact_pks.update(welcome["join"])
                await self.join_all([contact_group(p) for p in welcome["join"]])
            welcome = await console_db(
                _welcome, self.supporter, dict(self.contact_pks), frame["contacts"], actor
            )
        welcome["frame"]["queue"] = await self.queue_for(
            welcome["actor"], not_before=not_before, read=read
        )
        self.cursors.update(welcome["cursors"])
        self.hello_done = True
        self._last_queue = welcome["frame"]["queue"]
        self.offers_shown = {o["offer"]: o["contact"]["id"] for o in welcome["frame"]["offers"]}
        await self.send_json(welcome["frame"])

    async def on_message_send(self, frame: Frame, kind: str = Message.Kind.TEXT) -> None:
        result = await post_message(
            contact_id=self.serving_pk(frame["contact"]),
            client_msg_id=frame["client_msg_id"],
            body=frame["body"],
            supporter=self.supporter,
            kind=kind,
        )
        await self.send_json(self.ack(result))

    async def on_note_add(self, frame: Frame) -> None:
        await self.on_message_send(frame, kind=Message.Kind.NOTE)

    async def on_article_share(self, frame: Frame) -> None:
        result = await db(
            _share_article,
            self.supporter,
            self.serving_pk(frame["contact"]),
            frame["article"],
            frame["client_msg_id"],
        )
        await self.send_json(self.ack(result))

    async def on_typing(self, frame: Frame) -> None:
        self.serving_pk(frame["contact"])
        await apublish(
            contact_group(frame["contact"]),
            {
                "type": "typing",
                "contact": frame["contact"],
                "who": "supporter",
                "active": frame["active"],
            },
        )

    async def on_receipt(self, frame: Frame) -> None:
        await db(
            message_service.mark_read,
            contact_id=self.serving_pk(frame["contact"]),
            read_seq=frame["read_seq"],
            delivered_seq=self.cursors.get(frame["contact"], 0),
            supporter=self.supporter,
        )

    async def on_presence_set(self, frame: Frame) -> None:
        await db(_routing().set_presence, supporter=self.supporter, presence=frame["presence"])
        self.supporter.presence = frame["presence"]
        await self.send_json({"type": "presence", "presence": frame["presence"]})

    async def on_offer_accept(self, frame: Frame) -> None:
        self.offers_shown.pop(frame["offer"], None)
        contact_id = await db(_accept, self.supporter, frame["offer"])
        await self.assigned(contact_id)

    async def on_offer_decline(self, frame: Frame) -> None:
        await db(_routing().decline_offer, offer_id=frame["offer"], supporter=self.supporter)

    async def on_contact_pick(self, frame: Frame) -> None:
        contact_id = await db(_pick, self.supporter, frame["contact"])
        await self.assigned(contact_id)

    async def on_contact_transfer(self, frame: Frame) -> None:
        self.serving_pk(frame["contact"])
        contact = await db(
            _routing().transfer_contact,
            public_id=frame["contact"],
            supporter=self.supporter,
            to_supporter_id=frame["to_supporter"],
            to_provider_id=frame["to_provider"],
            to_region_code=frame["to_region"],
            note=frame["note"],
        )
        await self.handed_over(frame["contact"], contact)

    async def on_contact_escalate(self, frame: Frame) -> None:
        self.serving_pk(frame["contact"])
        contact = await db(
            _routing().escalate_contact,
            public_id=frame["contact"],
            supporter=self.supporter,
            note=frame["note"],
        )
        await self.handed_over(frame["contact"], contact)

    async def on_contact_end(self, frame: Frame) -> None:
        self.serving_pk(frame["contact"])
        contact = await db(
            _routing().end_contact,
            public_id=frame["contact"],
            supporter=self.supporter,
            outcome=frame["outcome"],
            topic_slug=frame["topic"],
        )
        await self.handed_over(frame["contact"], contact)

    async def handed_over(self, public_id: str, contact: Contact) -> None:
        """After end/transfer/escalate: leave the contact and confirm its new state.

        The confirmation is sent directly because the routing event may reach
        this socket only after it has left the contact's group.
        """
        await video_signalling.stop_for_socket(self, public_id, reason=str(contact.state))
        await self.stop_serving(public_id)
        await self.send_json(
            {"type": "contact.state", "contact": public_id, "state": contact.state}
        )

    async def on_hold(self, frame: Frame) -> None:
        self.serving_pk(frame["contact"])
        await db(_routing().hold_contact, public_id=frame["contact"], supporter=self.supporter)

    async def on_resume(self, frame: Frame) -> None:
        self.serving_pk(frame["contact"])
        await db(_routing().resume_contact, public_id=frame["contact"], supporter=self.supporter)

    # -- events ------------------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        contact = event.get("contact")
        if kind == "message.new":
            if contact in self.contact_pks:
                await self.deliver_message(contact, event["message"])
            return
        if kind == "queue.changed":
            # The snapshot it leads to must be read after this moment.
            self._queue_changed_at = time.monotonic()
            self.schedule_snapshot()
            return
        if kind == "supporter.presence":
            if event.get("supporter") == self.supporter.pk:
                self.supporter.presence = event.get("presence")
                await self.send_json({"type": "presence", "presence": event.get("presence")})
            return
        # A contact's own frames follow its welcome: its group is joined as
        # the socket opens, before the console knows the contact.
        if kind in ("typing", "message.receipt"):
            if self._welcomed(contact) and event.get("who") != "supporter":
                await self.send_json(event)
            return
        if kind == "suggestions":
            if self._welcomed(contact):
                await self.send_json(event)
            return
        if kind == "queue.position" or kind == "queue.closed":
            return  # for the customer's page
        if kind in _RESYNC_EVENTS:
            await self.resync_serving()
        if kind == "offer.new" and isinstance(event.get("offer"), int):
            self.offers_shown[event["offer"]] = (event.get("contact") or {}).get("id")
        elif kind == "offer.withdrawn":
            self.offers_shown.pop(event.get("offer"), None)
        if kind == "phone.transfer":
            await self.phone_transfer(event)
            return
        if kind in ("offer.new", "offer.withdrawn", "contact.state", "phone.call"):
            await self.send_json(serializers.for_viewer(event, self.supporter))

    def _welcomed(self, contact: str | None) -> bool:
        return self.hello_done and contact in self.contact_pks

    async def phone_transfer(self, event: dict) -> None:
        """A warm transfer's state; the target of a handover gets the contact like a pick."""
        public_id = event.get("contact")
        # Not shown yet (no cursor): the socket may have joined it already,
        # silently, when another event made it re-read what it serves.
        # Before the welcome, the welcome shows it.
        if (
            event.get("state") == "handed_over"
            and self.hello_done
            and public_id not in self.cursors
        ):
            serving = await console_db(serving_contact_ids, self.supporter)
            if public_id in serving:
                await self.assigned(serving[public_id])
        await self.send_json(serializers.for_viewer(event, self.supporter))

    async def resync_state(self) -> None:
        """After a channel-layer fault: served contacts, offers and the queue, re-read.

        Offers the console shows that are no longer pending are withdrawn, and
        pending ones it never heard of are offered, so its list matches the
        database without a reload.
        """
        if not self.hello_done:
            return
        before = set(self.contact_pks)
        await self.resync_serving()
        for public_id in before - set(self.contact_pks):
            state = await db(
                lambda pid: (
                    Contact.objects.values_list("state", flat=True).filter(public_id=pid).first()
                ),
                public_id,
            )
            if state:
                frame = {"type": "contact.state", "contact": public_id, "state": state}
                await self.send_json(frame)
        offers = await console_db(pending_offers, self.supporter)
        pending = {offer["offer"]: offer for offer in offers}
        for offer_id in sorted(self.offers_shown.keys() - pending.keys()):
            contact = self.offers_shown.pop(offer_id)
            await self.send_json(
                {
                    "type": "offer.withdrawn",
                    "offer": offer_id,
                    "contact": contact,
                    "reason": "unavailable",
                }
            )
        for offer_id, offer in pending.items():
            if offer_id not in self.offers_shown:
                self.offers_shown[offer_id] = offer["contact"]["id"]
                await self.send_json(
                    serializers.for_viewer({"type": "offer.new", **offer}, self.supporter)
                )
        self._queue_changed_at = time.monotonic()
        self.schedule_snapshot()

    def schedule_snapshot(self) -> None:
        """Coalesce bursts of queue.changed into at most one snapshot per second."""
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        self._snapshot_task = asyncio.get_running_loop().create_task(self._send_snapshot())

    async def _send_snapshot(self) -> None:
        try:
            # Jittered, so that the supporters of one provider do not all
            # query at the same instant after one queue change.
            delay = getattr(settings, "CHAT_SNAPSHOT_DELAY_S", SNAPSHOT_EVERY_S)
            await asyncio.sleep(delay * (1 + random.random()))
            # Another tab of this supporter may have taken a contact: routing
            # tells the provider queues, not this socket's contact groups.
            await self.resync_serving()
            actor = await console_db(_actor, self.supporter)
            while True:
                changed_at = self._queue_changed_at
                queue = await self.queue_for(actor, not_before=changed_at)
                if self._queue_changed_at == changed_at:
                    break
                # Changed again while this read was on its way (this task
                # being busy, the event scheduled nothing): read once more.
            if _queue_key(queue) == _queue_key(self._last_queue):
                return  # nothing this supporter sees changed
            self._last_queue = queue
            await self.send_json({"type": "queue.snapshot", "queue": queue})
        except asyncio.CancelledError:
            pass
        except Exception:
            log.warning("queue snapshot failed for %s", self.log_ref(), exc_info=True)
