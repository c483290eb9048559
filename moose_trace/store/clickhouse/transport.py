"""One small interface to run SQL on ClickHouse: a server over HTTP(S), or chDB in process.

The sink, ``moose-trace ingest`` and the query engine only ever ``execute`` a statement, ``query``
rows (as dicts, decoded from ``JSONEachRow`` on both transports so they agree to the type), and
``insert`` a block of rows with a deduplication token. ``connect(url)`` picks the transport:

- ``chdb:///path/to/dir``: a chDB session on that directory. chDB runs one data directory per
  process, so every transport on the same path shares one session; opening another path while
  one is open raises ``ClickHouseError`` (close the first).
- ``clickhouse://user:pass@host:8123/db``: clickhouse-connect over HTTP (``clickhouses://`` for
  HTTPS). The client connects lazily, on first use, and reconnects after a failure, so a sink
  can be created while the server is still down.

Errors are ``ClickHouseError`` with the location in the message and the password masked
(``error_codes``). Each transport has its module (``chdb_transport``, ``http_transport``, over
``transport_base``); this one holds the interface and ``connect``, and keeps every name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from moose_trace.store.clickhouse.chdb_transport import ChdbTransport
from moose_trace.store.clickhouse.error_codes import (
    PERMANENT_CODES,
    TRANSIENT_CODES,
    ClickHouseError,
)
from moose_trace.store.clickhouse.http_transport import HttpTransport
from moose_trace.store.clickhouse.url import ClickHouseURL, parse_clickhouse_url

__all__ = [
    "PERMANENT_CODES",
    "TRANSIENT_CODES",
    "ChdbTransport",
    "ClickHouseError",
    "HttpTransport",
    "Transport",
    "connect",
]


class Transport(Protocol):
    """What the sink, ingest and the query engine need from a ClickHouse connection."""

    @property
    def url(self) -> ClickHouseURL:
        """The parsed location (printing it masks the password)."""
        ...

    def execute(self, sql: str) -> None:
        """Run a statement that returns no rows (DDL, ``OPTIMIZE``, …)."""
        ...

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a ``SELECT`` and return its rows as dicts (column name → JSON value)."""
        ...

    def query_rows(self, sql: str) -> list[list[Any]]:
        """Run a ``SELECT`` and return its rows as lists, in column order."""
        ...

    def insert(
        self,
        table: str,
        data: bytes,
        *,
        fmt: str = "JSONEachRow",
        columns: Sequence[str] = (),
        dedup_token: str | None = None,
    ) -> None:
        """Insert ``data`` (rows in ClickHouse format ``fmt``) into ``table`` as one block.

        With ``dedup_token``, inserting the same block again (a retry) stores it once.
        """
        ...

    def close(self) -> None:
        """Release the connection; the transport is unusable afterwards."""
        ...


def connect(url: str | ClickHouseURL, **options: Any) -> Transport:
    """Return the transport for ``url``: ``ChdbTransport`` for ``chdb://``, else ``HttpTransport``.

    ``options`` go to ``HttpTransport`` (timeouts, compression); chDB takes none.
    """
    parsed = url if isinstance(url, ClickHouseURL) else parse_clickhouse_url(url)
    if parsed.kind == "chdb":
        if options:
            raise TypeError(f"chdb:// takes no options, got {sorted(options)}")
        return ChdbTransport(parsed)
    return HttpTransport(parsed, **options)
