"""ClickHouse as the log store: the table, the transports, the sink, and the query engine.

``ClickHouseSink`` stores log events in a ``moose_logs`` table (created if missing) on a server
(``clickhouse://…``) or in process (``chdb:///…``); ``ClickHouseEngine`` answers the same
queries as the file engine from it. This package is a public face only: the writer lives in
``moose_trace.store.clickhouse`` (under the query tool), the engine in
``moose_trace.query.clickhouse_engine`` (beside the DuckDB engine). Names load on first use, and
importing this package loads neither chDB, DuckDB nor clickhouse-connect: a transport imports
its client when it is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from moose_trace._moved import MOVED_MODULES

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ClickHouseEngine": "moose_trace.query.clickhouse_engine",
    "trace_events": "moose_trace.query.clickhouse_engine",
    "DEFAULT_TABLE": "moose_trace.store.clickhouse.schema",
    "cluster_ddl": "moose_trace.store.clickhouse.schema",
    "ddl": "moose_trace.store.clickhouse.schema",
    "ClickHouseSink": "moose_trace.store.clickhouse.sink",
    "SinkStats": "moose_trace.store.clickhouse.sink",
    "install_sigterm_handler": "moose_trace.store.clickhouse.sink",
    "ChdbTransport": "moose_trace.store.clickhouse.transport",
    "ClickHouseError": "moose_trace.store.clickhouse.transport",
    "HttpTransport": "moose_trace.store.clickhouse.transport",
    "Transport": "moose_trace.store.clickhouse.transport",
    "connect": "moose_trace.store.clickhouse.transport",
    "ClickHouseURL": "moose_trace.store.clickhouse.url",
    "parse_clickhouse_url": "moose_trace.store.clickhouse.url",
}

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


def __getattr__(name: str) -> Any:
    if f"{__name__}.{name}" in MOVED_MODULES:  # an old submodule: ``moose_trace.clickhouse.sink``
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'moose_trace.clickhouse' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from moose_trace.query.clickhouse_engine import ClickHouseEngine, trace_events
    from moose_trace.store.clickhouse.schema import DEFAULT_TABLE, cluster_ddl, ddl
    from moose_trace.store.clickhouse.sink import ClickHouseSink, SinkStats, install_sigterm_handler
    from moose_trace.store.clickhouse.transport import (
        ChdbTransport,
        ClickHouseError,
        HttpTransport,
        Transport,
        connect,
    )
    from moose_trace.store.clickhouse.url import ClickHouseURL, parse_clickhouse_url
