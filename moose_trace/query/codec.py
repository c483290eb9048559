"""JSON in and out of the query tool: ``loads`` for log lines, ``dumps`` for what it writes.

``import orjson`` also imports ``dataclasses``, ``inspect`` and ``uuid``: more start-up than a
whole ``--trace`` lookup (see ``python -X importtime -c "import orjson"``). So the lines
the Python engine reads — a trace's few lines, the new lines of ``--follow`` — are decoded by
the standard library's C decoder, and orjson is imported only when something is written as JSON,
where the volume is. Full scans do not come through here: DuckDB parses those files itself.

``loads`` reads a line by the rules every engine follows (docs/schema.md, "Odd lines"), the
ones DuckDB applies as it scans, so a line means the same to every engine and to ``ingest``:

- a key given twice: the first value counts (as DuckDB and ClickHouse read it);
- ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a double: read as their text
  (the line stays an event; a filter reads ``1e999`` as a number, ``NaN`` as no number);
- containers nested deeper than ``MAX_DEPTH`` levels: replaced by the text ``TOO_DEEP``, so
  the event can be shown and written again as JSON;
- lone ``\\uD800``-style surrogates: not JSON (orjson could not write them again).

Every refusal is a ``ValueError``. ``loads_bulk`` gives the same answers, using orjson for the
lines whose shape lets it (the many rows of a full scan).
"""

from __future__ import annotations

import functools
import re

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

__all__ = ["MAX_DEPTH", "TOO_DEEP", "dumps", "dumps_text", "loads", "loads_bulk"]


MAX_DEPTH = 200
"""Nesting levels read: deeper containers become ``TOO_DEEP`` (orjson writes at most 254)."""

TOO_DEEP = "(nested too deep)"
"""What a container nested deeper than ``MAX_DEPTH`` is read as."""


def _constant(name: str) -> str:
    return name


_INFINITIES = (float("inf"), float("-inf"))


def _float(text: str) -> float | str:
    value = float(text)
    return text if value in _INFINITIES else value


def _int(text: str) -> int | float | str:
    value = int(text)
    return value if -(2**63) <= value < 2**64 else _float(text)


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


class _Rules:
    """What the decoder is configured with (the attributes ``json.JSONDecoder`` has)."""

    strict = True
    object_hook = None
    object_pairs_hook = staticmethod(_first_wins)
    parse_float = staticmethod(_float)
    parse_int = staticmethod(_int)
    parse_constant = staticmethod(_constant)


def _scanner() -> Callable[[str, int], tuple[Any, int]]:
    """The standard library's C scanner (what ``json.JSONDecoder`` runs), made without
    importing ``json`` (its three modules cost a trace lookup more than its lines take to
    read); ``json``'s own where there is no C accelerator."""
    try:
        from _json import make_scanner  # noqa: PLC0415
    except ImportError:  # pragma: no cover - CPython always has it
        from json.scanner import make_scanner  # noqa: PLC0415

    # typeshed types the context as the scanner class itself; any object with the attributes
    # of ``_Rules`` is what the scanner reads
    scan: Callable[[str, int], tuple[Any, int]] = make_scanner(_Rules())  # type: ignore[arg-type]
    return scan


_SCAN = _scanner()
_JSON_SPACE = " \t\n\r"


def _decode(text: str) -> Any:
    """``json.JSONDecoder.decode`` with ``_Rules``: one value, JSON whitespace around it."""
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = _SCAN(text, start)
    except StopIteration as missing:
        raise ValueError(f"Expecting value: char {missing.value}") from None
    if text[end:].strip(_JSON_SPACE):
        raise ValueError(f"Extra data: char {end}")
    return value


@functools.cache
def _tokens() -> re.Pattern[str]:
    """JSON text in strings and brackets (compiled on first use: a deep line is rare)."""
    return re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|[^"\[\]{}]+|"', re.DOTALL)


@functools.cache
def _quote_space() -> re.Pattern[bytes]:
    """A quote then JSON whitespace (compiled on first use: ``loads`` never needs it)."""
    return re.compile(rb'"[ \t\r\n]')


def _depth(text: str) -> int:
    """Return how deep containers nest in ``text`` (brackets inside strings not counted)."""
    depth = deepest = 0
    for token in _tokens().finditer(text):
        char = token.group()
        if char in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in ("]", "}"):
            depth -= 1
    return deepest


def _cut_deep(text: str) -> str:
    """Return ``text`` with every container below ``MAX_DEPTH`` levels replaced by TOO_DEEP."""
    parts: list[str] = []
    depth = 0
    for token in _tokens().finditer(text):
        piece = token.group()
        if piece in ("[", "{"):
            depth += 1
            if depth == MAX_DEPTH + 1:
                parts.append(f'"{TOO_DEEP}"')  # plain text: nothing to escape
        elif piece in ("]", "}"):
            depth -= 1
            if depth >= MAX_DEPTH:
                continue
        if depth <= MAX_DEPTH:
            parts.append(piece)
    return "".join(parts)


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
    """Return the value of one JSON line by the engines' rules; ``ValueError`` if not JSON."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        text = _cut_deep(text)
    try:
        value = _decode(text)
    except RecursionError:  # a deep stack already: the line cannot be read here
        raise ValueError("JSON nested too deeply") from None
    # a surrogate can only come from an escape; orjson refuses an unpaired one
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
        raise ValueError("lone surrogate escape in a string")
    return value


def loads_bulk(data: str | bytes) -> Any:
    """Return what ``loads`` returns, by orjson when the line's shape lets it (much faster).

    orjson takes the last of two equal keys and refuses ``NaN``; so it answers only for a line
    whose every ``"key":`` is a distinct top-level key (no nested object, no repeat) and that
    is shallow, and ``loads`` reads all others. The checks are substring counts: a key always
    ends in ``":`` unless JSON whitespace comes before its colon, and a line with a quote
    followed by whitespace goes to ``loads`` too.
    """
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    # Only arrays can nest deeply here: an object with keys inside fails the key count.
    if raw.count(b"[") <= MAX_DEPTH:
        try:
            value = _orjson().loads(raw)
        except ValueError:
            return loads(data)
        if (
            isinstance(value, dict)
            and _quote_space().search(raw) is None
            and raw.count(b'":') == len(value)
        ):
            return value
    return loads(data)


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
