"""The ``moose_logs`` table: one documented DDL for a ClickHouse server, a cluster, and chDB.

Each row keeps the event exactly as the SDK wrote it, in ``raw`` (JSON, ZSTD-compressed), so no
field is ever lost, whoever wrote it. The fields queries filter, group and index on are
``MATERIALIZED`` columns that ClickHouse computes from ``raw`` on insert: a writer only sends JSON
Lines (``FORMAT JSONAsString``), and the typed columns cannot disagree with the event.

Layout choices (see docs/clickhouse.md):

- ``PARTITION BY toDate(timestamp)``: a day is the unit TTL and retention drop.
- ``ORDER BY (toStartOfFiveMinutes(timestamp), level, type, name, timestamp)``: a coarse time
  bucket first, so every query's time range prunes granules by primary key (each query sends the
  bucket condition too); then the low-cardinality fields filters use most; then the timestamp.
- Bloom-filter skip indexes on ``trace_id`` and on the ``trace_ids`` array (batch lines), and a
  ``<table>_traces`` side table (trace id → first/last seen) kept by a materialized view, so
  ``--trace`` reads only the buckets that trace touched.
- Granules of ``INDEX_GRANULARITY`` rows (half ClickHouse's default 8,192) and an n-gram bloom
  filter per granule on ``lowerUTF8(raw)`` for ``--search``: lines that match a search cluster
  (errors sort together within a time bucket), and every row of a granule holding one is read
  and matched, so smaller granules read fewer rows per match; the filters keep their bits per
  row (``SEARCH_NGRAM_BYTES``), so a rare term still skips nearly every granule and reading
  them costs what it did (2,048-row granules with the same bits per row skipped far fewer
  granules; with twice the bits, reading the filters cost more than the rows saved). A table
  created before keeps its granules (ClickHouse cannot change them in place) and answers the
  same queries, reading more rows; copy it into a new table to get the finer ones.
- Per-level TTL from the shared ``RetentionPolicy``.
- ``non_replicated_deduplication_window``: inserts carry a deduplication token, so a batch the
  sink retries after a timeout is stored once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from moose_trace.store.retention import DEFAULT_RETENTION, LEVEL_ALIASES, RetentionPolicy

__all__ = [
    "COLUMNS",
    "DEDUP_WINDOW",
    "DEFAULT_TABLE",
    "INDEX_GRANULARITY",
    "SEARCH_NGRAM_BYTES",
    "Column",
    "TableNames",
    "cluster_ddl",
    "ddl",
    "table_names",
    "ttl_clause",
]

DEFAULT_TABLE = "moose_logs"
"""The logs table's default name; the trace side table and its view are named after it."""

DEDUP_WINDOW = 10_000
"""How many recent insert blocks each table remembers to drop a retried batch's duplicate."""

INDEX_GRANULARITY = 4096
"""Rows per granule of the logs table: the unit a skip index keeps or skips (see the module
doc; measured in docs/benchmarks/clickhouse.md)."""

SEARCH_NGRAM_BYTES = 32768
"""Bytes of each granule's n-gram bloom filter (``raw_search``)."""

TIME_BUCKET = "toStartOfFiveMinutes"
"""The primary key's coarse time bucket; queries send a condition on it with every time range."""


@dataclass(frozen=True)
class Column:
    """One typed column of the logs table, computed from the event JSON in ``raw``."""

    name: str
    type: str
    expression: str
    codec: str = ""

    def definition(self) -> str:
        """Return the column's DDL: name, type, ``MATERIALIZED`` expression, codec."""
        codec = f" CODEC({self.codec})" if self.codec else ""
        return f"`{self.name}` {self.type} MATERIALIZED {self.expression}{codec}"


def _string(field: str) -> str:
    return f"JSONExtractString(raw, '{field}')"


def _nullable(field: str, type_: str) -> str:
    return f"JSONExtract(raw, '{field}', 'Nullable({type_})')"


def _canonical_trace_id(text: str) -> str:
    # Stored as the SDK writes ids (36 lowercase characters), whatever case or 32-hex W3C form
    # another writer used, so one equality — which the bloom filter can answer — finds them all.
    hyphenated = (
        "concat("
        + ", '-', ".join(
            f"substring({text}, {start}, {length})"
            for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        )
        + ")"
    )
    return f"lower(if(match({text}, '^[0-9a-fA-F]{{32}}$'), {hyphenated}, {text}))"


def _level_expression() -> str:
    spellings = ", ".join(f"'{alias}'" for alias in LEVEL_ALIASES)
    meanings = ", ".join(f"'{level}'" for level in LEVEL_ALIASES.values())
    return f"transform(lower({_string('level')}), [{spellings}], [{meanings}])"


def _low_cardinality(*fields: str) -> tuple[Column, ...]:
    return tuple(Column(field, "LowCardinality(String)", _string(field)) for field in fields)


def _strings(*fields: str) -> tuple[Column, ...]:
    return tuple(Column(field, "String", _string(field)) for field in fields)


def _numbers(type_: str, *fields: str) -> tuple[Column, ...]:
    return tuple(Column(field, f"Nullable({type_})", _nullable(field, type_)) for field in fields)


COLUMNS: tuple[Column, ...] = (
    Column(
        "timestamp",
        "DateTime64(6, 'UTC')",
        "coalesce(parseDateTime64BestEffortOrNull("
        f"{_string('timestamp')}, 6, 'UTC'), now64(6, 'UTC'))",
        "Delta, ZSTD(1)",
    ),
    Column("level", "LowCardinality(String)", _level_expression()),
    Column("event", "String", _string("event"), "ZSTD(3)"),
    *_low_cardinality("service"),
    Column("trace_id", "String", _canonical_trace_id(_string("trace_id"))),
    *_strings("span_id", "parent_span_id"),
    Column(
        "trace_ids",
        "Array(String)",
        "arrayMap(x -> "
        + _canonical_trace_id("x")
        + ", JSONExtract(raw, 'trace_ids', 'Array(String)'))",
    ),
    *_low_cardinality("type"),
    *_strings("name"),
    *_low_cardinality("layer", "phase", "operation", "status", "error_category"),
    *_strings("error_type", "error_signature"),
    *_numbers("Float64", "latency_ms", "throughput"),
    *_numbers("Int64", "batch_size", "records", "retry_count", "kafka_partition", "kafka_offset"),
    *_low_cardinality("kafka_topic", "consumer_group", "http_method"),
    *_strings("http_path", "request_id", "workflow_run_id"),
    *_numbers("Int64", "http_status"),
    Column("inserted_at", "DateTime64(6, 'UTC')", "now64(6, 'UTC')", "Delta, ZSTD(1)"),
)
"""The typed columns, in table order after ``raw``. ``inserted_at`` is when the row arrived:
``--follow`` on ClickHouse is to poll on it, so that a late batch (a replayed spool) is shown."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TableNames:
    """The quoted names of the logs table, its trace side table and the view that fills it."""

    logs: str
    traces: str
    traces_view: str


def table_names(table: str = DEFAULT_TABLE, database: str | None = None) -> TableNames:
    """Return the quoted names for ``table`` (optionally ``db.table`` or with ``database``).

    A database named in ``table`` (``db.table``) wins over ``database``, the connection's
    default. Raises ``ValueError`` for a name that is not a plain identifier: names go into
    SQL text.
    """
    if "." in table:
        database, table = table.split(".", 1)
    for part in (table, database):
        if part is not None and _IDENTIFIER.fullmatch(part) is None:
            raise ValueError(f"not a valid ClickHouse table or database name: {part!r}")
    prefix = f"`{database}`." if database else ""
    return TableNames(
        logs=f"{prefix}`{table}`",
        traces=f"{prefix}`{table}_traces`",
        traces_view=f"{prefix}`{table}_traces_mv`",
    )


def ttl_clause(retention: RetentionPolicy = DEFAULT_RETENTION) -> str:
    """Return the table's ``TTL`` expression list for ``retention`` (one clause per day count).

    Every level matches exactly one clause, as ``RetentionPolicy.days_for`` decides: the named
    levels by ``IN``, every other level by the catch-all's ``NOT IN``. (A catch-all without a
    condition would apply to every row: with ``error=90d,*=10d`` errors would go after 10 days.)
    Levels are stored normalized (``WARN`` → ``warning``), so plain comparisons suffice.
    """
    expires = "toDateTime(timestamp) + INTERVAL {days} DAY DELETE WHERE level {test} ({levels})"
    groups = {
        days: levels
        for days, levels in retention.levels_by_days().items()
        if days != retention.default_days
    }
    clauses = [
        expires.format(days=days, test="IN", levels=_quoted(levels))
        for days, levels in groups.items()
    ]
    others = [
        level for level in sorted(retention.days) if retention.days[level] != retention.default_days
    ]
    clauses.append(
        expires.format(days=retention.default_days, test="NOT IN", levels=_quoted(others))
        if others
        else f"toDateTime(timestamp) + INTERVAL {retention.default_days} DAY"
    )
    return ",\n    ".join(clauses)


def _quoted(levels: Iterable[str]) -> str:
    escaped = (level.replace("\\", "\\\\").replace("'", "\\'") for level in levels)
    return ", ".join(f"'{level}'" for level in escaped)


def _logs_body(engine: str, retention: RetentionPolicy) -> str:
    columns = ",\n    ".join(
        ["`raw` String CODEC(ZSTD(3))", *(column.definition() for column in COLUMNS)]
    )
    return f"""(
    {columns},
    INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX trace_ids_bloom trace_ids TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX raw_search lowerUTF8(raw) TYPE ngrambf_v1(4, {SEARCH_NGRAM_BYTES}, 2, 0) GRANULARITY 1
)
ENGINE = {engine}
PARTITION BY toDate(timestamp)
ORDER BY ({TIME_BUCKET}(timestamp), level, type, name, timestamp)
TTL {ttl_clause(retention)}
SETTINGS index_granularity = {INDEX_GRANULARITY},
    non_replicated_deduplication_window = {DEDUP_WINDOW}"""


def _traces_body(engine: str, retention: RetentionPolicy) -> str:
    return f"""(
    `trace_id` String,
    `first_seen` SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    `last_seen` SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = {engine}
ORDER BY trace_id
TTL toDateTime(last_seen) + INTERVAL {retention.longest_days} DAY"""


def _traces_view_select(source: str) -> str:
    # A batch line lists the traces it carried in trace_ids: each of them was seen here too.
    return f"""SELECT tid AS trace_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM {source}
ARRAY JOIN arrayFilter(x -> x != '', arrayDistinct(arrayPushFront(trace_ids, trace_id))) AS tid
GROUP BY tid"""


def ddl(
    table: str = DEFAULT_TABLE,
    *,
    database: str | None = None,
    retention: RetentionPolicy = DEFAULT_RETENTION,
) -> list[str]:
    """Return the statements that create the logs table, its trace side table and view.

    Every statement is ``IF NOT EXISTS``: running them again is harmless. For a single server
    and for chDB; see ``cluster_ddl`` for a replicated, sharded cluster.
    """
    names = table_names(table, database)
    return [
        f"CREATE TABLE IF NOT EXISTS {names.logs}\n{_logs_body('MergeTree', retention)}",
        f"CREATE TABLE IF NOT EXISTS {names.traces}\n"
        + _traces_body("AggregatingMergeTree", retention),
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {names.traces_view} TO {names.traces}\n"
        + "AS "
        + _traces_view_select(names.logs),
    ]


def cluster_ddl(
    cluster: str,
    table: str = DEFAULT_TABLE,
    *,
    database: str = "default",
    retention: RetentionPolicy = DEFAULT_RETENTION,
) -> list[str]:
    """Return the DDL for a cluster: ReplicatedMergeTree tables per shard, Distributed in front.

    ``<table>_local`` and ``<table>_traces_local`` hold each shard's rows (replicated through
    ClickHouse Keeper, paths keyed by the ``{shard}``/``{replica}`` macros); ``<table>`` and
    ``<table>_traces`` are Distributed tables with the same names the single-server DDL uses, so
    the sink and the queries run unchanged. Rows are sharded by trace id: one trace's lines live
    on one shard, and lines without a trace id spread evenly.
    """
    if _IDENTIFIER.fullmatch(cluster) is None:
        raise ValueError(f"not a valid ClickHouse cluster name: {cluster!r}")
    local = table_names(f"{table}_local", database)
    public = table_names(table, database)
    traces_local = f"`{database}`.`{table}_traces_local`"
    traces_view = f"`{database}`.`{table}_traces_mv`"
    on_cluster = f"ON CLUSTER `{cluster}`"

    def replicated(kind: str, name: str) -> str:
        return f"Replicated{kind}('/clickhouse/tables/{{shard}}/{database}/{name}', '{{replica}}')"

    return [
        f"CREATE TABLE IF NOT EXISTS {local.logs} {on_cluster}\n"
        + _logs_body(replicated("MergeTree", f"{table}_local"), retention).replace(
            "non_replicated_deduplication_window", "replicated_deduplication_window"
        ),
        f"CREATE TABLE IF NOT EXISTS {traces_local} {on_cluster}\n"
        + _traces_body(replicated("AggregatingMergeTree", f"{table}_traces_local"), retention),
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {traces_view} {on_cluster} "
        f"TO {traces_local}\nAS " + _traces_view_select(local.logs),
        f"CREATE TABLE IF NOT EXISTS {public.logs} {on_cluster} AS {local.logs}\n"
        f"ENGINE = Distributed(`{cluster}`, `{database}`, `{table}_local`, "
        "if(trace_id = '', rand64(), cityHash64(trace_id)))",
        f"CREATE TABLE IF NOT EXISTS {public.traces} {on_cluster} AS {traces_local}\n"
        f"ENGINE = Distributed(`{cluster}`, `{database}`, `{table}_traces_local`, "
        "cityHash64(trace_id))",
    ]
