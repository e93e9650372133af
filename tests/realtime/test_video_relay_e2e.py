"""Two aiortc peers signal through the platform's real WebSocket endpoints, relay-only.

Two live uvicorn processes (tests/conftest.py `asgi_servers`), one per side,
serve a contact of a volunteer, so the platform requires relay-only ICE; the TURN server is
the session's throwaway coturn on loopback (tests/turn.py). The customer and
the supporter each run an aiortc peer configured only with what `rtc.start`
gave them (no public STUN fallback), exchange camera frames both ways and a
data-channel message, and neither sees a host or server-reflexive candidate.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from channels.db import database_sync_to_async as adb
from django.test import Client as HttpClient

from helpdesk.models import ContactEvent
from helpdesk.tokens import make_contact_token
from tests.realtime.helpers import make_pair
from tests.realtime.test_e2e_two_processes import Peer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) (\d+) typ (\S+)", re.MULTILINE)


def configuration(start: dict) -> RTCConfiguration:
    """Exactly the servers the platform sent: aiortc would otherwise use a public STUN server."""
    servers = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in start["ice_servers"]
    ]
    policy = RTCIceTransportPolicy(start["ice_transport_policy"])
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


def relay_only(sdp: str) -> str:
    """aiortc does not trickle: its candidates are in the SDP; keep the relay ones only."""
    lines = sdp.splitlines()
    kept = [line for line in lines if not line.startswith("a=candidate:") or " typ relay" in line]
    return "\r\n".join(kept) + "\r\n"


def candidate_types(sdp: str) -> list[str]:
    return [typ for _, _, typ in CANDIDATE.findall(sdp)]


def candidate_ports(sdp: str) -> list[int]:
    return [int(port) for _, port, _ in CANDIDATE.findall(sdp)]


async def frames_from(track, count: int) -> list:
    return [await asyncio.wait_for(track.recv(), 20) for _ in range(count)]


def nominated_types(pc: RTCPeerConnection) -> set[tuple[str, str]]:
    """The local and remote candidate types of the pairs ICE chose (aioice internals)."""
    found = set()
    for transceiver in pc.getTransceivers():
        connection = transceiver.sender.transport.transport.iceGatherer._connection
        for pair in connection._nominated.values():
            found.add((pair.local_candidate.type, pair.remote_candidate.type))
    return found


async def test_two_aiortc_peers_through_coturn_relay_only(asgi_servers, coturn):
    def setup():
        _, volunteer, contact = make_pair(kind="volunteer")
        http = HttpClient()
        http.force_login(volunteer.user)
        return contact, http.cookies["sessionid"].value

    contact, cookie = await adb(setup)()
    # Customer and supporter on two worker processes: signals cross the channel layer.
    server_a, server_b = await asyncio.to_thread(
        asgi_servers, 2, STUN_URL="", TURN_URL=coturn.url, TURN_SECRET=coturn.secret
    )
    cid = str(contact.public_id)
    customer = await Peer.open(
        f"{server_a.ws_url}/ws/contact/?token={make_contact_token(contact.public_id)}",
        server_a.url,
    )
    console = await Peer.open(
        f"{server_b.ws_url}/ws/console/", server_b.url, {"Cookie": f"sessionid={cookie}"}
    )
    pcs: list[RTCPeerConnection] = []
    try:
        await customer.send({"type": "hello", "last_seq": 0})
        await console.send({"type": "hello", "contacts": {}})
        await customer.wait_for(lambda f: f["type"] == "welcome")
        await console.wait_for(lambda f: f["type"] == "welcome")

        await console.send({"type": "rtc.propose", "contact": cid, "kind": "video"})
        proposal = await customer.wait_for(lambda f: f["type"] == "rtc.proposal")
        await customer.send({"type": "rtc.accept", "proposal": proposal["proposal"]})
        mine = await customer.wait_for(lambda f: f["type"] == "rtc.start")
        theirs = await console.wait_for(lambda f: f["type"] == "rtc.start")
        session = mine["session"]
        for start in (mine, theirs):
            assert start["ice_transport_policy"] == "relay"
            assert [s["urls"] for s in start["ice_servers"]] == [[coturn.url]]

        # The customer offers: camera video and a data channel.
        caller = RTCPeerConnection(configuration(mine))
        callee = RTCPeerConnection(configuration(theirs))
        pcs += [caller, callee]
        caller.addTrack(VideoStreamTrack())
        channel = caller.createDataChannel("chat")
        got_message = asyncio.get_running_loop().create_future()
        caller_tracks: asyncio.Queue = asyncio.Queue()
        callee_tracks: asyncio.Queue = asyncio.Queue()

        @caller.on("track")
        def _caller_track(track):
            caller_tracks.put_nowait(track)

        @callee.on("track")
        def _callee_track(track):
            callee_tracks.put_nowait(track)

        @callee.on("datachannel")
        def _datachannel(incoming):
            @incoming.on("message")
            def _message(message):
                if not got_message.done():
                    got_message.set_result(message)

        @channel.on("open")
        def _open():
            channel.send("Näkyykö kuva?")

        await caller.setLocalDescription(await caller.createOffer())
        offer_sdp = relay_only(caller.localDescription.sdp)
        assert candidate_types(offer_sdp) and set(candidate_types(offer_sdp)) == {"relay"}
        await customer.send({"type": "rtc.offer", "session": session, "sdp": offer_sdp})

        offer = await console.wait_for(lambda f: f["type"] == "rtc.offer")
        await callee.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        callee.addTrack(VideoStreamTrack())
        await callee.setLocalDescription(await callee.createAnswer())
        answer_sdp = relay_only(callee.localDescription.sdp)
        await console.send(
            {"type": "rtc.answer", "contact": cid, "session": session, "sdp": answer_sdp}
        )
        answer = await customer.wait_for(lambda f: f["type"] == "rtc.answer")
        await caller.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

        # What each side learnt of the other: relay candidates only.
        for received in (offer["sdp"], answer["sdp"]):
            types = candidate_types(received)
            assert types and set(types) == {"relay"}, types
            assert "typ host" not in received and "typ srflx" not in received
            # ...allocated by this test's coturn, from its relay port range.
            assert all(coturn.min_port <= p <= coturn.max_port for p in candidate_ports(received))

        # Video frames both ways, and the data-channel message.
        frames_at_supporter = await frames_from(await asyncio.wait_for(callee_tracks.get(), 20), 5)
        frames_at_customer = await frames_from(await asyncio.wait_for(caller_tracks.get(), 20), 5)
        assert all(frame.width > 0 and frame.height > 0 for frame in frames_at_supporter)
        assert len(frames_at_customer) == 5
        assert await asyncio.wait_for(got_message, 20) == "Näkyykö kuva?"
        for pc in pcs:
            assert nominated_types(pc) == {("relay", "relay")}

        await customer.send({"type": "rtc.stop", "kind": "all"})
        stopped = await console.wait_for(lambda f: f["type"] == "rtc.stopped")
        assert stopped["ended"] and stopped["by"] == "customer"
        kinds = await adb(
            lambda: list(
                ContactEvent.objects.filter(contact=contact, kind__startswith="video.")
                .order_by("id")
                .values_list("kind", flat=True)
            )
        )()
        assert kinds == ["video.proposed", "video.started", "video.stopped"]
    finally:
        for pc in pcs:
            await pc.close()
        await customer.close()
        await console.close()


async def _relay_candidates(coturn, username: str, password: str) -> list:
    from aioice import Connection, TransportPolicy

    connection = Connection(
        ice_controlling=True,
        turn_server=("127.0.0.1", coturn.port),
        turn_username=username,
        turn_password=password,
        transport_policy=TransportPolicy.RELAY,
    )
    try:
        await connection.gather_candidates()
        return [c for c in connection.local_candidates if c.type == "relay"]
    finally:
        await connection.close()


async def test_coturn_takes_our_credentials_until_they_expire(coturn):
    """The REST credentials the platform issues open a relay on coturn; expired ones do not."""
    import time

    from realtime.video import turn

    fresh = turn.issue(secret=coturn.secret, peer_id="check.c", ttl_s=60)
    assert len(await _relay_candidates(coturn, fresh.username, fresh.credential)) == 1
    expired = turn.issue(secret=coturn.secret, peer_id="check.c", ttl_s=60, now=time.time() - 120)
    assert await _relay_candidates(coturn, expired.username, expired.credential) == []
    forged = turn.issue(secret="not-the-secret", peer_id="check.c", ttl_s=60)
    assert await _relay_candidates(coturn, forged.username, forged.credential) == []
