"""The query AST compiled to a Python predicate over normalized events.

``--follow`` checks each new line with it, and so does the ``--trace`` lookup on the lines the
trace index points at. It must agree with the SQL engines on every query: the tests run
hypothesis-generated queries over generated logs through both.

``--search`` reads the line as written, not the event: ``compile_line_predicate`` takes both,
and applies ``line_has`` — the one search rule every engine follows (DuckDB and ClickHouse in
SQL on the raw line, the byte scan of ``moose_trace.query.search`` as its final check).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from moose_trace.query.ast import (
    AllOf,
    AnyOf,
    Condition,
    Match,
    Not,
    NumberCompare,
    Search,
    TimeRange,
    TraceIs,
    Value,
    searches_the_line,
)
from moose_trace.query.codec import dumps_text
from moose_trace.query.normalize import (
    datetime_us,
    is_truthy,
    number_of,
    timestamp_us,
    value_text,
)
from moose_trace.query.trace_match import trace_matcher

__all__ = [
    "LinePredicate",
    "Predicate",
    "compile_line_predicate",
    "compile_predicate",
    "glob_regex",
    "line_has",
]

Predicate = Callable[[Mapping[str, Any]], bool]
"""A compiled condition: takes a normalized event, says whether it matches."""

LinePredicate = Callable[[Mapping[str, Any], str], bool]
"""A compiled condition over a normalized event and its line as read (``--search`` reads it)."""

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Return the regular expression of a glob value: ``*`` any run, ``?`` one character."""
    parts = (".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _value_test(value: Value) -> Callable[[str | None], bool]:
    if value.kind == "bool":
        wanted = value.text == "true"
        return lambda text: is_truthy(text) == wanted
    if value.kind == "glob":
        regex = glob_regex(value.text)
        return lambda text: text is not None and regex.fullmatch(text) is not None
    if value.kind == "number":
        literal, number = value.text, value.number
        return lambda text: text is not None and (text == literal or number_of(text) == number)
    literal = value.text
    return lambda text: text == literal


def _match(condition: Match) -> Predicate:
    key = condition.field
    tests = [_value_test(value) for value in condition.values]
    negate = condition.negate

    def check(event: Mapping[str, Any]) -> bool:
        text = value_text(event.get(key))
        return any(test(text) for test in tests) != negate

    return check


def _number_compare(condition: NumberCompare) -> Predicate:
    key, compare, bound = condition.field, _COMPARE[condition.op], condition.number

    def check(event: Mapping[str, Any]) -> bool:
        number = number_of(value_text(event.get(key)))
        return number is not None and compare(number, bound)

    return check


def _time_range(condition: TimeRange) -> Predicate:
    start = None if condition.start is None else datetime_us(condition.start)
    end = None if condition.end is None else datetime_us(condition.end)

    def check(event: Mapping[str, Any]) -> bool:
        moment = timestamp_us(value_text(event.get("timestamp")))
        if moment is None:
            return False
        return (start is None or moment >= start) and (end is None or moment < end)

    return check


def line_has(text: str, needle: str) -> bool:
    """Return whether a line holds ``needle`` (``search_needle``): the rule of ``--search``.

    The line as written, lowercased character by character the Unicode way (``str.lower``,
    as ClickHouse's ``lowerUTF8``; DuckDB's ``lower`` differs on two letters only: a final
    capital sigma and the dotted capital I), contains the lowercased needle.
    """
    return needle in text.lower()


def _search(condition: Search) -> Predicate:
    """An event with no line (``compile_predicate``): its JSON written again stands in."""
    needle = condition.needle

    def check(event: Mapping[str, Any]) -> bool:
        return line_has(dumps_text(event), needle)

    return check


def compile_predicate(condition: Condition) -> Predicate:
    """Return a function that tells whether a normalized event meets ``condition``."""
    if isinstance(condition, Match):
        return _match(condition)
    if isinstance(condition, NumberCompare):
        return _number_compare(condition)
    if isinstance(condition, TimeRange):
        return _time_range(condition)
    if isinstance(condition, TraceIs):
        return trace_matcher(condition.trace_ids)
    if isinstance(condition, Search):
        return _search(condition)
    if isinstance(condition, Not):
        inner = compile_predicate(condition.item)
        return lambda event: not inner(event)
    parts = [compile_predicate(item) for item in condition.items]
    if isinstance(condition, AllOf):
        return lambda event: all(part(event) for part in parts)
    return lambda event: any(part(event) for part in parts)


def compile_line_predicate(condition: Condition) -> LinePredicate:
    """Return a function of an event and its line as read (``LineEvent.text``).

    Every condition reads the event, as with ``compile_predicate``, but a ``Search`` reads the
    line as written (``line_has``): what DuckDB and ClickHouse read, so every engine agrees.
    """
    if not searches_the_line(condition):
        plain = compile_predicate(condition)
        return lambda event, _text: plain(event)
    if isinstance(condition, Search):
        needle = condition.needle
        return lambda _event, text: line_has(text, needle)
    if isinstance(condition, Not):
        inner = compile_line_predicate(condition.item)
        return lambda event, text: not inner(event, text)
    assert isinstance(condition, (AllOf, AnyOf))
    parts = [compile_line_predicate(item) for item in condition.items]
    if isinstance(condition, AllOf):
        return lambda event, text: all(part(event, text) for part in parts)
    return lambda event, text: any(part(event, text) for part in parts)
