"""Inbound WebSocket frames: their schemas and the one parser that checks them.

Every frame a browser sends passes `parse_frame` before a consumer acts on it;
whatever is wrong comes back as a `ProtocolError` carrying the error code of
docs/protocol.md, so a consumer can answer with an `error` frame and keep the
socket open. Fields not in a schema are ignored (newer clients may send more).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from helpdesk.untrusted import json_problem, printable_ref, text_problem

CUSTOMER = "customer"
SUPPORTER = "supporter"

MAX_CLIENT_MSG_ID = 64
MAX_NOTE_CHARS = 2000
MAX_HELLO_CONTACTS = 100
PRESENCES = ("available", "busy", "away")
OUTCOMES = ("solved", "partly", "referred", "not_solved")


class ProtocolError(Exception):
    def __init__(self, code: str, detail: str, ref: str | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Frame:
    type: str
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


_MISSING = object()
Check = Callable[[str, Any], Any]


def _invalid(name: str, what: str) -> ProtocolError:
    return ProtocolError("invalid", f"{name} must be {what}")


def integer(minimum: int = 0, maximum: int = 2**31 - 1) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(name, "an integer")
        if not minimum <= value <= maximum:
            raise _invalid(name, f"between {minimum} and {maximum}")
        return value

    return check


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(name, "true or false")
    return value


def nullable_boolean(name: str, value: Any) -> bool | None:
    return None if value is None else boolean(name, value)


def text(max_chars: int, *, min_chars: int = 0, too_large: bool = False) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _invalid(name, "a string")
        problem = text_problem(value)
        if problem:
            raise ProtocolError("invalid", f"{name} {problem}")
        if len(value) > max_chars:
            code = "too_large" if too_large else "invalid"
            raise ProtocolError(code, f"{name} is over {max_chars} characters")
        if len(value.strip()) < min_chars:
            raise _invalid(name, "a non-empty string")
        return value

    return check


def body(name: str, value: Any) -> str:
    return text(settings.CHAT_MAX_MESSAGE_CHARS, min_chars=1, too_large=True)(name, value)


def public_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise _invalid(name, "a contact id")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _invalid(name, "a contact id") from None


def choice(options: tuple[str, ...]) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in options:
            raise _invalid(name, "one of " + ", ".join(options))
        return value

    return check


def article_id(name: str, value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and 0 < len(value) <= 200 and text_problem(value) is None:
        return value
    raise _invalid(name, "an article id")


def hello_contacts(name: str, value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or len(value) > MAX_HELLO_CONTACTS:
        raise _invalid(name, f"an object of at most {MAX_HELLO_CONTACTS} contact ids")
    check_seq = integer()
    return {public_id(name, key): check_seq(name, seq) for key, seq in value.items()}


@dataclass(frozen=True, slots=True)
class Field:
    check: Check
    default: Any = _MISSING  # _MISSING: required


def required(check: Check) -> Field:
    return Field(check)


def optional(check: Check, default: Any = None) -> Field:
    return Field(check, default)


CLIENT_MSG_ID = required(text(MAX_CLIENT_MSG_ID, min_chars=1))
CONTACT = required(public_id)

_COMMON: dict[str, dict[str, Field]] = {
    "ping": {},
    "message.send": {"client_msg_id": CLIENT_MSG_ID, "body": required(body)},
    "typing": {"active": required(boolean)},
    "receipt": {"read_seq": required(integer())},
}

SCHEMAS: dict[str, dict[str, dict[str, Field]]] = {
    CUSTOMER: {
        **_COMMON,
        "hello": {"last_seq": optional(integer(), 0)},
        "contact.end": {},
        "feedback": {
            "rating": required(integer(1, 5)),
            "comment": optional(text(2000, too_large=True), ""),
            "can_do_myself": optional(nullable_boolean),
        },
    },
    SUPPORTER: {
        **{kind: {**fields, "contact": CONTACT} for kind, fields in _COMMON.items()},
        "ping": {},
        "hello": {"contacts": optional(hello_contacts, {})},
        "presence.set": {"presence": required(choice(PRESENCES))},
        "offer.accept": {"offer": required(integer(1))},
        "offer.decline": {"offer": required(integer(1))},
        "contact.pick": {"contact": CONTACT},
        "note.add": {"contact": CONTACT, "client_msg_id": CLIENT_MSG_ID, "body": required(body)},
        "article.share": {
            "contact": CONTACT,
            "article": required(article_id),
            "client_msg_id": CLIENT_MSG_ID,
        },
        "contact.transfer": {
            "contact": CONTACT,
            "to_supporter": optional(integer(1)),
            "to_provider": optional(integer(1)),
            "to_region": optional(text(2, min_chars=2)),
            "note": optional(text(MAX_NOTE_CHARS), ""),
        },
        "contact.escalate": {"contact": CONTACT, "note": optional(text(MAX_NOTE_CHARS), "")},
        "contact.end": {
            "contact": CONTACT,
            "outcome": optional(choice(OUTCOMES), ""),
            "topic": optional(text(64, min_chars=1)),
        },
        "hold": {"contact": CONTACT},
        "resume": {"contact": CONTACT},
    },
}


def _register_video_frames() -> None:
    # Video signalling frames live with the rest of video (realtime/video/frames.py).
    from realtime.video.frames import schemas

    for side, extra in schemas(CONTACT).items():
        SCHEMAS[side].update(extra)


_register_video_frames()


def _max_frame_bytes(kind: Any = _MISSING) -> int:
    """Chat frames are small; an SDP offer or answer may be larger (before parsing: either)."""
    from realtime.video.frames import SDP_FRAMES

    if kind is _MISSING or (isinstance(kind, str) and kind in SDP_FRAMES):
        return max(settings.CHAT_MAX_FRAME_BYTES, settings.VIDEO_MAX_SDP_BYTES + 1024)
    return settings.CHAT_MAX_FRAME_BYTES


def _check_size(raw: str | bytes, kind: Any) -> None:
    limit = _max_frame_bytes(kind)
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ProtocolError("too_large", f"frame is over {limit} bytes")


def _decode(raw: str | bytes | None) -> dict[str, Any]:
    if raw is None:
        raise ProtocolError("invalid_json", "empty frame")
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > _max_frame_bytes():
        raise ProtocolError("too_large", f"frame is over {_max_frame_bytes()} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProtocolError("invalid_json", "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_json", "frame is not a JSON object")
    problem = json_problem(data)
    if problem:
        # NUL, a lone surrogate or absurd nesting anywhere, even in fields
        # the schema ignores: nothing of it may reach the database or a log.
        raise ProtocolError("invalid", f"frame: {problem}", _ref(data, data.get("type")))
    return data


def _ref(data: dict[str, Any], kind: Any) -> str | None:
    """What the error names: only ever a string safe to echo (never a lone surrogate)."""
    client_msg_id = printable_ref(data.get("client_msg_id"), max_chars=MAX_CLIENT_MSG_ID)
    if client_msg_id:
        return client_msg_id
    return printable_ref(kind, max_chars=40)


def parse_frame(raw: str | bytes | None, *, side: str) -> Frame:
    """Decode and check one inbound frame for `side` (CUSTOMER or SUPPORTER)."""
    data = _decode(raw)
    _check_size(raw, data.get("type"))
    kind = data.get("type")
    schema = SCHEMAS[side].get(kind) if isinstance(kind, str) else None
    if schema is None:
        ref = printable_ref(kind, max_chars=40)
        raise ProtocolError("unknown_type", "type is missing or unknown for this side", ref)
    values: dict[str, Any] = {}
    for name, spec in schema.items():
        value = data.get(name, _MISSING)
        if value is _MISSING or (value is None and spec.default is not _MISSING):
            if spec.default is _MISSING:
                raise ProtocolError("invalid", f"{name} is required", _ref(data, kind))
            values[name] = spec.default
            continue
        try:
            values[name] = spec.check(name, value)
        except ProtocolError as exc:
            exc.ref = _ref(data, kind)
            raise
    return Frame(kind, values)
