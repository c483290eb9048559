"""The filter language of ``moose-trace logs``: command-line text → the query AST.

``--filter EXPR`` holds comma-separated conditions that must all hold::

    key=value            equal (text; a number also matches an equal number; true/false flags)
    key!=value           not equal (also true when the event has no such key)
    key=ddl_*            glob: * any run of characters, ? one character
    key=a,b              a comma item without an operator adds a value to the previous key
    key:>N  key:>=N  key:<N  key:<=N      numeric comparison
    key="a, b"           quotes keep commas, spaces and * ? literally

``name=X`` also matches events whose ``pipeline`` is X. ``message``, ``resource_type`` and
``resource_name`` are read as ``event``, ``type`` and ``name``. Every parser raises
``QueryError`` naming the bad token and what it expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from moose_trace._record import record
from moose_trace.logging.levels import LEVELS
from moose_trace.query.ast import (
    AllOf,
    AnyOf,
    CompareOp,
    Comparison,
    Condition,
    Match,
    Not,
    NumberCompare,
    TimeRange,
    TraceIs,
    Value,
    Window,
)
from moose_trace.query.durations import parse_instant, parse_range
from moose_trace.query.exceptions import QueryError
from moose_trace.query.normalize import ALIASES, level_text, number_of
from moose_trace.store.retention import LEVEL_ALIASES
from moose_trace.tracing.ids import parse_trace_id

__all__ = [
    "LEVELS",
    "MAX_COMPARE_WINDOWS",
    "MAX_GROUP_FIELDS",
    "KafkaRecord",
    "field_name",
    "parse_compare",
    "parse_fields",
    "parse_filter",
    "parse_levels",
    "parse_time_range",
    "parse_trace",
    "parse_trace_kafka",
]

MAX_GROUP_FIELDS = 5
"""``--group-by`` fields at most: each nests the group tree one level deeper."""

MAX_COMPARE_WINDOWS = 12
"""``--compare`` windows at most (each one is a column of statistics)."""

_KEY = re.compile(r"[A-Za-z_@$][\w.@$-]*")
_ITEM = re.compile(r"\s*([^\s=!:<>,\"']+)\s*(!=|=|:>=|:<=|:>|:<)\s*(.*?)\s*", re.DOTALL)
_READ_AS = {alias: target for target, keys in ALIASES.items() for alias in keys[1:]}
_EXPECTED_ITEM = "key=value, key!=value or key:>N (also :>=, :<, :<=)"


@record
class KafkaRecord:
    """A Kafka record by its coordinates, as ``--trace-kafka`` names it."""

    topic: str
    partition: int
    offset: int


def field_name(text: str) -> str:
    """Return the normalized field a key names (``message`` → ``event``); reject bad keys."""
    key = text.strip()
    if _KEY.fullmatch(key) is None:
        raise QueryError(
            f"bad field name {text!r}: expected letters, digits and _ . @ $ - "
            "(starting with a letter or _)"
        )
    return _READ_AS.get(key, key)


def _split_items(text: str) -> list[str]:
    """Split on commas outside quotes, keeping the quotes for the value parser."""
    items: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quote:
            current.append(char)
            escaped = True
        elif quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            current.append(char)
            quote = char
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if quote:
        raise QueryError(f"unclosed {quote} in filter {text!r}: close the quoted value")
    items.append("".join(current))
    return items


def _value(token: str, context: str) -> Value:
    text = token.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return Value(re.sub(r"\\(.)", r"\1", text[1:-1]), "text")
    if text == "":
        raise QueryError(
            f"missing value in {context!r}: expected a value after the operator "
            '(use "" for an empty text)'
        )
    if text.lower() in ("true", "false"):
        return Value(text.lower(), "bool")
    if number_of(text) is not None:
        return Value(text, "number")
    if "*" in text or "?" in text:
        return Value(text, "glob")
    return Value(text, "text")


def _match(key: str, values: list[Value], negate: bool) -> Condition:
    if key == "level":
        values = [
            Value(level_text(value.text) or "", value.kind) if value.kind != "bool" else value
            for value in values
        ]
    match = Match(key, tuple(values))
    if key != "name":
        return Match(key, tuple(values), negate)
    either = AnyOf((match, Match("pipeline", tuple(values))))
    return Not(either) if negate else either


def parse_filter(text: str) -> Condition:
    """Parse one ``--filter`` expression into the condition that all its items hold."""
    conditions: list[Condition] = []
    key: str | None = None
    values: list[Value] = []
    negate = False

    def flush() -> None:
        if key is not None:
            conditions.append(_match(key, values, negate))

    for item in _split_items(text):
        if not item.strip():
            raise QueryError(f"empty item in filter {text!r}: expected {_EXPECTED_ITEM}")
        parsed = _ITEM.fullmatch(item)
        if parsed is None:
            if key is None:
                raise QueryError(
                    f"bad filter item {item.strip()!r} in {text!r}: expected {_EXPECTED_ITEM}"
                )
            values.append(_value(item, text))
            continue
        flush()
        name, operator, raw_value = parsed.groups()
        if operator in ("=", "!="):
            key, values, negate = (
                field_name(name),
                [_value(raw_value, item.strip())],
                operator == "!=",
            )
            continue
        key = None
        number = number_of(raw_value.strip())
        if number is None:
            raise QueryError(
                f"bad number {raw_value.strip()!r} in {item.strip()!r}: "
                "expected a number such as 1000 or 2.5"
            )
        op: CompareOp = operator[1:]  # type: ignore[assignment]
        conditions.append(NumberCompare(field_name(name), op, number))
    flush()
    return conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))


def parse_levels(text: str) -> Condition:
    """Parse ``--level``: one level or a list (``warn,error``); ``error+`` means that and above."""
    wanted: list[str] = []
    for item in text.split(","):
        token = item.strip()
        at_least = token.endswith("+")
        level = level_text(token[:-1] if at_least else token)
        if level not in LEVELS:
            raise QueryError(
                f"bad level {token!r}: expected one of {', '.join(LEVELS)} "
                f"(or {', '.join(LEVEL_ALIASES)}), "
                "a list such as warn,error, or LEVEL+ for that level and above"
            )
        wanted += LEVELS[LEVELS.index(level) :] if at_least else [level]
    unique = tuple(dict.fromkeys(wanted))
    return Match("level", tuple(Value(level) for level in unique))


def parse_fields(text: str) -> tuple[str, ...]:
    """Parse a comma list of field names (``--group-by error_category,layer``)."""
    fields = tuple(field_name(item) for item in text.split(","))
    if len(set(fields)) != len(fields):
        raise QueryError(f"field named twice in {text!r}: expected each field once")
    if len(fields) > MAX_GROUP_FIELDS:
        raise QueryError(
            f"too many fields in {text!r}: expected at most {MAX_GROUP_FIELDS} "
            "(each one nests the groups a level deeper)"
        )
    return fields


def parse_time_range(since: str | None, until: str | None, now: datetime) -> TimeRange | None:
    """Parse ``--since`` / ``--until`` into a time range (``None`` when neither is given)."""
    if since is None and until is None:
        return None
    start = None if since is None else parse_instant(since, now)
    end = None if until is None else parse_instant(until, now)
    if start is not None and end is not None and end <= start:
        raise QueryError(f"--until {until!r} is not after --since {since!r}")
    return TimeRange(start, end)


def parse_trace(text: str) -> TraceIs:
    """Parse ``--trace ID``: a UUID in any case or 32 hex digits."""
    canonical = parse_trace_id(text.strip())
    if canonical is None:
        raise QueryError(
            f"bad trace id {text!r}: expected a UUID (0193f0c2-7b1e-7c3a-9d2f-0123456789ab, "
            "any case) or 32 hex digits"
        )
    return TraceIs((canonical.replace("-", ""),))


def parse_trace_kafka(text: str) -> KafkaRecord:
    """Parse ``--trace-kafka topic=T,partition=P,offset=O``."""
    parts: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in ("topic", "partition", "offset") or not value.strip():
            raise QueryError(
                f"bad item {item.strip()!r} in --trace-kafka {text!r}: "
                "expected topic=T,partition=P,offset=O"
            )
        parts[key.strip()] = value.strip()
    missing = [key for key in ("topic", "partition", "offset") if key not in parts]
    if missing:
        raise QueryError(
            f"--trace-kafka {text!r} lacks {', '.join(missing)}: "
            "expected topic=T,partition=P,offset=O"
        )
    numbers: dict[str, int] = {}
    for key in ("partition", "offset"):
        if not parts[key].isdigit():
            raise QueryError(
                f"bad {key} {parts[key]!r} in --trace-kafka: expected a whole number ≥ 0"
            )
        numbers[key] = int(parts[key])
    return KafkaRecord(parts["topic"], numbers["partition"], numbers["offset"])


def parse_compare(items: Sequence[str], now: datetime) -> Comparison:
    """Parse ``--compare before=2d-1d after=1d-now`` (spaces or commas between windows)."""
    tokens = [token for item in items for token in re.split(r"[\s,]+", item.strip()) if token]
    if not tokens:
        raise QueryError("--compare needs windows: expected LABEL=START-END, e.g. before=2d-1d")
    if len(tokens) > MAX_COMPARE_WINDOWS:
        raise QueryError(
            f"--compare names {len(tokens)} windows: expected at most {MAX_COMPARE_WINDOWS}"
        )
    windows: list[Window] = []
    for token in tokens:
        label, sep, span = token.partition("=")
        if not sep or not label or _KEY.fullmatch(label) is None:
            raise QueryError(
                f"bad window {token!r} in --compare: expected LABEL=START-END "
                "such as before=2d-1d or after=1d-now"
            )
        start, end = parse_range(span, now)
        windows.append(Window(label, start, end))
    if len({window.label for window in windows}) != len(windows):
        raise QueryError("--compare names a window twice: expected distinct labels")
    return Comparison(tuple(windows))
