"""``HttpTransport``: a ClickHouse server or cluster over HTTP(S), through clickhouse-connect.

The client connects lazily, on first use, and reconnects after a failure, so a sink can be
created while the server is still down.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from moose_trace.store.clickhouse.error_codes import ClickHouseError, error_from
from moose_trace.store.clickhouse.transport_base import QUERY_SETTINGS, SqlTransport, client_module
from moose_trace.store.clickhouse.url import ClickHouseURL, parse_clickhouse_url

__all__ = ["HttpTransport"]


class HttpTransport(SqlTransport):
    """A ClickHouse server or cluster over HTTP(S), through clickhouse-connect.

    Connects on first use and again after a failure, so creating one never blocks on the network.
    Thread-safe (clickhouse-connect's HTTP client is; connection setup is serialized here).
    """

    def __init__(
        self,
        url: str | ClickHouseURL,
        *,
        connect_timeout: float = 5.0,
        timeout: float = 30.0,
        compress: bool = True,
    ) -> None:
        parsed = url if isinstance(url, ClickHouseURL) else parse_clickhouse_url(url)
        if parsed.kind != "http":
            raise ValueError(f"HttpTransport needs a clickhouse:// or https:// URL, got {parsed}")
        self._url = parsed
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._compress = compress
        self._lock = threading.Lock()
        self._client: Any = None
        self._closed = False

    def _connected(self, action: str) -> Any:
        with self._lock:
            if self._closed:
                raise ClickHouseError(f"ClickHouse {action} failed at {self._url}: closed")
            if self._client is None:
                library = client_module("clickhouse_connect", "clickhouse-connect")
                try:
                    self._client = library.get_client(
                        interface="https" if self._url.secure else "http",
                        host=self._url.host,
                        port=self._url.port,
                        username=self._url.user,
                        password=self._url.password,
                        database=self._url.database,
                        connect_timeout=self._connect_timeout,
                        send_receive_timeout=self._timeout,
                        compress=self._compress,
                        autogenerate_session_id=False,
                    )
                except Exception as failure:
                    raise error_from(self._url, "connection", failure) from None
            return self._client

    def _failed(self, action: str, failure: BaseException) -> ClickHouseError:
        error = error_from(self._url, action, failure)
        if not error.permanent:
            # A broken connection is rebuilt on the next call.
            with self._lock:
                client, self._client = self._client, None
            if client is not None:
                client.close()
        return error

    def execute(self, sql: str) -> None:
        """Run a statement that returns no rows."""
        client = self._connected("statement")
        try:
            client.command(sql)
        except Exception as failure:
            raise self._failed("statement", failure) from None

    def _select(self, sql: str, fmt: str) -> bytes:
        client = self._connected("query")
        try:
            payload: bytes = client.raw_query(sql, settings=QUERY_SETTINGS, fmt=fmt)
        except Exception as failure:
            raise self._failed("query", failure) from None
        return payload

    def _insert_block(
        self, table: str, data: bytes, fmt: str, columns: Sequence[str], dedup_token: str | None
    ) -> None:
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        client = self._connected("insert")
        try:
            client.raw_insert(
                table, list(columns) or None, insert_block=data, settings=settings, fmt=fmt
            )
        except Exception as failure:
            raise self._failed("insert", failure) from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()
