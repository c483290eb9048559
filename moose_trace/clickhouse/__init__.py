"""ClickHouse as the log store: the table, the transports, the sink, and the query engine.

``ClickHouseSink`` stores log events in a ``moose_logs`` table (created if missing) on a server
(``clickhouse://…``) or in process (``chdb:///…``); ``ClickHouseEngine`` answers the same
queries as the file engine from it. Importing this package loads neither chDB, DuckDB nor
clickhouse-connect: a transport imports its client when it is first used.
"""

from __future__ import annotations

from moose_trace.clickhouse.engine import ClickHouseEngine, trace_events
from moose_trace.clickhouse.schema import DEFAULT_TABLE, cluster_ddl, ddl
from moose_trace.clickhouse.sink import ClickHouseSink, SinkStats, install_sigterm_handler
from moose_trace.clickhouse.transport import (
    ChdbTransport,
    ClickHouseError,
    HttpTransport,
    Transport,
    connect,
)
from moose_trace.clickhouse.url import ClickHouseURL, parse_clickhouse_url

__all__ = [
    "DEFAULT_TABLE",
    "ChdbTransport",
    "ClickHouseEngine",
    "ClickHouseError",
    "ClickHouseSink",
    "ClickHouseURL",
    "HttpTransport",
    "SinkStats",
    "Transport",
    "cluster_ddl",
    "connect",
    "ddl",
    "install_sigterm_handler",
    "parse_clickhouse_url",
    "trace_events",
]
