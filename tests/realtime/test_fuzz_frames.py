"""Nothing a client sends takes a socket down or reaches a server error.

Real consumers behind real WebsocketCommunicators, customer and supporter:
malformed, oversized, non-UTF-8 (binary), NUL- and surrogate-bearing and
out-of-order frames. After every batch: no `internal` error, no ERROR log
record (a worker traceback), and the socket still answers `ping`.
"""

from __future__ import annotations

import json
import logging

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async as adb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpdesk import db_async
from realtime.protocol import CUSTOMER, SCHEMAS, SUPPORTER
from tests.realtime.conftest import customer_client, supporter_client
from tests.realtime.helpers import make_pair

pytestmark = [pytest.mark.django_db(transaction=True)]

BAD_TEXT = ["a\u0000b", "\ud800", "x\udfffy"]
BAD_TEXT_FIELDS = [
    # (side, frame without the bad field, the field that gets the bad text)
    (CUSTOMER, {"type": "message.send", "client_msg_id": "c1", "body": "hi"}, "body"),
    (CUSTOMER, {"type": "message.send", "client_msg_id": "c1", "body": "hi"}, "client_msg_id"),
    (CUSTOMER, {"type": "feedback", "rating": 4, "comment": "ok"}, "comment"),
    (CUSTOMER, {"type": "hello"}, "type"),
    (SUPPORTER, {"type": "message.send", "client_msg_id": "s1", "body": "hi"}, "body"),
    (SUPPORTER, {"type": "note.add", "client_msg_id": "n1", "body": "hi"}, "body"),
    (SUPPORTER, {"type": "note.add", "client_msg_id": "n1", "body": "hi"}, "client_msg_id"),
    (SUPPORTER, {"type": "contact.escalate", "note": "x"}, "note"),
    (SUPPORTER, {"type": "contact.transfer", "to_region": "01"}, "to_region"),
    (SUPPORTER, {"type": "contact.end", "outcome": "solved", "topic": "banking"}, "topic"),
    (SUPPORTER, {"type": "article.share", "client_msg_id": "a1", "article": "x"}, "article"),
    (SUPPORTER, {"type": "ping"}, "type"),
]


def _encoded(frame: dict) -> str:
    # ensure_ascii: lone surrogates become \\udXXX escapes, as browsers send them.
    return json.dumps(frame, ensure_ascii=True)


async def _open(app, side: str, pair):
    provider, supporter, contact = pair
    if side == CUSTOMER:
        return await customer_client(app, contact)
    return await supporter_client(app, supporter.user, hello={})


async def _alive(client) -> list[dict]:
    """Every frame up to the pong of a fresh ping (the socket must still answer)."""
    await client.send({"type": "ping"})
    frames = []
    while True:
        frame = await client.recv()
        if frame.get("type") == "pong":
            return frames
        frames.append(frame)


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize(("side", "frame", "field"), BAD_TEXT_FIELDS)
async def test_nul_and_lone_surrogates_are_invalid_in_every_field(
    ws_app, transactional_db, side, frame, field, bad
):
    pair = await adb(make_pair)()
    client = await _open(ws_app, side, pair)
    frame = dict(frame)
    if side == SUPPORTER and frame["type"] != "ping":
        frame["contact"] = str(pair[2].public_id)
    frame[field] = bad if field == "type" else frame[field] + bad
    await client.send(_encoded(frame))
    error = await client.expect("error")
    assert error["code"] in ("invalid", "unknown_type"), error
    # The ref is never the unencodable text (that would kill the socket).
    assert error["ref"] is None or "\u0000" not in error["ref"]
    json.dumps(error["ref"]).encode("utf-8")
    await _alive(client)
    await client.disconnect()


# --- property-based: random batches of frames -------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(BAD_TEXT),
    st.text(alphabet=st.characters(categories=["Cs", "Cc"]), max_size=4),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _typed_frames(side: str):
    kinds = sorted(SCHEMAS[side])
    fields = sorted({name for schema in SCHEMAS[side].values() for name in schema})

    def build(kind, extra):
        return _encoded({"type": kind, **extra})

    return st.builds(
        build,
        st.sampled_from(kinds),
        st.dictionaries(st.sampled_from(fields), _values, max_size=4),
    )


_TEMPLATES = [
    {"type": "message.send", "client_msg_id": "m", "body": "hei"},
    {"type": "note.add", "client_msg_id": "n", "body": "muistiin"},
    {"type": "feedback", "rating": 4, "comment": "kiitos", "can_do_myself": True},
    {"type": "contact.escalate", "note": "KN"},
    {"type": "contact.transfer", "to_region": "01", "note": "x"},
    {"type": "contact.end", "outcome": "solved", "topic": "banking"},
    {"type": "receipt", "read_seq": 1},
    {"type": "hello", "last_seq": 0, "contacts": {}},
    {"type": "typing", "active": True},
]


def _near_valid(side: str):
    """A well-formed frame of this side with one field swapped for a drawn value."""
    templates = [t for t in _TEMPLATES if t["type"] in SCHEMAS[side]]

    def build(template, field, value, unique):
        frame = {**template, "contact": "CONTACT"} if side == SUPPORTER else dict(template)
        if "client_msg_id" in frame:
            frame["client_msg_id"] = f"{frame['client_msg_id']}-{unique}"
        frame[field] = value
        return _encoded(frame)

    bad = st.sampled_from(BAD_TEXT).map(lambda b: "ok" + b)
    return st.sampled_from(templates).flatmap(
        lambda template: st.builds(
            build,
            st.just(template),
            st.sampled_from(sorted(template)),
            st.one_of(bad, _values),
            st.uuids().map(str),
        )
    )


def _frames(side: str):
    raw_text = st.one_of(
        st.text(max_size=50),
        st.just("{" * 5000),
        st.just("[" * 100_000),
        st.just('{"type": "message.send", "body": "' + "x" * 20_000 + '"}'),
        st.just('{"type": "ping", "n": 1' + "0" * 5000 + "}"),
        st.just('{"type": "hello", "last_seq": 1e999}'),
        st.just('{"type": "receipt", "read_seq": NaN}'),
        st.builds(lambda v: json.dumps(v, ensure_ascii=True), _values),
    )
    binary = st.binary(max_size=64).map(lambda b: ("bytes", b))
    return st.lists(
        st.one_of(
            _near_valid(side),
            _near_valid(side),
            _typed_frames(side),
            raw_text,
            binary,
            st.just("\xff\xfe"),
        ),
        min_size=1,
        max_size=6,
    )


def _run_batch(app, pair, side: str, frames: list) -> None:
    async def run():
        client = await _open(app, side, pair)
        contact = str(pair[2].public_id)
        try:
            for frame in frames:
                if isinstance(frame, str):
                    frame = frame.replace('"CONTACT"', json.dumps(contact))
                # Straight to the app: the communicator refuses empty frames.
                if isinstance(frame, tuple):
                    message = {"type": "websocket.receive", "bytes": frame[1]}
                else:
                    message = {"type": "websocket.receive", "text": frame}
                await client.ws.send_input(message)
            seen = await _alive(client)
            internal = [f for f in seen if f.get("type") == "error" and f["code"] == "internal"]
            assert not internal, (frames, internal)
        finally:
            await client.disconnect()
            await db_async.close()

    async_to_sync(run)()


@pytest.mark.parametrize("side", [CUSTOMER, SUPPORTER])
def test_random_frames_never_reach_a_server_error(ws_app, transactional_db, side, caplog):
    pair = make_pair()
    caplog.set_level(logging.ERROR)

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(frames=_frames(side))
    def check(frames):
        _run_batch(ws_app, pair, side, frames)

    check()
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks[:5]]


def test_out_of_order_frames_are_answered_not_dropped(ws_app, transactional_db):
    provider, supporter, contact = make_pair()

    async def run():
        customer = await customer_client(ws_app, contact, hello=None)
        # Before hello, twice hello, feedback before the end, send after the end.
        await customer.send({"type": "message.send", "client_msg_id": "early", "body": "hei"})
        await customer.send({"type": "hello", "last_seq": 99})
        await customer.send({"type": "hello", "last_seq": 0})
        await customer.send({"type": "receipt", "read_seq": 10**6})
        await customer.send({"type": "feedback", "rating": 5})
        await customer.send({"type": "contact.end"})
        await customer.send({"type": "contact.end"})
        await customer.send({"type": "message.send", "client_msg_id": "late", "body": "hei"})
        seen = await _alive(customer)
        assert not [f for f in seen if f.get("code") == "internal"], seen
        assert any(f.get("code") == "conflict" and f.get("ref") == "late" for f in seen), seen
        console = await supporter_client(ws_app, supporter.user, hello=None)
        await console.send(
            {
                "type": "message.send",
                "contact": str(contact.public_id),
                "client_msg_id": "s",
                "body": "x",
            }
        )
        await console.send({"type": "offer.accept", "offer": 2**31 - 1})
        await console.send({"type": "contact.pick", "contact": str(contact.public_id)})
        await console.send({"type": "hold", "contact": str(contact.public_id)})
        seen = await _alive(console)
        assert not [f for f in seen if f.get("code") == "internal"], seen
        await customer.disconnect()
        await console.disconnect()
        await db_async.close()

    async_to_sync(run)()
