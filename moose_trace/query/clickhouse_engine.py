"""The query engine on ClickHouse: the same query AST as the file engine, as ClickHouse SQL.

``ClickHouseEngine(transport).run(query)`` answers a ``moose_trace.query.ast.Query`` with the
project's one SQL compiler (``moose_trace.query.sql.SqlCompiler``) and ``ClickHouseDialect``,
which reads each field's text from the stored event JSON exactly as the other engines read it,
so every engine gives the same answers.

Speed comes from what the query's conditions imply, added as a pre-filter on the typed columns
the table is keyed and indexed on (rows it drops could never match):

- a time range (``--since``/``--until``/``--compare`` windows) becomes a range on ``timestamp``
  *and* on its primary-key bucket ``toStartOfFiveMinutes(timestamp)``;
- ``--trace ID`` reads the ``<table>_traces`` side table for the trace's first and last sighting
  (scalar subqueries, which ClickHouse evaluates before it analyses the primary key), so only
  those time buckets are read, and there the bloom filters on ``trace_id`` / ``trace_ids``
  skip every granule without the id.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from moose_trace.query.ast import AllOf, Condition, Query, TimeRange, TraceIs
from moose_trace.query.normalize import (
    EVENT_KEYS,
    NUMBER_PATTERN,
    TIMESTAMP_PATTERN,
    datetime_us,
)
from moose_trace.query.results import Result
from moose_trace.query.sql import Plan, SqlCompiler, SqlDialect
from moose_trace.store.clickhouse.schema import DEFAULT_TABLE, TIME_BUCKET, TableNames, table_names
from moose_trace.store.clickhouse.transport import Transport
from moose_trace.tracing.ids import parse_trace_id, trace_id_from_hex

__all__ = [
    "ClickHouseDialect",
    "ClickHouseEngine",
    "literal",
    "pushdown",
    "trace_events",
    "trace_sql",
]

_NUMBER = f"^{NUMBER_PATTERN}$"
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
# A parsed timestamp and the text's own parse may differ by rounding of sub-microseconds or by
# a text only one of them reads: the pre-filter keeps a margin, the exact test decides.
_MARGIN = timedelta(seconds=1)


def literal(value: str) -> str:
    """Return ``value`` as a ClickHouse string literal (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _value_text(field: str) -> str:
    """The field's text as ``normalize.value_text`` spells it, read from the stored JSON."""
    key = literal(field)
    kind = f"JSONType(raw, {key})"
    number = f"JSONExtractFloat(raw, {key})"
    # Python spells an integral float with ".0" (repr); ClickHouse prints it bare.
    double = (
        f"if({number} = floor({number}) AND abs({number}) < 1e16, "
        f"concat(toString(toInt64({number})), '.0'), toString({number}))"
    )
    return (
        f"multiIf({kind} = 'Null', NULL, {kind} = 'String', JSONExtractString(raw, {key}), "
        f"{kind} = 'Bool', if(JSONExtractBool(raw, {key}), 'true', 'false'), "
        f"{kind} = 'Double', {double}, JSONExtractRaw(raw, {key}))"
    )


def _not_an_event() -> str:
    keys = ", ".join(literal(key) for key in EVENT_KEYS)
    return f"arrayAll(k -> JSONType(raw, k) = 'Null', [{keys}])"


def _micros(moment: datetime) -> str:
    return f"fromUnixTimestamp64Micro({datetime_us(moment)}, 'UTC')"


# The pre-filter names the table's own columns through this alias: the relation's text
# columns carry the same names, and ClickHouse lets a select alias shadow a column in WHERE.
_LOG = "_log"


def _range(low: str | None, high: str | None) -> list[str]:
    stamp = f"{_LOG}.timestamp"
    parts = []
    if low is not None:
        parts += [f"{stamp} >= {low}", f"{TIME_BUCKET}({stamp}) >= {TIME_BUCKET}({low})"]
    if high is not None:
        parts += [f"{stamp} <= {high}", f"{TIME_BUCKET}({stamp}) <= {TIME_BUCKET}({high})"]
    return parts


def _trace_prefilter(condition: TraceIs, names: TableNames) -> list[str]:
    ids = [trace_id_from_hex(value) for value in condition.trace_ids]
    if not ids or any(canonical is None for canonical in ids):
        return []
    listed = ", ".join(literal(canonical) for canonical in ids if canonical is not None)
    seen = f"FROM {names.traces} WHERE trace_id IN ({listed})"
    return [
        f"({_LOG}.trace_id IN ({listed}) OR hasAny({_LOG}.trace_ids, [{listed}]))",
        *_range(f"(SELECT min(first_seen) {seen})", f"(SELECT max(last_seen) {seen})"),
    ]


def pushdown(condition: Condition, names: TableNames) -> list[str]:
    """Return conditions on the table's typed columns that every match of ``condition`` meets.

    Only what must hold is pushed: the items of a top-level ``AllOf`` (recursively) that are a
    time range or a trace; anything under ``AnyOf``/``Not`` is left to the exact test.
    """
    if isinstance(condition, AllOf):
        return [part for item in condition.items for part in pushdown(item, names)]
    if isinstance(condition, TimeRange):
        low = None if condition.start is None else _micros(condition.start - _MARGIN)
        high = None if condition.end is None else _micros(condition.end + _MARGIN)
        return _range(low, high)
    if isinstance(condition, TraceIs):
        return _trace_prefilter(condition, names)
    return []


class ClickHouseDialect(SqlDialect):
    """ClickHouse's spelling of the compiler's few engine-specific pieces, over the logs table.

    ``prefilter`` (SQL on the typed columns) narrows the rows read; see ``pushdown``.
    """

    def __init__(self, names: TableNames, prefilter: Sequence[str] = ()) -> None:
        self.names = names
        self.prefilter = " AND ".join(prefilter) or "1"

    def literal(self, text: str) -> str:
        """Return ``text`` as a ClickHouse string literal."""
        return literal(text)

    def relation(self, fields: Sequence[str], *, raw: bool) -> str:
        """Return the events of the logs table with a text column per field, ``_bad``, ``_raw``."""
        columns = [f"{_value_text(field)} AS {self.quote(field)}" for field in fields]
        columns.append(f"{_not_an_event()} AS _bad")
        if raw:
            columns.append("raw AS _raw")
        return (
            f"(SELECT {', '.join(columns)} FROM {self.names.logs} AS {_LOG} WHERE {self.prefilter})"
        )

    def contains_lowered(self, expr: str, needle: str) -> str:
        """Return whether lowercased ``expr`` contains ``needle`` (``--search``).

        Spelled ``lowerUTF8(raw) LIKE '%…%'`` so the table's ``raw_search`` n-gram skip index
        (``ngrambf_v1`` on ``lowerUTF8(raw)``) skips the granules that cannot hold the needle.
        """
        pattern = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"lowerUTF8({expr}) LIKE {literal('%' + pattern + '%')}"

    def int_div(self, expr: str, divisor: int) -> str:
        """Return the integer quotient of ``expr`` by ``divisor`` (``//`` is no operator here)."""
        return f"{expr} DIV {divisor}"

    def glob(self, expr: str, pattern: str) -> str:
        """Return whether ``expr`` matches the glob (``*`` any run, ``?`` one character)."""
        regex = "".join(
            ".*"
            if char == "*"
            else "."
            if char == "?"
            else f"\\{char}" * (char in _RE2_SPECIAL) or char
            for char in pattern
        )
        return f"match({expr}, {literal('(?s)^' + regex + '$')})"

    def to_number(self, expr: str) -> str:
        """Return ``expr``'s number when its text is in JSON number syntax, else NULL."""
        return f"if(match({expr}, {literal(_NUMBER)}), toFloat64OrNull({expr}), NULL)"

    def timestamp_us(self, expr: str) -> str:
        """Return microseconds since the epoch for a timestamp text, as ``normalize`` reads it."""
        pattern = literal("^" + TIMESTAMP_PATTERN + "$")
        day_text = "concat(g[1], '-', g[2], '-', g[3])"
        day = f"toDate32OrNull({day_text})"
        seconds = (
            f"toInt64(toInt32({day})) * 86400 + toInt64OrZero(g[4]) * 3600 "
            "+ toInt64OrZero(g[5]) * 60 + toInt64OrZero(g[6])"
        )
        fraction = "toInt64OrZero(rightPad(left(g[7], 6), 6, '0'))"
        zone = "replace(g[8], ':', '')"
        offset = (
            "if(g[8] IN ('', 'Z'), 0, if(left(g[8], 1) = '+', 1, -1) * "
            f"(toInt64OrZero(substring({zone}, 2, 2)) * 60 "
            f"+ toInt64OrZero(substring({zone}, 4, 2))) * 60000000)"
        )
        # An impossible date (February 30th) is no timestamp, as in Python.
        valid = f"length(g) = 8 AND toString({day}) = {day_text}"
        body = f"if({valid}, ({seconds}) * 1000000 + {fraction} - {offset}, NULL)"
        # The lambda binds the regex groups once for the whole computation.
        return f"arrayMap(g -> {body}, [extractGroups(coalesce({expr}, ''), {pattern})])[1]"

    def trace_list_has(self, expr: str, hexes: Sequence[str]) -> str:
        """Return whether the JSON array text ``expr`` lists one of the trace ids ``hexes``."""
        wanted = ", ".join(literal(value) for value in hexes)
        return (
            f"arrayExists(x -> lower(replace(x, '-', '')) IN ({wanted}), "
            f"JSONExtract(coalesce({expr}, '[]'), 'Array(String)'))"
        )

    def quantile(self, expr: str, fraction: float) -> str:
        """Return the ``fraction`` quantile of ``expr``, linearly interpolated (R-7)."""
        return f"quantileExactInclusive({fraction!r})({expr})"

    def arg_max(self, arg: str, value: str) -> str:
        """Return ``arg`` of the row with the largest ``value``, among rows where both are set."""
        return f"argMaxIfOrNull({arg}, {value}, {arg} IS NOT NULL AND {value} IS NOT NULL)"

    def latest_events_sql(self, relation: str, where: str, limit: int) -> str:
        """Return one row: the ``limit`` latest matching raw events (latest first), bad lines."""
        timestamp = self.timestamp_us(self.quote("timestamp"))
        return (
            f"SELECT (SELECT groupArray(_raw) FROM (SELECT _raw FROM {relation} "
            f"WHERE NOT _bad AND ({where}) ORDER BY {timestamp} DESC NULLS LAST, _raw DESC "
            f"LIMIT {limit})), (SELECT count() FROM {relation} WHERE _bad)"
        )


def _clean(rows: list[list[Any]]) -> Iterator[tuple[Any, ...]]:
    # ClickHouse answers NaN where other engines answer NULL (an average of no rows).
    for row in rows:
        yield tuple(
            None if isinstance(value, float) and math.isnan(value) else value for value in row
        )


class ClickHouseEngine:
    """Answers queries from the ClickHouse logs table; the ``Engine`` of ``--source clickhouse``.

    Same results as the file engine (``moose_trace.query.results``), from a server
    (``clickhouse://``) or chDB (``chdb://``) alike.
    """

    def __init__(self, transport: Transport, *, table: str = DEFAULT_TABLE) -> None:
        self.transport = transport
        self.names = table_names(table, transport.url.database)

    def plan(self, query: Query) -> Plan:
        """Return the ClickHouse statement that answers ``query`` and how to read its rows."""
        dialect = ClickHouseDialect(self.names, pushdown(query.where, self.names))
        return SqlCompiler(dialect).plan(query)

    def run(self, query: Query) -> Result:
        """Answer ``query``."""
        plan = self.plan(query)
        return plan.finish(_clean(self.transport.query_rows(plan.sql)))

    def close(self) -> None:
        """Close the transport (the engine is unusable afterwards)."""
        self.transport.close()


def trace_sql(trace_id: str, *, table: str = DEFAULT_TABLE, database: str | None = None) -> str:
    """Return the lean ``--trace`` read: every stored event of one trace, in time order.

    The same pre-filter the engine pushes down, selecting only ``raw``: for callers that want
    nothing but one trace's events (and for the benchmark, to time the index path alone).
    """
    names = table_names(table, database)
    canonical = parse_trace_id(trace_id) or trace_id
    where = " AND ".join(_trace_prefilter(TraceIs((canonical.replace("-", ""),)), names))
    return f"SELECT raw FROM {names.logs} AS {_LOG}\nWHERE {where or '0'}\nORDER BY timestamp"


def trace_events(
    transport: Transport, trace_id: str, *, table: str = DEFAULT_TABLE
) -> list[dict[str, Any]]:
    """Return every event of ``trace_id`` (including batch lines listing it), in time order."""
    rows = transport.query(trace_sql(trace_id, table=table, database=transport.url.database))
    return [orjson.loads(row["raw"]) for row in rows]
