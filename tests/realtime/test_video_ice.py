"""ICE servers from settings (never a public fallback), TURN REST credentials, SDP checks."""

import base64
import hashlib
import hmac

import pytest
from django.core.exceptions import ImproperlyConfigured

from realtime.protocol import ProtocolError
from realtime.video import frames, turn
from realtime.video.ice import RelayUnavailable, ice_config, relay_required

SECRET = "s3cret"


def test_turn_credential_is_the_rest_api_scheme():
    cred = turn.issue(secret=SECRET, peer_id="abc.c", ttl_s=600, now=1_700_000_000)
    assert cred.username == "1700000600:abc.c"
    expected = hmac.new(SECRET.encode(), b"1700000600:abc.c", hashlib.sha1).digest()
    assert base64.b64decode(cred.credential) == expected
    assert turn.is_valid(cred.username, cred.credential, secret=SECRET, now=1_700_000_599)
    # Expired, wrong secret, tampered username: refused.
    assert not turn.is_valid(cred.username, cred.credential, secret=SECRET, now=1_700_000_600)
    assert not turn.is_valid(cred.username, cred.credential, secret="other", now=1_700_000_000)
    assert not turn.is_valid("1800000000:abc.c", cred.credential, secret=SECRET, now=0)
    with pytest.raises(ValueError):
        turn.issue(secret=SECRET, peer_id="a:b", ttl_s=600)
    with pytest.raises(ValueError):
        turn.issue(secret="", peer_id="a", ttl_s=600)


def test_no_servers_configured_means_an_empty_list(settings):
    settings.STUN_URL = settings.TURN_URL = settings.TURN_SECRET = ""
    config = ice_config(peer_id="x.c", relay_only=False)
    assert config.ice_servers == [] and config.ice_transport_policy == "all"
    with pytest.raises(RelayUnavailable):
        ice_config(peer_id="x.c", relay_only=True)


def test_servers_come_only_from_settings(settings):
    settings.STUN_URL = "stun:stun.example.fi:3478"
    settings.TURN_URL = "turn:turn.example.fi:3478?transport=udp, turns:turn.example.fi:5349"
    settings.TURN_SECRET = SECRET
    settings.TURN_CREDENTIAL_TTL_S = 300
    config = ice_config(peer_id="sess.s", relay_only=False, now=1000)
    assert config.ice_servers[0] == {"urls": ["stun:stun.example.fi:3478"]}
    server = config.ice_servers[1]
    assert server["urls"] == [
        "turn:turn.example.fi:3478?transport=udp",
        "turns:turn.example.fi:5349",
    ]
    assert server["username"] == "1300:sess.s"
    assert config.as_frame()["expires_at"].startswith("1970-01-01T00:21:40")
    relay = ice_config(peer_id="sess.s", relay_only=True, now=1000)
    assert relay.ice_transport_policy == "relay"
    assert [s["urls"][0] for s in relay.ice_servers] == ["turn:turn.example.fi:3478?transport=udp"]
    settings.STUN_URL = "https://stun.l.google.com"
    with pytest.raises(ImproperlyConfigured):
        ice_config(peer_id="sess.s", relay_only=False)


def test_static_credentials_and_turn_without_credentials(settings):
    settings.STUN_URL = ""
    settings.TURN_URL = "turn:127.0.0.1:3478"
    settings.TURN_SECRET = ""
    settings.TURN_USERNAME = settings.TURN_CREDENTIAL = ""
    with pytest.raises(RelayUnavailable):
        ice_config(peer_id="x.c", relay_only=True)
    settings.TURN_USERNAME, settings.TURN_CREDENTIAL = "user", "pass"
    config = ice_config(peer_id="x.c", relay_only=True)
    assert config.ice_servers[0]["username"] == "user" and config.expires_at is None


def test_relay_rule_follows_the_permission_table(settings):
    settings.VIDEO_RELAY_POLICY = "volunteers"
    assert relay_required(supporter_id=5, supporter_kind="volunteer")
    assert not relay_required(supporter_id=5, supporter_kind="staff")
    settings.VIDEO_RELAY_POLICY = "always"
    assert relay_required(supporter_id=5, supporter_kind="staff")
    settings.VIDEO_RELAY_POLICY = "never"
    with pytest.raises(ImproperlyConfigured):
        relay_required(supporter_id=5, supporter_kind="staff")


CHROME_CANDIDATES = [
    "candidate:842163049 1 udp 1677729535 203.0.113.1 61234 typ srflx raddr 192.168.1.2"
    " rport 61234 generation 0 ufrag EsAw network-cost 999",
    "candidate:1 1 udp 2113937151 3c2e7b8a-1e2f-4c9d-a1b2-0123456789ab.local 54321 typ host"
    " generation 0 ufrag EsAw network-cost 999",
    "candidate:2 1 tcp 1518280447 192.168.1.2 9 typ host tcptype active generation 0",
    "candidate:3 1 udp 41885439 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0 generation 0",
]


@pytest.mark.parametrize("line", CHROME_CANDIDATES)
def test_real_candidate_lines_pass(line):
    parsed = frames.candidate("candidate", {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0})
    assert parsed["candidate"] == line


def test_end_of_candidates_passes():
    assert frames.candidate("c", {"candidate": "", "sdpMid": "0"})["candidate"] == ""


def test_relay_only_sdp_keeps_relay_candidates_only():
    sdp = (
        "v=0\no=- 1 2 IN IP4 10.0.0.5\ns=-\nt=0 0\nm=audio 5000 UDP/TLS/RTP/SAVPF 111\n"
        "c=IN IP4 10.0.0.5\na=rtcp:5001 IN IP4 10.0.0.5\n"
        "a=candidate:1 1 udp 2130706431 10.0.0.5 5000 typ host\n"
        "a=candidate:9 1 udp 16777215 127.0.0.1 6000 typ relay raddr 10.0.0.5 rport 5000\n"
    )
    out = frames.relay_only_sdp(frames.sdp("sdp", sdp))
    assert "typ host" not in out and "typ relay" in out
    assert "c=IN IP4 0.0.0.0" in out and "a=rtcp:5001 IN IP4 0.0.0.0" in out
    assert "raddr 0.0.0.0 rport 0" in out
    assert out.splitlines()[1] == "o=- 1 2 IN IP4 0.0.0.0"
    assert "10.0.0.5" not in out


def test_an_sdp_that_is_not_sdp_is_invalid():
    with pytest.raises(ProtocolError) as caught:
        frames.sdp("sdp", "v=0\nhello\n")
    assert caught.value.code == "invalid"
