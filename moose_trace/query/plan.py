"""Planning ``moose-trace logs``: what the user asked, as one query and what to show with it.

``plan_query(request, now)`` turns the command line's options (a ``QueryRequest``) into a
``Plan``: the query AST, the Kafka record to find first, the title and the time span for the
renderers, and where to look (a bare word is a search, ``--compare`` may name sources). Nothing
is read here, and the request is left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from moose_trace._record import record
from moose_trace.query.ast import (
    AllOf,
    Condition,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Mode,
    Query,
    Search,
)
from moose_trace.query.durations import parse_duration
from moose_trace.query.engines import STORE_SCHEMES
from moose_trace.query.exceptions import QueryError
from moose_trace.query.language import (
    KafkaRecord,
    parse_compare,
    parse_fields,
    parse_filter,
    parse_levels,
    parse_time_range,
    parse_trace,
    parse_trace_kafka,
)
from moose_trace.query.normalize import datetime_us
from moose_trace.query.search import search_needle

__all__ = ["Plan", "QueryRequest", "plan_query", "split_words"]


@record
class QueryRequest:
    """What ``moose-trace logs`` was asked, as its options say it (nothing parsed yet)."""

    sources: tuple[str, ...] = ()
    """Files, globs, directories or a ClickHouse URL; a bare word that names nothing is a search."""
    filter: tuple[str, ...] = ()
    level: str | None = None
    since: str | None = None
    until: str | None = None
    trace: str | None = None
    trace_kafka: str | None = None
    search: tuple[str, ...] = ()
    limit: int | None = None
    group_by: str | None = None
    histogram: str | None = None
    compare: tuple[str, ...] = ()
    """``LABEL=START-END`` windows; an item without ``=`` is one more source."""
    errors: bool = False
    follow: bool = False
    format: str = "text"


@record
class Plan:
    """The question as one query, and what the answer is shown with."""

    query: Query
    kafka: KafkaRecord | None
    """A Kafka record whose traces are looked up first (``--trace-kafka``)."""
    title: str
    """What was asked, in words, for the renderers' headings."""
    span: tuple[int | None, int | None]
    """The time range asked for, in microseconds (``None``: open)."""
    sources: tuple[str, ...]
    """Where to look: the request's sources, minus bare words, plus ``--compare``'s."""


def plan_query(request: QueryRequest, now: datetime) -> Plan:
    """Parse ``request`` into a ``Plan``; raises ``QueryError`` naming the bad token."""
    sources, words = split_words(request.sources)
    search = (*request.search, *words)
    args = request
    conditions: list[Condition] = [parse_filter(text) for text in args.filter]
    if args.level is not None:
        conditions.append(parse_levels(args.level))
    time_range = parse_time_range(args.since, args.until, now)
    if time_range is not None:
        conditions.append(time_range)
    if args.trace is not None:
        conditions.append(parse_trace(args.trace))
    for text in search:
        if not text:
            raise QueryError("--search needs some text")
        conditions.append(Search(search_needle(text)))
    kafka = parse_trace_kafka(args.trace_kafka) if args.trace_kafka is not None else None
    mode: Mode = ListEvents(args.limit)
    compare_items = list(args.compare or [])
    if args.group_by is not None:
        mode = GroupBy(parse_fields(args.group_by))
    elif args.histogram is not None:
        mode = Histogram(parse_duration(args.histogram))
    elif compare_items:
        windows = [item for item in compare_items if "=" in item]
        sources = [*sources, *(item for item in compare_items if "=" not in item)]
        mode = parse_compare(windows, now)
    elif args.errors:
        mode = ErrorGroups()
    if args.follow and not isinstance(mode, ListEvents):
        raise QueryError("--follow shows events as they come: it cannot group, bucket or compare")
    if args.follow and args.format == "csv":
        raise QueryError("--follow cannot write csv (its header needs every event first): use json")
    span: tuple[int | None, int | None] = (None, None)
    if time_range is not None:
        span = (
            None if time_range.start is None else datetime_us(time_range.start),
            None if time_range.end is None else datetime_us(time_range.end),
        )
    where = conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))
    return Plan(Query(where, mode), kafka, _describe(request, search), span, tuple(sources))


def _describe(args: QueryRequest, search: Sequence[str]) -> str:
    parts = list(args.filter)
    if args.level:
        parts.append(f"level={args.level}")
    if args.since:
        parts.append(f"since {args.since}")
    if args.until:
        parts.append(f"until {args.until}")
    if args.trace:
        parts.append(f"trace {args.trace}")
    if args.trace_kafka:
        parts.append(f"kafka {args.trace_kafka}")
    parts += [f"search {text!r}" for text in search]
    return ", ".join(parts) or "all events"


_PATH_HINTS = frozenset("/*?[\\.~")


def split_words(sources: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split positional arguments into sources and bare search words.

    A word is a positional argument that names nothing on disk and does not look like a path,
    a glob or a URL (``moose-trace logs timeout`` searches for "timeout").
    """
    kept: list[str] = []
    words: list[str] = []
    for item in sources:
        looks_like_path = bool(_PATH_HINTS & set(item)) or item.lower().startswith(STORE_SCHEMES)
        if looks_like_path or not item or os.path.exists(item):
            kept.append(item)
        else:
            words.append(item)
    return kept, words
