"""Video signalling over the customer and supporter sockets (docs/protocol.md, "Video").

Only the two participants of a contact in service exchange signals; anyone
else, and anyone after the contact ended, gets an error frame; malformed SDP
and candidates get `invalid`. Relay-only sessions (volunteers) never pass on
a host or server-reflexive address. Starts and stops are ContactEvents.
"""

import pytest
from channels.db import database_sync_to_async as adb

from helpdesk.models import ContactEvent
from realtime.video import turn
from tests.factories import make_provider, make_supporter
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_contact, make_pair

pytestmark = [pytest.mark.django_db(transaction=True)]

SECRET = "test-turn-secret"
SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 192.0.2.10\r\n"
    "a=mid:0\r\na=rtpmap:96 VP8/90000\r\n"
    "a=candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host\r\n"
    "a=candidate:2 1 udp 1694498815 198.51.100.7 50001 typ srflx raddr 192.0.2.10 rport 50000\r\n"
    "a=candidate:3 1 udp 16777215 203.0.113.5 60000 typ relay raddr 198.51.100.7 rport 50001\r\n"
)
HOST = {"candidate": "candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host", "sdpMid": "0"}
RELAY = {
    "candidate": (
        "candidate:3 1 udp 16777215 203.0.113.5 60000 typ relay raddr 198.51.100.7 rport 50001"
    ),
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


@pytest.fixture(autouse=True)
def ice_settings(settings):
    settings.STUN_URL = "stun:127.0.0.1:3478"
    settings.TURN_URL = "turn:127.0.0.1:3478?transport=udp"
    settings.TURN_SECRET = SECRET
    settings.TURN_CREDENTIAL_TTL_S = 600
    settings.VIDEO_RELAY_POLICY = "volunteers"


def video_events(contact):
    return list(
        ContactEvent.objects.filter(contact=contact, kind__regex=r"^(video|screen)\.")
        .order_by("id")
        .values_list("kind", "data__reason")
    )


async def want(client, frame_type: str, **match) -> dict:
    """The next frame of `frame_type` whose fields equal `match` (which may name `kind`)."""
    while True:
        frame = await client.expect(frame_type)
        if all(frame.get(key) == value for key, value in match.items()):
            return frame


async def connect(ws_app, contact, supporter):
    customer = await customer_client(ws_app, contact)
    console = await supporter_client(ws_app, supporter.user, hello={})
    return customer, console


async def start_video(customer, console, contact_id: str) -> tuple[dict, dict]:
    await console.send({"type": "rtc.propose", "contact": contact_id, "kind": "video"})
    proposed = await console.expect("rtc.proposed")
    proposal = await want(customer, "rtc.proposal", kind="video", by="supporter")
    assert proposal["proposal"] == proposed["proposal"]
    await customer.send({"type": "rtc.accept", "proposal": proposal["proposal"]})
    return await customer.expect("rtc.start"), await console.expect("rtc.start")


async def test_participants_signal_share_screen_and_hang_up(ws_app, reference_data):
    _, supporter, contact = await adb(make_pair)(kind="staff")
    cid = str(contact.public_id)
    customer, console = await connect(ws_app, contact, supporter)

    mine, theirs = await start_video(customer, console, cid)
    session = mine["session"]
    assert theirs["session"] == session and mine["here"] and theirs["here"]
    assert (mine["role"], theirs["role"]) == ("offerer", "answerer")
    assert mine["kinds"] == ["video"] and mine["new_session"]
    # Staff: the direct path is allowed; the ICE servers are ours, never a public one.
    assert mine["ice_transport_policy"] == "all"
    urls = [u for server in mine["ice_servers"] for u in server["urls"]]
    assert urls == ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"]
    turn_server = mine["ice_servers"][1]
    assert turn_server["username"].endswith(f":{session}.c")
    assert turn.is_valid(turn_server["username"], turn_server["credential"], secret=SECRET)
    assert theirs["ice_servers"][1]["username"].endswith(f":{session}.s")

    # Offer, answer and candidates go to the other participant unchanged.
    await customer.send({"type": "rtc.offer", "session": session, "sdp": SDP})
    offer = await console.expect("rtc.offer")
    assert offer == {"type": "rtc.offer", "contact": cid, "session": session, "sdp": SDP}
    await console.send({"type": "rtc.answer", "contact": cid, "session": session, "sdp": SDP})
    assert (await customer.expect("rtc.answer"))["sdp"] == SDP
    await customer.send({"type": "rtc.candidate", "session": session, "candidate": HOST})
    got = await console.expect("rtc.candidate")
    assert got["candidate"]["candidate"] == HOST["candidate"]
    await console.send(
        {"type": "rtc.candidate", "contact": cid, "session": session, "candidate": RELAY}
    )
    await customer.expect("rtc.candidate")

    # The customer offers their screen; the supporter accepts; the same session renegotiates.
    await customer.send({"type": "rtc.propose", "kind": "screen"})
    proposed = await want(customer, "rtc.proposed", kind="screen")
    await want(console, "rtc.proposal", kind="screen", by="customer")
    await console.send({"type": "rtc.accept", "contact": cid, "proposal": proposed["proposal"]})
    screen = await want(customer, "rtc.start", kind="screen")
    assert screen["session"] == session and screen["kinds"] == ["screen", "video"]
    assert not screen["new_session"]
    await want(console, "rtc.start", kind="screen")
    await customer.send({"type": "rtc.offer", "session": session, "sdp": SDP})
    await console.expect("rtc.offer")

    # The customer stops sharing at any time; video goes on.
    await customer.send({"type": "rtc.stop", "kind": "screen"})
    stopped = await console.expect("rtc.stopped")
    assert stopped["stopped"] == ["screen"] and stopped["kinds"] == ["video"]
    assert not stopped["ended"] and stopped["by"] == "customer"

    # The supporter ends the contact: the session stops with it, and signals are refused.
    await console.send({"type": "contact.end", "contact": cid, "outcome": "solved"})
    await customer.expect("contact.state", state="ended")
    await customer.send({"type": "rtc.offer", "session": session, "sdp": SDP})
    assert (await customer.error("conflict"))["ref"] == "rtc.offer"
    await customer.send({"type": "rtc.propose", "kind": "video"})
    await customer.error("conflict")
    await console.send(
        {"type": "rtc.candidate", "contact": cid, "session": session, "candidate": HOST}
    )
    await console.error("not_allowed")
    events = await adb(video_events)(contact)
    assert events == [
        ("video.proposed", None),
        ("video.started", None),
        ("screen.proposed", None),
        ("screen.started", None),
        ("screen.stopped", "stopped"),
        ("video.stopped", "ended"),
    ]
    await customer.disconnect()
    await console.disconnect()


async def test_only_the_participants_and_only_while_in_service(ws_app, reference_data):
    provider, supporter, contact = await adb(make_pair)(kind="staff")
    cid = str(contact.public_id)
    other = await adb(make_supporter)(providers=[provider], presence="available")
    waiting = await adb(make_contact)(state="waiting")
    customer, console = await connect(ws_app, contact, supporter)
    stranger = await supporter_client(ws_app, other.user, hello={})
    queued = await customer_client(ws_app, waiting)

    mine, _ = await start_video(customer, console, cid)
    session = mine["session"]
    # A supporter who does not serve the contact gets nothing through.
    for frame in (
        {"type": "rtc.propose", "contact": cid, "kind": "video"},
        {"type": "rtc.accept", "contact": cid, "proposal": "a" * 32},
        {"type": "rtc.answer", "contact": cid, "session": session, "sdp": SDP},
        {"type": "rtc.candidate", "contact": cid, "session": session, "candidate": RELAY},
        {"type": "rtc.stop", "contact": cid},
    ):
        await stranger.send(frame)
        await stranger.error("not_allowed")
    # A customer still in the queue cannot start video.
    await queued.send({"type": "rtc.propose", "kind": "video"})
    await queued.error("conflict")
    # A proposal is answered by the other side only, once.
    await customer.send({"type": "rtc.propose", "kind": "screen"})
    proposed = await customer.expect("rtc.proposed")
    await customer.send({"type": "rtc.propose", "kind": "screen"})  # asked once is enough
    assert "already proposed" in (await customer.error("conflict"))["detail"]
    await customer.send({"type": "rtc.accept", "proposal": proposed["proposal"]})
    await customer.error("not_allowed")
    await console.send({"type": "rtc.decline", "contact": cid, "proposal": proposed["proposal"]})
    declined = await customer.expect("rtc.declined")
    assert declined["reason"] == "declined" and declined["by"] == "supporter"
    await console.send({"type": "rtc.accept", "contact": cid, "proposal": proposed["proposal"]})
    await console.error("conflict")
    # A signal for another session id is refused.
    await customer.send({"type": "rtc.offer", "session": "b" * 32, "sdp": SDP})
    await customer.error("conflict")
    await console.nothing()
    assert stranger.seen[-1]["type"] == "error"
    for client in (customer, console, stranger, queued):
        await client.disconnect()


async def test_malformed_signals_are_invalid(ws_app, reference_data, settings):
    _, supporter, contact = await adb(make_pair)(kind="staff")
    cid = str(contact.public_id)
    customer, console = await connect(ws_app, contact, supporter)
    mine, _ = await start_video(customer, console, cid)
    session = mine["session"]
    await console.drain()
    bad_sdps = [
        "",
        42,
        {"sdp": SDP},
        "hello world",
        "v=1\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 RTP/AVP 96\r\n",
        "v=0\r\ns=-\r\nt=0 0\r\nm=video 9 RTP/AVP 96\r\n",  # no o=
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",  # no media
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9\x00\r\n",
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 RTP/AVP 96\r\n<script>\r\n",
        SDP + "a=candidate:evil\r\n",
    ]
    for sdp in bad_sdps:
        await customer.send({"type": "rtc.offer", "session": session, "sdp": sdp})
        assert (await customer.error("invalid"))["ref"] == "rtc.offer", sdp
    settings.VIDEO_MAX_SDP_BYTES = 2000
    await customer.send({"type": "rtc.offer", "session": session, "sdp": SDP + "a=x:" + "y" * 3000})
    await customer.error("too_large")
    bad_candidates = [
        "candidate:1 1 udp 1 192.0.2.1 5 typ host",
        {"candidate": "not a candidate", "sdpMid": "0"},
        {"candidate": HOST["candidate"]},  # neither sdpMid nor sdpMLineIndex
        {"candidate": HOST["candidate"], "sdpMLineIndex": -1},
        {"candidate": HOST["candidate"] + "\r\na=evil", "sdpMid": "0"},
        {"candidate": 5, "sdpMid": "0"},
        {"candidate": HOST["candidate"], "sdpMid": "x" * 100},
    ]
    for candidate in bad_candidates:
        await customer.send({"type": "rtc.candidate", "session": session, "candidate": candidate})
        await customer.error("invalid")
    for frame in (
        {"type": "rtc.offer", "session": "not-an-id", "sdp": SDP},
        {"type": "rtc.propose", "kind": "audio"},
        {"type": "rtc.accept", "proposal": None},
        {"type": "rtc.stop", "kind": "everything"},
    ):
        await customer.send(frame)
        await customer.error("invalid")
    # Only the customer offers and only the supporter answers.
    await customer.send({"type": "rtc.answer", "session": session, "sdp": SDP})
    await customer.error("unknown_type")
    await console.send({"type": "rtc.offer", "contact": cid, "session": session, "sdp": SDP})
    await console.error("unknown_type")
    await console.nothing()
    # The socket is still open and relays a good signal afterwards.
    await customer.send({"type": "rtc.candidate", "session": session, "candidate": RELAY})
    await console.expect("rtc.candidate")
    await customer.disconnect()
    await console.disconnect()


async def test_volunteer_contacts_are_relay_only(ws_app, reference_data):
    _, volunteer, contact = await adb(make_pair)(kind="volunteer")
    cid = str(contact.public_id)
    customer, console = await connect(ws_app, contact, volunteer)
    mine, theirs = await start_video(customer, console, cid)
    session = mine["session"]
    for side in (mine, theirs):
        assert side["ice_transport_policy"] == "relay"
        assert [s["urls"] for s in side["ice_servers"]] == [["turn:127.0.0.1:3478?transport=udp"]]
    # Host and server-reflexive candidates never reach the other side...
    await customer.send({"type": "rtc.candidate", "session": session, "candidate": HOST})
    await customer.error("not_allowed")
    await console.nothing()
    # ...a relay candidate does, without the client's own address as raddr...
    await customer.send({"type": "rtc.candidate", "session": session, "candidate": RELAY})
    got = (await console.expect("rtc.candidate"))["candidate"]["candidate"]
    assert "typ relay" in got and "198.51.100.7" not in got and "raddr 0.0.0.0 rport 0" in got
    # ...and SDP keeps only relay candidates and no address in c= lines.
    await customer.send({"type": "rtc.offer", "session": session, "sdp": SDP})
    sdp = (await console.expect("rtc.offer"))["sdp"]
    assert "typ relay" in sdp and "typ host" not in sdp and "typ srflx" not in sdp
    assert "192.0.2.10" not in sdp and "198.51.100.7" not in sdp
    assert "c=IN IP4 0.0.0.0" in sdp
    # A long session asks for fresh TURN credentials; only for its own session.
    await console.send({"type": "rtc.ice", "contact": cid, "session": session})
    fresh = await console.expect("rtc.ice")
    assert fresh["session"] == session and fresh["ice_transport_policy"] == "relay"
    server = fresh["ice_servers"][0]
    assert server["username"].endswith(f":{session}.s")
    assert turn.is_valid(server["username"], server["credential"], secret=SECRET)
    await customer.send({"type": "rtc.ice", "session": "c" * 32})
    await customer.error("conflict")
    await customer.disconnect()
    await console.disconnect()


async def test_volunteer_video_needs_a_relay(ws_app, reference_data, settings):
    settings.TURN_URL = ""
    _, volunteer, contact = await adb(make_pair)(kind="volunteer")
    customer, console = await connect(ws_app, contact, volunteer)
    await customer.send({"type": "rtc.propose", "kind": "video"})
    assert "TURN" in (await customer.error("not_allowed"))["detail"]
    await customer.disconnect()
    await console.disconnect()


async def test_a_closed_socket_ends_its_session(ws_app, reference_data):
    _, supporter, contact = await adb(make_pair)(kind="staff")
    cid = str(contact.public_id)
    customer, console = await connect(ws_app, contact, supporter)
    await start_video(customer, console, cid)
    # A proposal left open by a socket that goes away is withdrawn too.
    await console.send({"type": "rtc.propose", "contact": cid, "kind": "screen"})
    await console.expect("rtc.proposed")
    await customer.disconnect()
    stopped = await console.expect("rtc.stopped")
    assert stopped["ended"] and stopped["reason"] == "disconnected"
    events = await adb(video_events)(contact)
    assert ("video.stopped", "disconnected") in events
    await console.disconnect()
    events = await adb(video_events)(contact)
    assert events[-1] == ("screen.withdrawn", None)


async def test_staff_contacts_can_be_relay_only_always(ws_app, reference_data, settings):
    settings.VIDEO_RELAY_POLICY = "always"
    _, supporter, contact = await adb(make_pair)(kind="staff")
    customer, console = await connect(ws_app, contact, supporter)
    mine, _ = await start_video(customer, console, str(contact.public_id))
    assert mine["ice_transport_policy"] == "relay"
    await customer.disconnect()
    await console.disconnect()


def test_provider_is_not_needed_for_the_relay_rule(reference_data):
    provider = make_provider(regions=["01"])
    volunteer = make_supporter(providers=[provider], kind="volunteer")
    from realtime.video.ice import relay_required

    assert relay_required(supporter_id=volunteer.pk, supporter_kind="volunteer")
    assert not relay_required(supporter_id=volunteer.pk, supporter_kind="staff")
