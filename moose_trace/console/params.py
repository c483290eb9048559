"""The API's query parameters read into the query AST, with the CLI's own parsers.

``filter`` (repeatable), ``level``, ``since``, ``until``, ``search`` and ``trace`` mean what
``moose-trace logs --filter/--level/--since/--until/--search/--trace`` mean: each goes through
``moose_trace.query.language``, so the console and the terminal answer the same question the
same way. ``tenant`` is the page's tenant box: events whose ``tenant_id`` or ``tenant_slug``
(the baggage members ``moose_trace.baggage`` logs) is the value. A bad value raises
``QueryError`` naming it; the API answers it with HTTP 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from moose_trace._record import record
from moose_trace.query.ast import (
    AllOf,
    AnyOf,
    Condition,
    Match,
    Search,
    TimeRange,
    Value,
    ValueKind,
)
from moose_trace.query.exceptions import QueryError
from moose_trace.query.language import (
    parse_fields,
    parse_filter,
    parse_levels,
    parse_time_range,
    parse_trace,
)
from moose_trace.query.normalize import datetime_us, number_of
from moose_trace.query.search import search_needle

__all__ = [
    "MAX_LIMIT",
    "TENANT_FIELDS",
    "EventFilter",
    "Params",
    "event_filter",
    "field_list",
    "one_of",
    "positive_int",
    "search_condition",
    "tenant_condition",
]

TENANT_FIELDS = ("tenant_id", "tenant_slug")
"""The fields ``tenant`` looks in: a tenant is named by its id or its slug."""

MAX_LIMIT = 5000
"""The most events one page of ``/api/events`` holds."""

_MAX_PARAM_CHARS = 4096


class Params(Protocol):
    """What the API reads parameters from (Starlette's ``QueryParams``, a ``MultiDict``)."""

    def get(self, key: str, /) -> str | None:
        """Return the last value of ``key`` (``None`` when absent)."""
        ...

    def getlist(self, key: str, /) -> list[str]:
        """Return every value of ``key``."""
        ...


@record
class EventFilter:
    """Which events a request asks about, as one condition, and its time span."""

    where: Condition
    span: tuple[int | None, int | None]
    """The asked time range in epoch microseconds (either end open)."""


def search_condition(text: str) -> Condition:
    """Return ``--search TEXT``'s condition: the text anywhere in the event, ignoring case."""
    if not text.strip():
        raise QueryError("bad search '': expected some text to look for")
    return Search(search_needle(text))


def tenant_condition(text: str) -> Condition:
    """Return ``tenant=TEXT``'s condition: ``tenant_id`` or ``tenant_slug`` is ``TEXT``
    (as in a filter: a number also matches the JSON number, ``*``/``?`` are wildcards)."""
    wanted = text.strip()
    kind: ValueKind = "text"
    if number_of(wanted) is not None:
        kind = "number"
    elif "*" in wanted or "?" in wanted:
        kind = "glob"
    value = (Value(wanted, kind),)
    return AnyOf(tuple(Match(field, value) for field in TENANT_FIELDS))


def _text(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None or value.strip() == "":
        return None
    if len(value) > _MAX_PARAM_CHARS:
        raise QueryError(f"bad {key}: longer than {_MAX_PARAM_CHARS} characters")
    return value


def event_filter(params: Params, now: datetime) -> EventFilter:
    """Return the condition ``params`` ask for (every event when they ask nothing)."""
    conditions: list[Condition] = []
    for text in params.getlist("filter"):
        if text.strip():
            if len(text) > _MAX_PARAM_CHARS:
                raise QueryError(f"bad filter: longer than {_MAX_PARAM_CHARS} characters")
            conditions.append(parse_filter(text))
    if (levels := _text(params, "level")) is not None:
        conditions.append(parse_levels(levels))
    time_range: TimeRange | None = parse_time_range(
        _text(params, "since"), _text(params, "until"), now
    )
    if time_range is not None:
        conditions.append(time_range)
    if (tenant := _text(params, "tenant")) is not None:
        conditions.append(tenant_condition(tenant))
    if (search := _text(params, "search")) is not None:
        conditions.append(search_condition(search))
    if (trace := _text(params, "trace")) is not None:
        conditions.append(parse_trace(trace))
    where = conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))
    span: tuple[int | None, int | None] = (None, None)
    if time_range is not None:
        span = (
            None if time_range.start is None else datetime_us(time_range.start),
            None if time_range.end is None else datetime_us(time_range.end),
        )
    return EventFilter(where, span)


def positive_int(params: Params, key: str, default: int, maximum: int) -> int:
    """Return the whole number ``key`` holds (``default`` when absent), at most ``maximum``."""
    text = _text(params, key)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise QueryError(f"bad {key} {text!r}: expected a whole number ≥ 1")
    return min(int(text), maximum)


def field_list(params: Params, key: str, default: Sequence[str]) -> tuple[str, ...]:
    """Return the comma-separated field names ``key`` holds (``default`` when absent)."""
    text = _text(params, key)
    return tuple(default) if text is None else parse_fields(text)


def one_of(params: Params, key: str, choices: Sequence[str], default: str) -> str:
    """Return ``key``'s value when it is one of ``choices`` (``default`` when absent)."""
    text = _text(params, key)
    if text is None:
        return default
    if text not in choices:
        raise QueryError(f"bad {key} {text!r}: expected one of {', '.join(choices)}")
    return text
