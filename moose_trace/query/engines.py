"""Where a query's answer comes from: log files or one ClickHouse logs table.

``moose-trace logs`` and ``moose-trace serve`` take the same sources (files, globs, directories,
or one ClickHouse URL) and pick the same way: a ClickHouse URL opens the table's engine, and a
query for one trace reads only the lines the trace index points at.
"""

from __future__ import annotations

from collections.abc import Sequence

from moose_trace.query.ast import AllOf, Condition, TraceIs
from moose_trace.query.exceptions import QueryError
from moose_trace.query.results import Engine

__all__ = ["STORE_SCHEMES", "open_store", "store_url", "trace_of"]

STORE_SCHEMES = ("clickhouse://", "clickhouses://", "http://", "https://", "chdb://")
"""URL schemes that name a ClickHouse logs table rather than log files."""


def store_url(sources: Sequence[str]) -> str | None:
    """Return the ClickHouse URL among ``sources`` (None: they are all files).

    Raises ``QueryError`` when a URL is mixed with files or more than one URL is given.
    """
    urls = [source for source in sources if source.lower().startswith(STORE_SCHEMES)]
    if not urls:
        return None
    if len(urls) != len(sources):
        raise QueryError("a ClickHouse source cannot be mixed with log files: query one")
    if len(urls) > 1:
        raise QueryError("one ClickHouse source at a time")
    return urls[0]


def open_store(url: str, table: str | None) -> Engine:
    """Return the engine answering from the ClickHouse logs table at ``url``.

    Raises ``QueryError`` for a bad URL and ``ModuleNotFoundError`` without the
    ``clickhouse`` extra.
    """
    # imported on use: the ClickHouse client is an optional dependency
    from moose_trace.query.clickhouse_engine import ClickHouseEngine  # noqa: PLC0415
    from moose_trace.store.clickhouse.schema import DEFAULT_TABLE  # noqa: PLC0415
    from moose_trace.store.clickhouse.transport import connect  # noqa: PLC0415

    try:
        transport = connect(url)
    except ValueError as bad:
        raise QueryError(str(bad)) from None
    try:
        return ClickHouseEngine(transport, table=table or DEFAULT_TABLE)
    except ValueError as bad:
        transport.close()
        raise QueryError(f"bad --table: {bad}") from None


def trace_of(condition: Condition) -> TraceIs | None:
    """Return the trace condition every match must meet, if the query has one."""
    if isinstance(condition, TraceIs):
        return condition
    if isinstance(condition, AllOf):
        return next((found for item in condition.items if (found := trace_of(item))), None)
    return None
