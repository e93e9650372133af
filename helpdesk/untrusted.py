"""Checks for text that comes from outside, before anything else touches it.

PostgreSQL `text` cannot hold NUL (psycopg raises DataError), and a lone
surrogate (`\\ud800`, which browsers' JSON.stringify can produce) cannot be
encoded as UTF-8 at all: stored it fails, echoed back in a frame it kills the
socket. Both are refused at the edge, in frames (realtime/protocol.py) and
in HTTP requests (helpdesk/input_guard.py), with the documented error codes.
"""

from __future__ import annotations

import math
from typing import Any

# Nesting deeper than this in a JSON body or frame is refused: no form or
# frame of the platform nests more than a few levels.
MAX_JSON_DEPTH = 32


def text_problem(value: str) -> str | None:
    """Why `value` cannot be accepted as text, or None when it can."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def is_clean(value: Any) -> bool:
    return isinstance(value, str) and text_problem(value) is None


def printable_ref(value: Any, *, max_chars: int = 64) -> str | None:
    """`value` when it is safe to echo back to a client, else None."""
    if isinstance(value, str) and len(value) <= max_chars and text_problem(value) is None:
        return value
    return None


def json_problem(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """The first problem in decoded JSON: a bad string (keys too) or too deep a nesting.

    Iterative, so that a hostile document cannot exhaust the stack here.
    """
    stack: list[tuple[Any, int, str]] = [(data, 1, "$")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return f"{where} {problem}"
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                return f"nesting deeper than {max_depth} levels"
            if isinstance(value, dict):
                for key, item in value.items():
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem:
                        return f"a key at {where} {problem}"
                    stack.append((item, depth + 1, f"{where}.{printable_ref(key) or '?'}"))
            else:
                stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{where} is not a finite number"
    return None
