"""One event shape for every writer: what each engine reads a log line as.

The SDK writes flat JSON objects with the field names of docs/schema.md. Other writers are read
as if they had, by the same rules in every engine (the SQL dialects build their column
expressions from the tables below; ``normalize_event`` is the Python side):

- The Rust side's tracing-subscriber JSON keeps its fields in ``fields`` and its span fields in
  ``span`` (the current span) and ``spans`` (root first): a field missing at the top level is
  taken from ``fields``, then ``span``, then ``spans`` innermost first — so a ``trace_id``
  recorded on a span correlates. A span's own ``name`` (the span's name) is not lifted.
- ``message`` is read as ``event``; ``resource_type`` / ``resource_name`` as ``type`` /
  ``name``. Moose's structured print lines (``__moose_structured_log__``) name their task or
  streaming function in ``task_name`` / ``function_name``: that becomes ``type`` ``task`` /
  ``transform`` and the ``name``.
- Levels are lowercase SDK spellings (``WARN`` → ``warning``).
- A structured print line at level ``error`` without an ``error_category`` gets
  ``unknown_error`` (``STRUCTURED_ERROR_CATEGORY``): Moose's own error lines never group under
  an empty category.

A line is an event when it is a JSON object with a ``level`` (or the Rust side's ``fields``);
anything else is skipped and counted by the engines.
"""

from __future__ import annotations

from moose_trace._memo import memo
from moose_trace.logging.levels import LEVEL_ALIASES
from moose_trace.query.codec import dumps_text

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import re
    from collections.abc import Mapping
    from datetime import datetime
    from typing import Any

__all__ = [
    "ALIASES",
    "EVENT_KEYS",
    "FALSY_TEXTS",
    "NESTED_KEYS",
    "NUMBER_PATTERN",
    "SPAN_OWN_KEYS",
    "STRUCTURED_ERROR_CATEGORY",
    "STRUCTURED_MARKER",
    "STRUCTURED_NAME_KEYS",
    "TIMESTAMP_PATTERN",
    "datetime_us",
    "is_truthy",
    "level_text",
    "normalize_event",
    "number_of",
    "timestamp_us",
    "trace_hex",
    "us_datetime",
    "value_text",
]

NESTED_KEYS = ("fields", "span", "spans")
"""Containers of the Rust side's tracing JSON, searched in this order for a missing field."""

SPAN_OWN_KEYS = frozenset({"name"})
"""Keys of a span object that describe the span itself (its name), not the event: not lifted."""

ALIASES: Mapping[str, tuple[str, ...]] = {
    "event": ("event", "message"),
    "type": ("type", "resource_type"),
    "name": ("name", "resource_name"),
}
"""Normalized field → the keys it is read from, first present wins."""

STRUCTURED_MARKER = "__moose_structured_log__"
"""The key that marks Moose's Python structured print lines."""

STRUCTURED_NAME_KEYS = (("task_name", "task"), ("function_name", "transform"))
"""In a structured print line: the key naming the primitive, and the ``type`` it implies."""

STRUCTURED_ERROR_CATEGORY = "unknown_error"
"""The ``error_category`` of a structured print line at level ``error`` that names none.

Moose writes its own error lines (a dead letter, a failed function, a runtime error) without
one; ``moose_trace.moose.instrument()`` adds the failed function's category when it knows it,
else this same ``unknown_error`` (``moose_trace.errors.UNKNOWN_ERROR``), so ``--errors``
groups them alike with or without the hooks — never under an empty category.
"""

EVENT_KEYS = ("level", "fields")
"""A JSON object with neither key set is not a log event: it is skipped and counted.

Every writer the tool reads sets a ``level`` (the Rust side's lines have ``fields`` too); asking
for one cheap key keeps the check nearly free in a typed scan.
"""

FALSY_TEXTS = frozenset({"", "false", "no", "off", "none", "null", "[]", "{}"})
"""Texts (lowercased) that a flag filter ``key=true`` does not count as set."""

NUMBER_PATTERN = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
"""JSON number syntax: the texts every engine reads as a number (RE2 and Python alike)."""

TIMESTAMP_PATTERN = (
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,9}))?)?"
    r"(Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?"
)
"""The timestamp texts every engine reads (a regular expression, RE2 and Python alike)."""


@memo(8)
def _pattern(pattern: str) -> re.Pattern[str]:
    """``re.compile(pattern)`` on first use, ``re`` imported then: importing it (with ``enum``)
    and compiling at import would cost a trace lookup's start-up more than the lookup reads (the
    common timestamp shape needs neither)."""
    import re  # noqa: PLC0415 - see the docstring

    return re.compile(pattern)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def value_text(value: object) -> str | None:
    """Return a field value as the text filters compare: strings as they are, JSON otherwise.

    ``true``/``false`` for booleans, decimal text for numbers, compact JSON for objects and
    lists, ``None`` for null or missing.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return dumps_text(value)


def number_of(text: str | None) -> float | None:
    """Return the number a field's text spells in JSON number syntax, else ``None``."""
    if text is None:
        return None
    if text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
        return float(text)  # a plain integer (``200``): what the pattern would match
    if _pattern(NUMBER_PATTERN).fullmatch(text) is None:
        return None
    return float(text)


def is_truthy(text: str | None) -> bool:
    """Return whether a field's text counts as a set flag for ``key=true``.

    Set means present and not false-like: not ``false``/``no``/``off``/``null``/empty, not a
    zero number. So ``security=true`` finds ``true`` and ``"auth_failure"`` alike.
    """
    if text is None or text.lower() in FALSY_TEXTS:
        return False
    number = number_of(text)
    return number is None or number != 0


def level_text(text: str | None) -> str | None:
    """Return a level's text as the SDK spells it: lowercase, ``warn`` → ``warning``.

    Like ``retention.normalize_level``, but trimming spaces only, as SQL ``trim()`` does in the
    DuckDB and ClickHouse column expressions: every engine must read a level alike.
    """
    if text is None:
        return None
    lowered = text.strip(" ").lower()
    return LEVEL_ALIASES.get(lowered, lowered)


def trace_hex(text: str) -> str:
    """Return a trace id's text reduced to lowercase without hyphens, the form ids compare in."""
    return text.replace("-", "").lower()


def timestamp_us(text: str | None) -> int | None:
    """Return microseconds since the epoch for an ISO 8601 timestamp text, else ``None``.

    Accepts ``YYYY-MM-DD``, optionally followed by ``T`` or a space and ``HH:MM[:SS[.frac]]``,
    optionally by ``Z`` or ``±HH[:MM]``; a time without a zone is UTC. Fractions beyond
    microseconds are cut, as DuckDB does. Anything else (epoch numbers too) is no timestamp.
    """
    if text is None:
        return None
    last = _LAST_TIMESTAMP[0]
    if last[0] == text:  # an event's time is read twice: to order it, then to show it
        return last[1]
    micros = _timestamp_us(text)
    _LAST_TIMESTAMP[0] = (text, micros)
    return micros


_LAST_TIMESTAMP: list[tuple[str | None, int | None]] = [(None, None)]
"""The last text ``timestamp_us`` read and its value (one pair: swapped whole, thread-safe)."""


def _timestamp_us(text: str) -> int | None:
    # The shape loggers write (``2026-12-05T00:02:24.895920Z``): its day is read once
    # (``_day_us``); the time of day is checked and added per event.
    if (
        len(text) == 27
        and text.isascii()
        and text[10] in "T "
        and text[13] == ":"
        and text[16] == ":"
        and text[19] == "."
        and text[26] == "Z"
    ):
        day = _day_us(text[:10])
        hour, minute, second, micros = text[11:13], text[14:16], text[17:19], text[20:26]
        if day is not None and (hour + minute + second + micros).isdigit():
            hours, minutes, seconds = int(hour), int(minute), int(second)
            if hours < 24 and minutes < 60 and seconds < 60:
                return day + ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + int(micros)
    return _parsed_timestamp_us(text)


@memo(256)
def _day_us(day: str) -> int | None:
    """The microseconds of a ``YYYY-MM-DD`` text (ASCII) read whole (None: not a date)."""
    if day[4] == "-" and day[7] == "-" and (digits := day[:4] + day[5:7] + day[8:]).isdigit():
        days = _epoch_days(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        return None if days is None else days * 86_400_000_000
    return _parsed_timestamp_us(day)


def _parsed_timestamp_us(text: str) -> int | None:
    match = _pattern(TIMESTAMP_PATTERN).fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    days = _epoch_days(int(year), int(month), int(day))
    if days is None:
        return None
    seconds = (int(hour or 0) * 60 + int(minute or 0)) * 60 + int(second or 0)
    micros = (days * 86_400 + seconds) * 1_000_000 + int((fraction or "0")[:6].ljust(6, "0"))
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        offset_minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        micros += sign * offset_minutes * 60_000_000
    return micros


def _epoch_days(year: int, month: int, day: int) -> int | None:
    """Days from 1970-01-01 to a proleptic Gregorian date, ``None`` for no such date (what
    ``datetime`` refuses). Worked out here, not by ``datetime``: importing it costs a trace
    lookup more than reading all its lines."""
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not (year >= 1 and 1 <= month <= 12):
        return None
    if not 1 <= day <= _MONTH_DAYS[month - 1] + (month == 2 and leap):
        return None
    # Howard Hinnant's days_from_civil: years counted from March, in 400-year eras.
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def datetime_us(moment: datetime) -> int:
    """Return microseconds since the epoch for an aware ``datetime`` (naive means UTC)."""
    from datetime import datetime, timezone  # noqa: PLC0415 (see _epoch_days)

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_datetime(micros: int) -> datetime:
    """Return the UTC ``datetime`` of microseconds since the epoch (``datetime_us`` undone)."""
    from datetime import datetime, timedelta, timezone  # noqa: PLC0415 (see _epoch_days)

    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)


def _flatten(event: dict[str, Any]) -> dict[str, Any]:
    sources: list[tuple[dict[str, Any], frozenset[str]]] = []
    fields = event.get("fields")
    if isinstance(fields, dict):
        sources.append((fields, frozenset()))
    span = event.get("span")
    if isinstance(span, dict):
        sources.append((span, SPAN_OWN_KEYS))
    spans = event.get("spans")
    if isinstance(spans, list):
        sources.extend((item, SPAN_OWN_KEYS) for item in reversed(spans) if isinstance(item, dict))
    if not sources:
        return event
    flat = dict(event)
    for source, own in sources:
        for key, value in source.items():
            if value is not None and key not in own and flat.get(key) is None:
                flat[key] = value
    return flat


def normalize_event(value: object) -> dict[str, Any] | None:
    """Return a parsed log line as a normalized event, or ``None`` if it is not an event.

    The input is not modified; every key it had is kept (``fields`` and the spans too), and
    the normalized keys are added or rewritten as the module docstring describes.
    """
    if not isinstance(value, dict) or all(value.get(key) is None for key in EVENT_KEYS):
        return None
    event = _flatten(value)
    if event is value:
        event = dict(value)
    for target, keys in ALIASES.items():
        if event.get(target) is None:
            found = next((event[key] for key in keys[1:] if event.get(key) is not None), None)
            if found is not None:
                event[target] = found
    structured = value_text(event.get(STRUCTURED_MARKER)) == "true"
    if structured:
        for key, primitive in STRUCTURED_NAME_KEYS:
            if event.get(key) is None:
                continue
            if event.get("type") is None:
                event["type"] = primitive
            if event.get("name") is None:
                event["name"] = event[key]
            break
    level = event.get("level")
    if level is not None:
        event["level"] = level = level_text(value_text(level))
        if structured and level == "error" and event.get("error_category") is None:
            event["error_category"] = STRUCTURED_ERROR_CATEGORY
    return event
