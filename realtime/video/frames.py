"""Inbound video signalling frames (`rtc.*`): their schemas and the SDP and ICE candidate checks.

SDP and candidates come from the browser and go to the other participant's
browser, so they are checked here for size, type and structure: an SDP must
look like SDP (RFC 8866: `v=0` first, one `<letter>=<value>` per line, the
session lines present, at least one media section), a candidate must look
like an ICE candidate line (RFC 8839). What fails is answered with `invalid`
and never relayed. `relay_only_sdp` and `is_relay_candidate` keep host and
server-reflexive addresses out of relay-only sessions (realtime/video/ice.py).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from realtime.protocol import ProtocolError, choice, integer, optional, required

MEDIA_KINDS = ("video", "screen")
STOP_KINDS = ("video", "screen", "all")
MAX_CANDIDATE_CHARS = 1024
MAX_SDP_LINES = 2000

_ID = re.compile(r"^[0-9a-f]{32}$")
_SDP_LINE = re.compile(r"^[a-z]=[\x20-\x7e]*$")
_CANDIDATE = re.compile(
    r"^(?:a=)?candidate:[!-~]{1,32} \d{1,3} (?:udp|tcp|UDP|TCP) \d{1,10} [!-~]{1,255} \d{1,5}"
    r" typ (?P<typ>host|srflx|prflx|relay)(?: [!-~]+)*$"
)
_RELATED = re.compile(r" raddr \S+ rport \d+")
_ADDRESS_LINE = re.compile(r"^(c=IN IP[46] |a=rtcp:\d+ IN IP[46] |o=\S+ \d+ \d+ IN IP[46] )\S+$")
_SDP_MID = re.compile(r"^[!-~]{1,32}$")


def _invalid(detail: str) -> ProtocolError:
    return ProtocolError("invalid", detail)


def session_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise _invalid(f"{name} must be an id of 32 hex digits")
    return value


def sdp(name: str, value: Any) -> str:
    """A session description: size, characters and RFC 8866 structure."""
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    limit = settings.VIDEO_MAX_SDP_BYTES
    if len(value) > limit:
        raise ProtocolError("too_large", f"{name} is over {limit} bytes")
    lines = value.replace("\r\n", "\n").rstrip("\n").split("\n")
    if len(lines) > MAX_SDP_LINES:
        raise _invalid(f"{name} has more than {MAX_SDP_LINES} lines")
    if not lines or lines[0] != "v=0":
        raise _invalid(f"{name} must be a session description starting with v=0")
    for line in lines:
        if not _SDP_LINE.match(line):
            raise _invalid(f"{name} has a line that is not <letter>=<printable text>")
    letters = [line[0] for line in lines]
    first_media = letters.index("m") if "m" in letters else -1
    session = letters[:first_media] if first_media >= 0 else letters
    if not {"o", "s", "t"} <= set(session):
        raise _invalid(f"{name} lacks its o=, s= or t= line")
    if first_media < 0:
        raise _invalid(f"{name} has no media section (m=)")
    for line in lines:
        if line.startswith("a=candidate:") and not _CANDIDATE.match(line):
            raise _invalid(f"{name} has a malformed candidate line")
    return value


def candidate(name: str, value: Any) -> dict[str, Any]:
    """An RTCIceCandidateInit: {candidate, sdpMid, sdpMLineIndex, usernameFragment}."""
    if not isinstance(value, dict):
        raise _invalid(f"{name} must be an object")
    line = value.get("candidate")
    if not isinstance(line, str) or len(line) > MAX_CANDIDATE_CHARS:
        raise _invalid(f"{name}.candidate must be a string of at most {MAX_CANDIDATE_CHARS}")
    if line and not _CANDIDATE.match(line):
        raise _invalid(f"{name}.candidate is not an ICE candidate line")
    mid = value.get("sdpMid")
    if mid is not None and (not isinstance(mid, str) or not _SDP_MID.match(mid)):
        raise _invalid(f"{name}.sdpMid must be a short string or null")
    index = value.get("sdpMLineIndex")
    if index is not None:
        index = integer(0, 63)(f"{name}.sdpMLineIndex", index)
    if mid is None and index is None:
        raise _invalid(f"{name} needs sdpMid or sdpMLineIndex")
    fragment = value.get("usernameFragment")
    if fragment is not None and (not isinstance(fragment, str) or not _SDP_MID.match(fragment)):
        raise _invalid(f"{name}.usernameFragment must be a short string or null")
    return {
        "candidate": line,
        "sdpMid": mid,
        "sdpMLineIndex": index,
        "usernameFragment": fragment,
    }


def candidate_type(line: str) -> str | None:
    match = _CANDIDATE.match(line)
    return match.group("typ") if match else None


def is_relay_candidate(line: str) -> bool:
    return candidate_type(line) == "relay"


def hide_related_address(line: str) -> str:
    """A relay candidate names the client's own address as `raddr`: blank it."""
    return _RELATED.sub(" raddr 0.0.0.0 rport 0", line)


def relay_only_sdp(text: str) -> str:
    """The SDP with only relay candidates, and no address in its o=, c= or a=rtcp lines."""
    newline = "\r\n" if "\r\n" in text else "\n"
    out = []
    for line in text.replace("\r\n", "\n").rstrip("\n").split("\n"):
        if line.startswith("a=candidate:"):
            if not is_relay_candidate(line):
                continue
            line = hide_related_address(line)
        else:
            match = _ADDRESS_LINE.match(line)
            if match:
                line = match.group(1) + ("0.0.0.0" if "IP4" in match.group(1) else "::")
        out.append(line)
    return newline.join(out) + newline


def schemas(contact_field) -> dict[str, dict[str, dict]]:
    """The rtc.* schemas for each side; `contact_field` is the supporter's contact field."""
    common = {
        "rtc.propose": {"kind": required(choice(MEDIA_KINDS))},
        "rtc.accept": {"proposal": required(session_id)},
        "rtc.decline": {"proposal": required(session_id)},
        "rtc.candidate": {"session": required(session_id), "candidate": required(candidate)},
        "rtc.stop": {"kind": optional(choice(STOP_KINDS), "all")},
        "rtc.ice": {"session": required(session_id)},
    }
    # The customer always makes the offers (the first and every renegotiation,
    # such as adding or stopping a screen share); the supporter answers. One
    # offerer means offers never collide.
    offer = {"session": required(session_id), "sdp": required(sdp)}
    customer = {**common, "rtc.offer": offer}
    supporter = {
        kind: {**fields, "contact": contact_field}
        for kind, fields in {**common, "rtc.answer": offer}.items()
    }
    return {"customer": customer, "supporter": supporter}


SDP_FRAMES = frozenset({"rtc.offer", "rtc.answer"})
