"""The sink's lines: each event as one JSON line the table stores intact, whatever it holds.

``encode_event`` never raises: a value JSON cannot hold (an int beyond 64 bits, a lone
surrogate, an object) becomes its text, so a strange field never costs the event.
``is_event_line`` tells a line ClickHouse stores as it is from one it would store damaged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from moose_trace._text import safe_str

__all__ = ["count_lines", "encode_event", "is_event_line"]

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> str:
    return _utf8(safe_str(value))


def _utf8(text: str) -> str:
    # A lone surrogate ("s\udcff", from a mis-decoded file name) is not UTF-8: keep it visible.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def encode_event(event: Mapping[str, Any] | bytes) -> bytes:
    """Return one JSON line for ``event``; never raises (odd values become text)."""
    if isinstance(event, bytes):
        # One event, one line: a line break between JSON tokens is only whitespace.
        return event.strip().replace(b"\n", b" ").replace(b"\r", b" ")
    try:
        return orjson.dumps(event, default=_default, option=_JSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        # e.g. an int beyond 64 bits, a lone surrogate: keep the event, such values as text.
        return orjson.dumps(
            {_utf8(safe_str(key)): _encodable(value) for key, value in event.items()}
        )


def _encodable(value: Any) -> Any:
    try:
        return orjson.Fragment(orjson.dumps(value, default=_default, option=_JSON_OPTIONS))
    except (TypeError, orjson.JSONEncodeError):
        return _utf8(safe_str(value))


def is_event_line(line: bytes) -> bool:
    """Return whether ``line`` is one JSON object ClickHouse stores intact (valid UTF-8, no raw
    control bytes: both would be stored damaged)."""
    if not line.startswith(b"{"):
        return False
    try:
        return type(orjson.loads(line)) is dict
    except orjson.JSONDecodeError:
        return False


def count_lines(data: bytes) -> int:
    """The number of lines in a batch's JSON Lines ``data``."""
    return data.count(b"\n") + 1 if data else 0
