"""WebRTC signalling over the customer and supporter sockets (docs/protocol.md, "Video").

The consumers hand every `rtc.*` frame and event here. Proposals, answers to
them and stops go through helpdesk/services/video.py, which checks that the
sender is a participant of a contact in service and records them. Offers,
answers and ICE candidates are checked (realtime/video/frames.py) and
relayed straight to the one socket at the other end of the session, through
the channel layer, without touching the database.

Each socket remembers the sessions it is an endpoint of (`Endpoint`): the
peer's socket and whether the session is relay-only, in which case host and
server-reflexive candidates are never passed on and addresses are blanked
from SDP. The memory dies with the socket; on disconnect, or when the
contact leaves service, the socket's session is stopped in the database too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from helpdesk.models.contacts import IN_SERVICE_STATES, TERMINAL_STATES
from helpdesk.services import video
from helpdesk.services.errors import Conflict, NotAllowed
from realtime.events import asend_to_socket
from realtime.protocol import CUSTOMER, Frame
from realtime.video import frames
from realtime.video.ice import RelayUnavailable, ice_config

log = logging.getLogger(__name__)

# Signals that arrive before their session's rtc.start (the channel layer
# does not order a group's events against one socket's), kept briefly.
PENDING_MAX = 200
PENDING_MAX_AGE_S = 10.0


@dataclass(slots=True)
class Endpoint:
    session: str
    peer: str  # the channel name of the socket at the other end
    relay_only: bool


@dataclass(slots=True)
class SocketVideo:
    """What one socket knows about video: its sessions, proposals, early signals."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)  # contact -> endpoint
    proposed: set[str] = field(default_factory=set)  # contacts this socket proposed on
    pending: dict[str, list[tuple[float, dict]]] = field(default_factory=dict)  # session ->


def state_of(consumer) -> SocketVideo:
    state = consumer.__dict__.get("_video")
    if state is None:
        state = consumer.__dict__["_video"] = SocketVideo()
    return state


async def _db(fn, **kwargs):
    from realtime.consumers.base import db

    return await db(fn, **kwargs)


def _participant(consumer) -> video.Participant:
    return video.Participant(
        consumer.side, consumer.channel_name, getattr(consumer, "supporter", None)
    )


def _contact(consumer, frame: Frame) -> tuple[str, int]:
    """The contact the frame is about and its pk; only a participant gets this far."""
    if consumer.side == CUSTOMER:
        if consumer.state in TERMINAL_STATES:
            raise Conflict("the contact has ended")
        return consumer.contact, consumer.contact_pks[consumer.contact]
    public_id = frame["contact"]
    return public_id, consumer.serving_pk(public_id)  # NotAllowed unless serving


# -- frames from the browser -------------------------------------------------------


async def handle_frame(consumer, frame: Frame) -> None:
    contact, pk = _contact(consumer, frame)
    kind = frame.type
    who = _participant(consumer)
    if kind == "rtc.propose":
        result = await _db(video.propose, contact_id=pk, who=who, kind=frame["kind"])
        state_of(consumer).proposed.add(contact)
        await consumer.send_json(
            {
                "type": "rtc.proposed",
                "contact": contact,
                "proposal": result.proposal,
                "kind": result.kind,
                "expires_at": result.expires_at.isoformat(),
            }
        )
    elif kind == "rtc.accept":
        await _db(video.accept, contact_id=pk, who=who, proposal=frame["proposal"])
    elif kind == "rtc.decline":
        await _db(video.decline, contact_id=pk, who=who, proposal=frame["proposal"])
    elif kind == "rtc.stop":
        await _db(video.stop, contact_id=pk, who=who, kind=frame["kind"])
    elif kind == "rtc.ice":
        await _fresh_ice(consumer, contact, frame["session"])
    else:
        await _relay(consumer, contact, frame)


def _endpoint(consumer, contact: str, session: str) -> Endpoint:
    endpoint = state_of(consumer).endpoints.get(contact)
    if endpoint is None:
        raise Conflict("no video session is on for this socket")
    if session != endpoint.session:
        raise Conflict("that video session has ended")
    return endpoint


def _ice(consumer, session: str, relay_only: bool) -> dict[str, Any]:
    # One TURN username per session and side: "<expiry>:<session>.<c|s>".
    return ice_config(peer_id=f"{session}.{consumer.side[0]}", relay_only=relay_only).as_frame()


async def _fresh_ice(consumer, contact: str, session: str) -> None:
    """New TURN credentials for a long session, before the old ones expire."""
    endpoint = _endpoint(consumer, contact, session)
    try:
        ice = _ice(consumer, session, endpoint.relay_only)
    except RelayUnavailable:
        raise NotAllowed("this session needs the TURN relay and none is set up") from None
    await consumer.send_json({"type": "rtc.ice", "contact": contact, "session": session, **ice})


async def _relay(consumer, contact: str, frame: Frame) -> None:
    endpoint = _endpoint(consumer, contact, frame["session"])
    signal = frame.type.removeprefix("rtc.")
    event: dict[str, Any] = {
        "type": "rtc.signal",
        "contact": contact,
        "session": endpoint.session,
        "signal": signal,
    }
    if signal == "candidate":
        candidate = dict(frame["candidate"])
        line = candidate["candidate"]
        if endpoint.relay_only and line:
            if not frames.is_relay_candidate(line):
                raise NotAllowed("this session is relay-only: only relay candidates are passed on")
            candidate["candidate"] = frames.hide_related_address(line)
        event["candidate"] = candidate
    else:
        sdp = frame["sdp"]
        event["sdp"] = frames.relay_only_sdp(sdp) if endpoint.relay_only else sdp
    await asend_to_socket(endpoint.peer, event)


# -- events from the channel layer ----------------------------------------------------


def _frame(event: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {"type": event["type"], **{key: event.get(key) for key in keys}}


async def handle_event(consumer, event: dict[str, Any]) -> None:
    kind = event.get("type")
    contact = event.get("contact")
    if contact not in consumer.contact_pks:
        return
    state = state_of(consumer)
    if kind == "rtc.proposal":
        if event.get("by") != consumer.side:
            await consumer.send_json(
                _frame(event, ("contact", "proposal", "kind", "by", "expires_at"))
            )
    elif kind == "rtc.declined":
        await consumer.send_json(_frame(event, ("contact", "proposal", "kind", "by", "reason")))
    elif kind == "rtc.start":
        await _started(consumer, state, event)
    elif kind == "rtc.stopped":
        endpoint = state.endpoints.get(contact)
        if event.get("ended") and endpoint and endpoint.session == event.get("session"):
            del state.endpoints[contact]
        await consumer.send_json(
            _frame(event, ("contact", "session", "stopped", "kinds", "ended", "by", "reason"))
        )
    elif kind == "rtc.signal":
        await _signal(consumer, state, event)


async def _started(consumer, state: SocketVideo, event: dict[str, Any]) -> None:
    contact, session = event["contact"], event["session"]
    sockets = event.get("sockets") or {}
    frame = _frame(event, ("contact", "session", "proposal", "kind", "kinds", "by"))
    if sockets.get(consumer.side) != consumer.channel_name:
        # Another tab of this side has the session: this one only shows it.
        await consumer.send_json({**frame, "here": False})
        return
    other = "supporter" if consumer.side == CUSTOMER else "customer"
    relay_only = bool(event.get("relay_only"))
    state.endpoints[contact] = Endpoint(session, sockets.get(other, ""), relay_only)
    try:
        ice = _ice(consumer, session, relay_only)
    except RelayUnavailable:
        log.error("contact %s: relay-only session %s without a TURN server", contact, session)
        await stop_for_socket(consumer, contact, reason="no_relay")
        return
    await consumer.send_json(
        {
            **frame,
            "here": True,
            "new_session": bool(event.get("new_session")),
            # The customer makes every offer, the supporter answers them.
            "role": "offerer" if consumer.side == CUSTOMER else "answerer",
            **ice,
        }
    )
    for _, early in state.pending.pop(session, []):
        await _signal(consumer, state, early)


async def _signal(consumer, state: SocketVideo, event: dict[str, Any]) -> None:
    contact, session = event["contact"], event["session"]
    endpoint = state.endpoints.get(contact)
    if endpoint is None or endpoint.session != session:
        now = time.monotonic()
        for key in [k for k, v in state.pending.items() if now - v[0][0] > PENDING_MAX_AGE_S]:
            del state.pending[key]
        queue = state.pending.setdefault(session, [])
        if len(queue) < PENDING_MAX:
            queue.append((now, event))
        return
    frame = {"type": "rtc." + event["signal"], "contact": contact, "session": session}
    if event["signal"] == "candidate":
        frame["candidate"] = event["candidate"]
    else:
        frame["sdp"] = event["sdp"]
    await consumer.send_json(frame)


# -- the socket leaves ------------------------------------------------------------------


async def stop_for_socket(consumer, contact: str, *, reason: str) -> None:
    """End what this socket started or joined on `contact` (disconnect, contact left service)."""
    state = state_of(consumer)
    had = state.endpoints.pop(contact, None) is not None
    proposed = contact in state.proposed
    state.proposed.discard(contact)
    pk = consumer.contact_pks.get(contact)
    if not (had or proposed) or pk is None:
        return
    try:
        await _db(video.release_socket, contact_id=pk, socket=consumer.channel_name, reason=reason)
    except Exception:
        log.warning("contact %s: could not release the video session", contact, exc_info=True)


async def contact_state_changed(consumer, event: dict[str, Any]) -> None:
    state = event.get("state")
    contact = event.get("contact")
    if state in IN_SERVICE_STATES or contact not in consumer.contact_pks:
        return
    await stop_for_socket(consumer, contact, reason=str(state))


async def socket_closed(consumer) -> None:
    state = state_of(consumer)
    for contact in set(state.endpoints) | set(state.proposed):
        await stop_for_socket(consumer, contact, reason="disconnected")
