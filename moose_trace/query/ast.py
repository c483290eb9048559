"""The query AST: what ``moose-trace logs`` was asked, independent of any engine.

The command line is parsed once into a ``Query``; each engine compiles the same tree — to
DuckDB SQL over the files, to ClickHouse SQL over the logs table, to a Python predicate for
``--follow`` — so every engine answers the same question. Field names are those of the
normalized event (``moose_trace.query.normalize``): ``message`` is already ``event``,
``resource_type`` already ``type``, levels already lowercase SDK spellings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from moose_trace._record import record

__all__ = [
    "AllOf",
    "AnyOf",
    "Comparison",
    "Condition",
    "ErrorGroups",
    "GroupBy",
    "Histogram",
    "ListEvents",
    "Match",
    "Mode",
    "Not",
    "NumberCompare",
    "Query",
    "Search",
    "Stats",
    "TimeRange",
    "TraceIs",
    "Value",
    "Window",
    "searches_the_line",
]

ValueKind: TypeAlias = Literal["text", "glob", "number", "bool"]
CompareOp: TypeAlias = Literal[">", ">=", "<", "<="]


@record
class Value:
    """One value a field is compared with, and how it compares.

    ``text`` is plain equality with the field's text; ``glob`` matches with ``*`` (any run) and
    ``?`` (one character); ``number`` also matches a numeric field of equal value (``500`` finds
    ``500`` and ``500.0``); ``bool`` ``true`` matches a set, non-false flag (``security=true``
    finds ``true`` and ``"auth_failure"``), ``false`` everything else, missing included.
    """

    text: str
    kind: ValueKind = "text"

    @property
    def number(self) -> float:
        """Return the value as a float (only meaningful for ``kind == "number"``)."""
        return float(self.text)


@record
class Match:
    """``field=v1,v2`` (any value matches) or, with ``negate``, ``field!=v1,v2`` (none does).

    A missing field matches no value, so ``field!=x`` holds for events without the field.
    """

    field: str
    values: tuple[Value, ...]
    negate: bool = False


@record
class NumberCompare:
    """``field:>N`` and friends: the field's numeric value compared with ``number``.

    Fields that are missing or not numbers never match.
    """

    field: str
    op: CompareOp
    number: float


@record
class TimeRange:
    """The event's ``timestamp`` is at or after ``start`` and before ``end`` (either open)."""

    start: datetime | None = None
    end: datetime | None = None


@record
class TraceIs:
    """The event belongs to one of ``trace_ids``: its ``trace_id`` or its ``trace_ids`` list.

    Ids are kept as 32 lowercase hex digits, the form both an event's canonical and W3C
    spellings reduce to, so any case and either form match.
    """

    trace_ids: tuple[str, ...]


@record
class Search:
    """``--search TEXT``: the event's JSON line contains ``needle``, ignoring case.

    ``needle`` is the searched text as it appears inside a JSON string (quotes and backslashes
    escaped, as the writer wrote them), lowercased: every engine looks for it in the line.
    """

    needle: str


@record
class AllOf:
    """Every condition holds (an empty ``AllOf`` always holds)."""

    items: tuple[Condition, ...] = ()


@record
class AnyOf:
    """At least one condition holds (an empty ``AnyOf`` never holds)."""

    items: tuple[Condition, ...] = ()


@record
class Not:
    """The condition does not hold."""

    item: Condition


Condition: TypeAlias = "Match | NumberCompare | TimeRange | TraceIs | Search | AllOf | AnyOf | Not"


@record
class ListEvents:
    """The matching events in time order; with ``limit``, only the latest ``limit`` of them."""

    limit: int | None = None


@record
class GroupBy:
    """Counts of matching events per distinct combination of ``fields`` (missing = ``None``)."""

    fields: tuple[str, ...]


@record
class Histogram:
    """Counts of matching events per ``interval``-long time bucket (aligned to the epoch)."""

    interval: timedelta


@record
class Window:
    """A named time window ``[start, end)`` of a comparison."""

    label: str
    start: datetime
    end: datetime


@record
class Comparison:
    """Performance statistics of the matching events in each window, side by side."""

    windows: tuple[Window, ...]


@record
class ErrorGroups:
    """Error events grouped by ``error_signature`` (else error type and message)."""


@record
class Stats:
    """Operation statistics of the matching events, overall and per combination of ``by``.

    Count, error rate and ``latency_ms`` average and percentiles (the observability ADR's
    operation stats); groups most frequent first, at most ``limit`` of them.
    """

    by: tuple[str, ...] = ()
    limit: int = 100


Mode: TypeAlias = "ListEvents | GroupBy | Histogram | Comparison | ErrorGroups | Stats"


@record
class Query:
    """A whole question: which events (``where``) and what to answer about them (``mode``)."""

    where: Condition = AllOf()
    mode: Mode = ListEvents()


def searches_the_line(condition: Condition) -> bool:
    """Whether ``condition`` has a ``Search`` anywhere (so it reads the raw line, not fields)."""
    if isinstance(condition, Search):
        return True
    if isinstance(condition, Not):
        return searches_the_line(condition.item)
    if isinstance(condition, (AllOf, AnyOf)):
        return any(searches_the_line(item) for item in condition.items)
    return False
