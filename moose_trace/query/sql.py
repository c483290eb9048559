"""The query AST compiled to SQL: one compiler, a small dialect per engine.

``SqlCompiler`` turns a ``Query`` into one SQL statement and a function that turns its rows
into a result. Everything engine-specific sits behind ``SqlDialect``: where the events come
from (``relation``: DuckDB reads JSON Lines files in place, ClickHouse a table) and the few
functions whose spelling differs (glob match, number and timestamp parsing, quantiles, …).

The relation exposes one text column per normalized field the query uses (named by the field,
holding the value's text as ``normalize.value_text`` spells it), ``_bad`` (the line is not a log
event: counted, never matched) and, for event listings, ``_raw`` (the line's JSON). Conditions
compile to expressions that are never NULL, so ``NOT`` means what the Python predicate means.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from moose_trace._record import record
from moose_trace.query.ast import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Match,
    Not,
    NumberCompare,
    Query,
    Search,
    Stats,
    TimeRange,
    TraceIs,
    Value,
)
from moose_trace.query.codec import loads_bulk
from moose_trace.query.normalize import FALSY_TEXTS, datetime_us, normalize_event
from moose_trace.query.ordering import time_ordered
from moose_trace.query.results import (
    ERROR_LEVELS,
    Bucket,
    ComparisonResult,
    ErrorGroup,
    ErrorGroupsResult,
    EventsResult,
    GroupCount,
    GroupsResult,
    HistogramResult,
    OperationStats,
    Result,
    StatsResult,
    WindowStats,
    bucket_us,
    finish_throughput,
    sort_error_groups,
    sort_groups,
    sort_stats,
)

__all__ = [
    "COMPARE_FIELDS",
    "ERROR_FIELDS",
    "Plan",
    "SqlCompiler",
    "SqlDialect",
    "condition_fields",
    "events_from_json",
]

COMPARE_FIELDS = ("timestamp", "level", "latency_ms", "throughput", "batch_size", "records")
"""The fields ``--compare`` reads."""

ERROR_FIELDS = (
    "timestamp",
    "level",
    "error_signature",
    "error_type",
    "error_message",
    "event",
    "error_category",
    "layer",
    "trace_id",
)
"""The fields ``--errors`` reads."""

Row = tuple[Any, ...]


@record
class Plan:
    """One SQL statement and how to turn its rows into the query's result."""

    sql: str
    finish: Callable[[Iterator[Row]], Result]


class SqlDialect(ABC):
    """What one SQL engine spells its own way; the compiler writes everything else."""

    def quote(self, name: str) -> str:
        """Return ``name`` as a quoted identifier."""
        return '"' + name.replace('"', '""') + '"'

    def literal(self, text: str) -> str:
        """Return ``text`` as a string literal."""
        return "'" + text.replace("'", "''") + "'"

    def number(self, value: float) -> str:
        """Return a number literal (integral values without a fraction)."""
        if not math.isfinite(value):
            return f"CAST({self.literal(repr(value))} AS DOUBLE)"
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)

    @abstractmethod
    def relation(self, fields: Sequence[str], *, raw: bool) -> str:
        """Return a FROM item with a text column per field, ``_bad``, and ``_raw`` if asked."""

    @abstractmethod
    def glob(self, expr: str, pattern: str) -> str:
        """Return whether ``expr`` matches the glob ``pattern`` (``*`` any run, ``?`` one char)."""

    @abstractmethod
    def to_number(self, expr: str) -> str:
        """Return ``expr``'s number when its text is in JSON number syntax, else NULL."""

    @abstractmethod
    def timestamp_us(self, expr: str) -> str:
        """Return microseconds since the epoch for a timestamp text (``normalize.timestamp_us``)."""

    @abstractmethod
    def trace_list_has(self, expr: str, hexes: Sequence[str]) -> str:
        """Return whether the JSON array text ``expr`` lists one of the trace ids ``hexes``."""

    @abstractmethod
    def quantile(self, expr: str, fraction: float) -> str:
        """Return the ``fraction`` quantile of ``expr``, linearly interpolated."""

    def quantiles(self, expr: str, fractions: Sequence[float], condition: str) -> list[str]:
        """Return one aggregate per fraction: ``expr``'s quantile over rows where ``condition``
        holds (a dialect that computes several at once from one sort overrides this)."""
        return [f"{self.quantile(expr, q)} FILTER (WHERE {condition})" for q in fractions]

    @abstractmethod
    def arg_max(self, arg: str, value: str) -> str:
        """Return ``arg`` of the row with the largest ``value``, among rows where both are set."""

    def int_div(self, expr: str, divisor: int) -> str:
        """Return the integer quotient of ``expr`` by ``divisor``."""
        return f"{expr} // {divisor}"

    def contains_lowered(self, expr: str, needle: str) -> str:
        """Return whether lowercased ``expr`` contains ``needle`` (already lowercase)."""
        return f"coalesce(strpos(lower({expr}), {self.literal(needle)}) > 0, false)"

    def trace_hex(self, expr: str) -> str:
        """Return a trace id's text lowercased without hyphens (``normalize.trace_hex``)."""
        return f"lower(replace({expr}, '-', ''))"

    def latest_events_sql(self, relation: str, where: str, limit: int) -> str:
        """Return a statement whose one row holds the ``limit`` latest matching ``_raw`` values.

        Row: (list of raw JSON texts, latest first; count of ``_bad`` lines). Events without a
        readable timestamp count as the oldest; ties go by the raw text. This generic form
        reads the relation twice; a dialect with a top-N aggregate does it in one scan.
        """
        timestamp = self.timestamp_us(self.quote("timestamp"))
        return (
            f"SELECT (SELECT list(_raw) FROM (SELECT _raw FROM {relation} "
            f"WHERE NOT _bad AND ({where}) ORDER BY {timestamp} DESC NULLS LAST, _raw DESC "
            f"LIMIT {limit})), (SELECT count(*) FROM {relation} WHERE _bad)"
        )


def condition_fields(condition: Condition) -> set[str]:
    """Return the normalized fields ``condition`` reads."""
    if isinstance(condition, (Match, NumberCompare)):
        return {condition.field}
    if isinstance(condition, TimeRange):
        return {"timestamp"}
    if isinstance(condition, TraceIs):
        return {"trace_id", "trace_ids"}
    if isinstance(condition, Search):
        return set()
    if isinstance(condition, Not):
        return condition_fields(condition.item)
    return set().union(*(condition_fields(item) for item in condition.items))


def _searches(condition: Condition) -> bool:
    """Whether ``condition`` has a ``Search`` anywhere (it reads the raw line)."""
    if isinstance(condition, Search):
        return True
    if isinstance(condition, Not):
        return _searches(condition.item)
    if isinstance(condition, (AllOf, AnyOf)):
        return any(_searches(item) for item in condition.items)
    return False


def events_from_json(texts: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    """Yield the normalized event of each raw JSON text (lines already known to be events)."""
    for text in texts:
        try:
            event = normalize_event(loads_bulk(text))
        except ValueError:  # the engine took it for JSON; it is skipped, never fatal
            continue
        if event is not None:
            yield event


class SqlCompiler:
    """Compiles a ``Query`` to one statement in a dialect, plus how to read its rows."""

    def __init__(self, dialect: SqlDialect) -> None:
        self.dialect = dialect

    def column(self, field: str) -> str:
        """Return the relation column of a normalized field."""
        return self.dialect.quote(field)

    def timestamp(self) -> str:
        """Return the event time in microseconds since the epoch (NULL when unreadable)."""
        return self.dialect.timestamp_us(self.column("timestamp"))

    def _number(self, field: str) -> str:
        return self.dialect.to_number(self.column(field))

    def _truthy(self, expr: str) -> str:
        falsy = ", ".join(self.dialect.literal(text) for text in sorted(FALSY_TEXTS))
        number = self.dialect.to_number(expr)
        return f"coalesce(lower({expr}) NOT IN ({falsy}) AND coalesce({number} <> 0, true), false)"

    def _value(self, expr: str, value: Value) -> str:
        d = self.dialect
        if value.kind == "bool":
            truthy = self._truthy(expr)
            return truthy if value.text == "true" else f"NOT {truthy}"
        if value.kind == "glob":
            return f"coalesce({d.glob(expr, value.text)}, false)"
        if value.kind == "number":
            number = d.to_number(expr)
            return (
                f"coalesce({expr} = {d.literal(value.text)} "
                f"OR {number} = {d.number(value.number)}, false)"
            )
        return f"coalesce({expr} = {d.literal(value.text)}, false)"

    def where(self, condition: Condition) -> str:
        """Return ``condition`` as a boolean SQL expression that is never NULL."""
        d = self.dialect
        if isinstance(condition, Match):
            column = self.column(condition.field)
            tests = " OR ".join(self._value(column, value) for value in condition.values)
            return f"NOT ({tests})" if condition.negate else f"({tests})"
        if isinstance(condition, NumberCompare):
            bound = d.number(condition.number)
            return f"coalesce({self._number(condition.field)} {condition.op} {bound}, false)"
        if isinstance(condition, TimeRange):
            parts = []
            if condition.start is not None:
                parts.append(f"{self.timestamp()} >= {datetime_us(condition.start)}")
            if condition.end is not None:
                parts.append(f"{self.timestamp()} < {datetime_us(condition.end)}")
            readable = f"{self.timestamp()} IS NOT NULL"
            return f"coalesce({' AND '.join(parts) or readable}, false)"
        if isinstance(condition, TraceIs):
            hexes = ", ".join(d.literal(value) for value in condition.trace_ids)
            own = f"coalesce({d.trace_hex(self.column('trace_id'))} IN ({hexes}), false)"
            listed = d.trace_list_has(self.column("trace_ids"), condition.trace_ids)
            return f"({own} OR coalesce({listed}, false))"
        if isinstance(condition, Search):
            return d.contains_lowered("_raw", condition.needle)
        if isinstance(condition, Not):
            return f"NOT {self.where(condition.item)}"
        if not condition.items:
            return "true" if isinstance(condition, AllOf) else "false"
        joiner = " AND " if isinstance(condition, AllOf) else " OR "
        return "(" + joiner.join(self.where(item) for item in condition.items) + ")"

    def plan(self, query: Query) -> Plan:
        """Return the statement answering ``query`` and how to read its rows."""
        mode = query.mode
        if isinstance(mode, ListEvents):
            return self._list(query, mode)
        if isinstance(mode, GroupBy):
            return self._group(query, mode)
        if isinstance(mode, Histogram):
            return self._histogram(query, mode)
        if isinstance(mode, Comparison):
            return self._compare(query, mode)
        if isinstance(mode, Stats):
            return self._stats(query, mode)
        assert isinstance(mode, ErrorGroups)
        return self._errors(query)

    def _relation(self, query: Query, fields: Iterable[str], *, raw: bool = False) -> str:
        wanted = sorted(condition_fields(query.where) | set(fields))
        return self.dialect.relation(wanted, raw=raw or _searches(query.where))

    def _list(self, query: Query, mode: ListEvents) -> Plan:
        relation = self._relation(query, ["timestamp"], raw=True)
        where = self.where(query.where)
        if mode.limit is not None:
            sql = self.dialect.latest_events_sql(relation, where, mode.limit)

            def latest(rows: Iterator[Row]) -> Result:
                texts, skipped = next(rows)
                events = list(events_from_json(reversed(texts or [])))
                return EventsResult(events, skipped=lambda: int(skipped))

            return Plan(sql, latest)
        # Unordered: the rows are put in time order by an external sort (moose_trace.query.
        # ordering), which keeps memory flat where a database sort of every line would not.
        sql = (
            f"SELECT CASE WHEN _bad THEN NULL ELSE _raw END, _ts, _bad FROM (SELECT *, "
            f"{self.timestamp()} AS _ts FROM {relation}) WHERE _bad OR ({where})"
        )

        def stream(rows: Iterator[Row]) -> Result:
            skipped = [0]

            def good() -> Iterator[tuple[int | None, str]]:
                for raw, timestamp, bad in rows:
                    if bad:
                        skipped[0] += 1
                    else:
                        yield timestamp, raw

            events = events_from_json(time_ordered(good()))
            return EventsResult(events, skipped=lambda: skipped[0])

        return Plan(sql, stream)

    def _group(self, query: Query, mode: GroupBy) -> Plan:
        columns = ", ".join(self.column(field) for field in mode.fields)
        sql = (
            f"SELECT {columns}, _bad, count(*) FROM {self._relation(query, mode.fields)} "
            f"WHERE _bad OR ({self.where(query.where)}) GROUP BY {columns}, _bad"
        )
        width = len(mode.fields)

        def finish(rows: Iterator[Row]) -> Result:
            groups, skipped = [], 0
            for row in rows:
                if row[width]:
                    skipped += int(row[width + 1])
                else:
                    groups.append(GroupCount(tuple(row[:width]), int(row[width + 1])))
            return GroupsResult(mode.fields, sort_groups(groups), skipped)

        return Plan(sql, finish)

    def _histogram(self, query: Query, mode: Histogram) -> Plan:
        step = bucket_us(mode.interval)
        bucket = f"{self.dialect.int_div('_ts', step)} * {step}"
        sql = (
            f"SELECT {bucket} AS _bucket, _bad, count(*) FROM (SELECT "
            f"{self.timestamp()} AS _ts, _bad FROM {self._relation(query, ['timestamp'])} "
            f"WHERE _bad OR ({self.where(query.where)})) GROUP BY _bucket, _bad"
        )

        def finish(rows: Iterator[Row]) -> Result:
            buckets, untimed, skipped = [], 0, 0
            for bucket, bad, count in rows:
                if bad:
                    skipped += int(count)
                elif bucket is None:
                    untimed += int(count)
                else:
                    buckets.append(Bucket(int(bucket), int(count)))
            buckets.sort(key=lambda item: item.start_us)
            return HistogramResult(mode.interval, buckets, untimed, skipped)

        return Plan(sql, finish)

    def _compare(self, query: Query, mode: Comparison) -> Plan:
        d = self.dialect
        errors = ", ".join(d.literal(level) for level in ERROR_LEVELS)
        inner = (
            f"SELECT _bad, {self.timestamp()} AS _ts, {self._number('latency_ms')} AS _lat, "
            f"{self._number('throughput')} AS _tp, coalesce({self._number('batch_size')}, "
            f"{self._number('records')}, 1) AS _units, "
            f"coalesce({self.column('level')} IN ({errors}), false) AS _err "
            f"FROM {self._relation(query, COMPARE_FIELDS)} "
            f"WHERE _bad OR ({self.where(query.where)})"
        )
        selects = ["count(*) FILTER (WHERE _bad)"]
        for window in mode.windows:
            start, end = datetime_us(window.start), datetime_us(window.end)
            inside = f"NOT _bad AND _ts >= {start} AND _ts < {end}"
            selects += [
                f"count(*) FILTER (WHERE {inside})",
                f"count(*) FILTER (WHERE {inside} AND _err)",
                f"count(_lat) FILTER (WHERE {inside})",
                f"avg(_lat) FILTER (WHERE {inside})",
                *d.quantiles("_lat", (0.5, 0.95, 0.99), inside),
                f"avg(_tp) FILTER (WHERE {inside})",
                f"sum(_units) FILTER (WHERE {inside} AND _lat IS NOT NULL)",
                f"sum(_lat) FILTER (WHERE {inside})",
            ]
        sql = f"SELECT {', '.join(selects)} FROM ({inner})"

        def finish(rows: Iterator[Row]) -> Result:
            row = next(rows)
            stats = []
            for index, window in enumerate(mode.windows):
                part = row[1 + index * 10 : 11 + index * 10]
                count, errs, lat_n, avg, p50, p95, p99, tp, units, _lat_sum = part
                stats.append(
                    WindowStats(
                        window,
                        int(count),
                        int(errs),
                        int(lat_n),
                        _float(avg),
                        _float(p50),
                        _float(p95),
                        _float(p99),
                        finish_throughput(_float(tp), _float(units), window),
                    )
                )
            return ComparisonResult(stats, int(row[0]))

        return Plan(sql, finish)

    def stats_source(self, query: Query, by: Sequence[str]) -> str:
        """Return the rows ``Stats`` aggregates: the matching events and the bad lines, with
        columns ``_k0``… (the ``by`` fields), ``_bad``, ``_lat`` (``latency_ms``'s number) and
        ``_err`` (an error level). An engine that keeps stats up to date reads the same rows."""
        errors = ", ".join(self.dialect.literal(level) for level in ERROR_LEVELS)
        keys = [f"{self.column(field)} AS _k{index}" for index, field in enumerate(by)]
        return (
            f"SELECT {', '.join([*keys, '_bad'])}, {self._number('latency_ms')} AS _lat, "
            f"coalesce({self.column('level')} IN ({errors}), false) AS _err "
            f"FROM {self._relation(query, ('level', 'latency_ms', *by))} "
            f"WHERE _bad OR ({self.where(query.where)})"
        )

    def _stats(self, query: Query, mode: Stats) -> Plan:
        d = self.dialect
        inner = self.stats_source(query, mode.by)
        good = "NOT _bad"
        measures = [
            f"count(*) FILTER (WHERE {good})",
            f"count(*) FILTER (WHERE {good} AND _err)",
            f"count(_lat) FILTER (WHERE {good})",
            f"avg(_lat) FILTER (WHERE {good})",
            *d.quantiles("_lat", (0.5, 0.95, 0.99), good),
            "count(*) FILTER (WHERE _bad)",
        ]
        names = [f"_k{index}" for index in range(len(mode.by))]
        blank = "nullif('', '')"
        blanks = [f"{blank} AS {name}" for name in names]
        total = f"SELECT 1 AS _total, {', '.join([*blanks, *measures])} FROM _m"
        grouped = ", ".join([*names, *measures])
        group_by = f" GROUP BY {', '.join(names)}" if names else ""
        per_group = (
            f"SELECT * FROM (SELECT 0 AS _total, {grouped} FROM _m WHERE {good}{group_by} "
            f"ORDER BY {', '.join(['count(*) DESC', *(f'{n} NULLS LAST' for n in names)])} "
            f"LIMIT {mode.limit + 1})"
        )
        sql = f"WITH _m AS ({inner}) {total} UNION ALL {per_group}"
        width = len(mode.by)

        def finish(rows: Iterator[Row]) -> Result:
            overall: OperationStats | None = None
            groups: list[OperationStats] = []
            skipped = 0
            for row in rows:
                key = tuple(None if part is None else str(part) for part in row[1 : 1 + width])
                count, errs, lat_n, avg, p50, p95, p99, bad = row[1 + width :]
                stats = OperationStats(
                    key if not row[0] else (),
                    int(count),
                    int(errs),
                    int(lat_n),
                    _float(avg),
                    _float(p50),
                    _float(p95),
                    _float(p99),
                )
                if row[0]:
                    overall, skipped = stats, int(bad)
                elif stats.count:
                    groups.append(stats)
            assert overall is not None
            ordered = sort_stats(groups)
            return StatsResult(
                mode.by, overall, ordered[: mode.limit], len(ordered) > mode.limit, skipped
            )

        return Plan(sql, finish)

    def _errors(self, query: Query) -> Plan:
        d = self.dialect
        col = self.column
        levels = ", ".join(d.literal(level) for level in ERROR_LEVELS)
        is_error = (
            f"(coalesce({col('level')} IN ({levels}), false) "
            f"OR {col('error_signature')} IS NOT NULL)"
        )
        signature = (
            f"coalesce({col('error_signature')}, {col('error_type')} || ': ' || "
            f"{col('error_message')}, {col('error_type')}, {col('error_message')}, {col('event')})"
        )
        example = f"coalesce({col('error_message')}, {col('event')})"
        inner = (
            f"SELECT *, {self.timestamp()} AS _ts, {signature} AS _sig, {example} AS _example "
            f"FROM {self._relation(query, ERROR_FIELDS)}"
        )
        latest = [
            d.arg_max(expr, "_ts")
            for expr in (
                col("error_category"),
                col("layer"),
                col("error_type"),
                "_example",
                col("trace_id"),
            )
        ]
        sql = (
            f"SELECT _sig, _bad, count(*), min(_ts), max(_ts), {', '.join(latest)} FROM ({inner}) "
            f"WHERE _bad OR ({self.where(query.where)} AND {is_error}) GROUP BY _sig, _bad"
        )

        def finish(rows: Iterator[Row]) -> Result:
            groups, skipped = [], 0
            for sig, bad, count, first, last, category, layer, kind, text, trace in rows:
                if bad:
                    skipped += int(count)
                    continue
                if sig is None:
                    continue
                groups.append(
                    ErrorGroup(
                        str(sig),
                        int(count),
                        _int(first),
                        _int(last),
                        category,
                        layer,
                        kind,
                        text,
                        trace,
                    )
                )
            return ErrorGroupsResult(sort_error_groups(groups), skipped)

        return Plan(sql, finish)


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
