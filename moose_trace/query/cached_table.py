"""The cached table's layout and the DuckDB SQL that reads it (``CachedDialect``).

``moose-trace serve`` keeps the files' normalized events in one DuckDB table
(``moose_trace.query.duckdb_cache``): every field of ``CACHED_FIELDS``, the raw line, the
event's time parsed once (``TIME_COLUMN``), each number field parsed once
(``number_column(field)``), and two bookkeeping columns: the file a row came from
(``FILE_COLUMN``, so that one file's rows can be dropped) and the load that added it
(``BATCH_COLUMN``, so that a question reads the loads published when it was asked and a kept
answer reads only the rows appended since).
"""

from __future__ import annotations

from collections.abc import Sequence

from moose_trace.query.cache_answers import TIME_COLUMN
from moose_trace.query.duckdb_engine import DuckDBDialect

__all__ = [
    "BATCH_COLUMN",
    "CACHED_FIELDS",
    "FILE_COLUMN",
    "NUMBER_FIELDS",
    "TABLE",
    "CachedDialect",
    "number_column",
]

CACHED_FIELDS = (
    "timestamp", "level", "event", "service", "logger", "trace_id", "span_id",
    "parent_span_id", "trace_ids", "type", "name", "pipeline", "layer", "phase", "operation",
    "status", "latency_ms", "batch_size", "throughput", "records", "retry_count",
    "error_category", "error_type", "error_message", "error_signature", "kafka_topic",
    "kafka_partition", "kafka_offset", "consumer_group", "source", "target", "dlq",
    "http_method", "http_path", "http_status", "http_route", "request_id", "client_ip",
    "principal", "auth", "security", "workflow_run_id", "tenant_id",
    "tenant_slug",
)  # fmt: skip
"""The normalized fields the table holds (docs/schema.md's, and the tenant's id and slug)."""

NUMBER_FIELDS = (
    "latency_ms", "batch_size", "throughput", "records", "retry_count", "http_status",
    "kafka_partition", "kafka_offset",
)  # fmt: skip
"""Fields whose number is parsed once, on load."""

TABLE = "events"
"""The table's name."""

FILE_COLUMN = "_file"
"""The number of the file a row came from."""

BATCH_COLUMN = "_batch"
"""The number of the load that added a row (loads are numbered from 1, in order)."""


def number_column(field: str) -> str:
    """Return the column that holds the parsed number of ``field`` (one of ``NUMBER_FIELDS``)."""
    return f"_n_{field}"


class CachedDialect(DuckDBDialect):
    """DuckDB SQL over the cached table: the event time and numbers already parsed.

    ``after``/``through``: only the rows of the batches ``after < batch <= through``."""

    def __init__(self, after: int | None = None, through: int | None = None) -> None:
        super().__init__([])
        self._numbers = {self.quote(field): number_column(field) for field in NUMBER_FIELDS}
        bounds = [f"{BATCH_COLUMN} > {after}"] if after else []
        if through is not None:
            bounds.append(f"{BATCH_COLUMN} <= {through}")
        self._rows = f" WHERE {' AND '.join(bounds)}" if bounds else ""

    def relation(self, fields: Sequence[str], *, raw: bool) -> str:
        """Return the table's rows (DuckDB reads only the columns a query names)."""
        return f"(SELECT * FROM {TABLE}{self._rows})"

    def timestamp_us(self, expr: str) -> str:
        """Return the parsed time for the ``timestamp`` column, else parse ``expr``."""
        return TIME_COLUMN if expr == self.quote("timestamp") else super().timestamp_us(expr)

    def to_number(self, expr: str) -> str:
        """Return the parsed number of a number field, else parse ``expr``."""
        return self._numbers.get(expr) or super().to_number(expr)

    def latest_events_sql(self, relation: str, where: str, limit: int) -> str:
        """Return the latest ``limit`` events in one statement: the time cut found first, then
        only those rows' ``_raw`` read. (``CachedDuckDBEngine`` runs the two steps apart, so
        that the cut is a constant DuckDB can skip row groups with.)"""
        time = TIME_COLUMN
        order = f"{time} DESC NULLS LAST"
        matching = f"FROM {relation} WHERE NOT _bad AND ({where})"
        cut = (
            f"SELECT CASE WHEN count(*) = count({time}) THEN min({time}) END AS _cut "
            f"FROM (SELECT {time} {matching} ORDER BY {order} LIMIT {limit})"
        )
        latest = (
            f"SELECT list(_raw ORDER BY {order}, _raw DESC) FROM (SELECT _raw, {time} "
            f"{matching} AND ((SELECT _cut FROM _c) IS NULL OR {time} >= (SELECT _cut FROM _c)) "
            f"ORDER BY {order}, _raw DESC LIMIT {limit})"
        )
        return f"WITH _c AS ({cut}) SELECT ({latest}), (SELECT count(*) FROM {relation} WHERE _bad)"
