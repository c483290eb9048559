"""JSON in and out of the query tool: ``loads`` for log lines, ``dumps`` for what it writes.

``import orjson`` costs about 16 ms of start-up on the reference machine (it imports
``dataclasses``, ``inspect`` and ``uuid``): more than a whole ``--trace`` lookup. So the lines
the Python engine reads — a trace's few lines, the new lines of ``--follow`` — are decoded by
the standard library's C decoder, and orjson is imported only when something is written as JSON,
where the volume is. Full scans do not come through here: DuckDB parses those files itself.

``loads`` accepts exactly strict JSON, as orjson and DuckDB do: ``NaN`` and ``Infinity`` are
refused, and so is nesting too deep to decode. Every refusal is a ``ValueError``.
"""

from __future__ import annotations

import functools
import json
from types import ModuleType
from typing import Any

__all__ = ["dumps", "dumps_text", "loads"]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def loads(data: str | bytes) -> Any:
    """Return the value of one JSON document; ``ValueError`` if it is not strict JSON."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


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
