"""Structured logs: every line carries the request or socket it belongs to.

RequestIdMiddleware gives each HTTP request an id (the proxy's X-Request-ID when
it is a sane token, else a new one), answers it in X-Request-ID and keeps it
in a context variable; consumers bind a socket id the same way
(`bind_socket`). ContextFilter copies both onto every log record, and
JsonFormatter writes one JSON object a line when LOG_FORMAT=json, for a log
shipper. Message bodies and phone numbers are never logged (STYLE.md), so
nothing here needs masking.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
socket_id: contextvars.ContextVar[str] = contextvars.ContextVar("socket_id", default="-")

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def new_id() -> str:
    # Log correlation ids: unique enough, and secret from nobody. Drawn from
    # Python's generator, not the kernel's: every socket of a reconnect storm
    # takes one on the event loop.
    return f"{random.getrandbits(64):016x}"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SANE_ID.match(incoming) else new_id()
        token = request_id.set(rid)
        request.request_id = rid
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response


def bind_socket(consumer) -> None:
    """Give a consumer's task a socket id for its log lines (once per socket)."""
    if getattr(consumer, "socket_id", None) is None:
        consumer.socket_id = new_id()
        socket_id.set(consumer.socket_id)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.socket_id = socket_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "socket_id": getattr(record, "socket_id", "-"),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def request_id_for(incoming: str) -> str:
    """The proxy's X-Request-ID when it is a sane token, else a new id (for other entry paths)."""
    return incoming if _SANE_ID.match(incoming or "") else new_id()
