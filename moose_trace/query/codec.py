"""JSON in and out of the query tool: ``loads`` for log lines, ``dumps`` for what it writes.

``import orjson`` also imports ``dataclasses``, ``inspect`` and ``uuid``: more start-up than a
whole ``--trace`` lookup (see ``python -X importtime -c "import orjson"``). So the lines
the Python engine reads — a trace's few lines, the new lines of ``--follow`` — are decoded by
the standard library's C decoder, and orjson is imported only when something is written as JSON,
where the volume is. Full scans do not come through here: DuckDB parses those files itself.

``loads`` reads a line as orjson does, so that what it reads can be written again: ``NaN``,
``Infinity``, numbers too large for a double, lone ``\\uD800``-style surrogates and nesting too
deep to decode are refused, and integers outside orjson's 64-bit range become floats. Every
refusal is a ``ValueError``.
"""

from __future__ import annotations

import functools
import json
import math
from types import ModuleType
from typing import Any

__all__ = ["dumps", "dumps_text", "loads"]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:40]} is too large for a double")
    return value


def _int(text: str) -> int | float:
    value = int(text)
    return value if -(2**63) <= value < 2**64 else _float(text)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_float, parse_int=_int)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(
            _has_lone_surrogate(key) or _has_lone_surrogate(item) for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def loads(data: str | bytes) -> Any:
    """Return the value of one JSON document; ``ValueError`` if orjson would refuse it."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        value = _DECODER.decode(text)
        # a surrogate can only come from an escape; orjson refuses an unpaired one
        if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
            raise ValueError("lone surrogate escape in a string")
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return value


@functools.cache
def _orjson() -> ModuleType:
    import orjson  # noqa: PLC0415 (imported on first write: see the module doc)

    return orjson


def dumps(value: Any) -> bytes:
    """Return ``value`` as compact JSON (UTF-8 bytes, no trailing newline)."""
    data: bytes = _orjson().dumps(value)
    return data


def dumps_text(value: Any) -> str:
    """Return ``value`` as compact JSON text."""
    return dumps(value).decode()
