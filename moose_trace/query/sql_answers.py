"""Each kind of answer as SQL: the statement, and how its rows become the result.

One function per answer of the query language (``ListEvents``, ``GroupBy``, ``Histogram``,
``Comparison``, ``Stats``, ``ErrorGroups``), written once for every SQL engine over a
``WhereCompiler`` (its dialect, columns and conditions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from moose_trace._record import record
from moose_trace.query.ast import (
    Comparison,
    GroupBy,
    Histogram,
    ListEvents,
    Query,
    Stats,
)
from moose_trace.query.codec import loads_bulk
from moose_trace.query.normalize import datetime_us, normalize_event
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
from moose_trace.query.sql_where import WhereCompiler

__all__ = [
    "COMPARE_FIELDS",
    "ERROR_FIELDS",
    "Plan",
    "Row",
    "comparison",
    "error_groups",
    "events_from_json",
    "group_counts",
    "histogram",
    "list_events",
    "operation_stats",
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
"""One row of a statement's answer."""


@record
class Plan:
    """One SQL statement and how to turn its rows into the query's result."""

    sql: str
    finish: Callable[[Iterator[Row]], Result]


def events_from_json(texts: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    """Yield the normalized event of each raw JSON text (lines already known to be events)."""
    for text in texts:
        try:
            event = normalize_event(loads_bulk(text))
        except ValueError:  # the engine took it for JSON; it is skipped, never fatal
            continue
        if event is not None:
            yield event


def list_events(compiler: WhereCompiler, query: Query, mode: ListEvents) -> Plan:
    """Matching events: the latest ``limit`` in one statement, else every one in time order."""
    relation = compiler.relation(query, ["timestamp"], raw=True)
    where = compiler.where(query.where)
    if mode.limit is not None:
        sql = compiler.dialect.latest_events_sql(relation, where, mode.limit)

        def latest(rows: Iterator[Row]) -> Result:
            texts, skipped = next(rows)
            events = list(events_from_json(reversed(texts or [])))
            return EventsResult(events, skipped=lambda: int(skipped))

        return Plan(sql, latest)
    # Unordered: the rows are put in time order by an external sort (moose_trace.query.
    # ordering), which keeps memory flat where a database sort of every line would not.
    sql = (
        f"SELECT CASE WHEN _bad THEN NULL ELSE _raw END, _ts, _bad FROM (SELECT *, "
        f"{compiler.timestamp()} AS _ts FROM {relation}) WHERE _bad OR ({where})"
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


def group_counts(compiler: WhereCompiler, query: Query, mode: GroupBy) -> Plan:
    """Counts per value of ``mode.fields``."""
    columns = ", ".join(compiler.column(field) for field in mode.fields)
    sql = (
        f"SELECT {columns}, _bad, count(*) FROM {compiler.relation(query, mode.fields)} "
        f"WHERE _bad OR ({compiler.where(query.where)}) GROUP BY {columns}, _bad"
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


def histogram(compiler: WhereCompiler, query: Query, mode: Histogram) -> Plan:
    """Counts per time bucket."""
    step = bucket_us(mode.interval)
    bucket = f"{compiler.dialect.int_div('_ts', step)} * {step}"
    sql = (
        f"SELECT {bucket} AS _bucket, _bad, count(*) FROM (SELECT "
        f"{compiler.timestamp()} AS _ts, _bad FROM {compiler.relation(query, ['timestamp'])} "
        f"WHERE _bad OR ({compiler.where(query.where)})) GROUP BY _bucket, _bad"
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


def comparison(compiler: WhereCompiler, query: Query, mode: Comparison) -> Plan:
    """Latency, throughput and error rate per time window."""
    d = compiler.dialect
    errors = ", ".join(d.literal(level) for level in ERROR_LEVELS)
    inner = (
        f"SELECT _bad, {compiler.timestamp()} AS _ts, {compiler.number('latency_ms')} AS _lat, "
        f"{compiler.number('throughput')} AS _tp, coalesce({compiler.number('batch_size')}, "
        f"{compiler.number('records')}, 1) AS _units, "
        f"coalesce({compiler.column('level')} IN ({errors}), false) AS _err "
        f"FROM {compiler.relation(query, COMPARE_FIELDS)} "
        f"WHERE _bad OR ({compiler.where(query.where)})"
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
            tp, units = part[7], part[8]
            throughput = finish_throughput(_float(tp), _float(units), window)
            stats.append(WindowStats(window, *_latency_measures(part[:7]), throughput))
        return ComparisonResult(stats, int(row[0]))

    return Plan(sql, finish)


def operation_stats(compiler: WhereCompiler, query: Query, mode: Stats) -> Plan:
    """Count, errors and latency quantiles, overall and per group."""
    d = compiler.dialect
    errors = ", ".join(d.literal(level) for level in ERROR_LEVELS)
    keys = [f"{compiler.column(field)} AS _k{index}" for index, field in enumerate(mode.by)]
    inner = (
        f"SELECT {', '.join([*keys, '_bad'])}, {compiler.number('latency_ms')} AS _lat, "
        f"coalesce({compiler.column('level')} IN ({errors}), false) AS _err "
        f"FROM {compiler.relation(query, ('level', 'latency_ms', *mode.by))} "
        f"WHERE _bad OR ({compiler.where(query.where)})"
    )
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
            measures, bad = row[1 + width : 8 + width], row[8 + width]
            stats = OperationStats(key if not row[0] else (), *_latency_measures(measures))
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


def error_groups(compiler: WhereCompiler, query: Query) -> Plan:
    """Error events grouped by signature, with each group's latest details."""
    d = compiler.dialect
    col = compiler.column
    levels = ", ".join(d.literal(level) for level in ERROR_LEVELS)
    is_error = (
        f"(coalesce({col('level')} IN ({levels}), false) OR {col('error_signature')} IS NOT NULL)"
    )
    signature = (
        f"coalesce({col('error_signature')}, {col('error_type')} || ': ' || "
        f"{col('error_message')}, {col('error_type')}, {col('error_message')}, {col('event')})"
    )
    example = f"coalesce({col('error_message')}, {col('event')})"
    inner = (
        f"SELECT *, {compiler.timestamp()} AS _ts, {signature} AS _sig, {example} AS _example "
        f"FROM {compiler.relation(query, ERROR_FIELDS)}"
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
        f"WHERE _bad OR ({compiler.where(query.where)} AND {is_error}) GROUP BY _sig, _bad"
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


def _latency_measures(
    row: Sequence[Any],
) -> tuple[int, int, int, float | None, float | None, float | None, float | None]:
    """Count, errors, timed count, mean and p50/p95/p99 latency, from the columns in that order
    (the ``count(*)``, ``… AND _err``, ``count(_lat)``, ``avg`` and quantiles of both answers)."""
    count, errors, timed, mean, p50, p95, p99 = row
    return (
        int(count),
        int(errors),
        int(timed),
        _float(mean),
        _float(p50),
        _float(p95),
        _float(p99),
    )


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
