"""``ChdbTransport``: ClickHouse in process (chDB) on a data directory that persists across runs.

chDB runs one data directory per process, so every transport on the same path shares one
session (closed with its last user); opening another path while one is open raises
``ClickHouseError`` (close the first).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from moose_trace.store.clickhouse.error_codes import ClickHouseError, error_from
from moose_trace.store.clickhouse.transport_base import QUERY_SETTINGS, SqlTransport, client_module
from moose_trace.store.clickhouse.url import ClickHouseURL, parse_clickhouse_url

__all__ = ["ChdbTransport"]


class _ChdbSessions:
    """The process's chDB sessions: one per data directory, shared, closed with the last user."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: str | None = None
        self._session: Any = None
        self._users = 0

    def acquire(self, path: str) -> Any:
        with self._lock:
            if self._session is not None and self._path != path:
                raise ClickHouseError(
                    f"chDB runs one data directory per process and {self._path} is open; "
                    f"close its transports before opening {path}"
                )
            if self._session is None:
                try:
                    session = client_module("chdb.session", "chDB").Session(path)
                    for key, value in QUERY_SETTINGS.items():
                        session.query(f"SET {key} = {value}")
                except Exception as failure:
                    raise ClickHouseError(f"cannot open chDB at {path}: {failure}") from None
                self._session = session
                self._path = path
            self._users += 1
            return self._session

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._session is not None:
                self._session.close()
                self._session = None
                self._path = None


_CHDB = _ChdbSessions()


class ChdbTransport(SqlTransport):
    """ClickHouse in process (chDB) on a data directory that persists across runs.

    Transports on the same path share one chDB session (chDB allows one directory per process).
    Thread-safe: the sink's writer thread and a query may use it at the same time.
    """

    def __init__(self, url: str | ClickHouseURL) -> None:
        parsed = url if isinstance(url, ClickHouseURL) else parse_clickhouse_url(url)
        if parsed.kind != "chdb":
            raise ValueError(f"ChdbTransport needs a chdb:// URL, got {parsed}")
        self._url = parsed
        self._session: Any = _CHDB.acquire(parsed.path)
        self._closed = False
        if parsed.database != "default":
            self.execute(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}`")

    def _run(self, action: str, sql: str | bytes, fmt: str = "TSV") -> Any:
        if self._closed:
            raise ClickHouseError(f"ClickHouse {action} failed at {self._url}: closed")
        try:
            return self._session.query(sql, fmt)
        except Exception as failure:
            raise error_from(self._url, action, failure) from None

    def execute(self, sql: str) -> None:
        """Run a statement that returns no rows."""
        self._run("statement", sql)

    def _select(self, sql: str, fmt: str) -> bytes:
        payload: bytes = self._run("query", sql, fmt).bytes()
        return payload

    def _insert_block(
        self, table: str, data: bytes, fmt: str, columns: Sequence[str], dedup_token: str | None
    ) -> None:
        column_list = f" ({', '.join(columns)})" if columns else ""
        settings = f" SETTINGS insert_deduplication_token = '{dedup_token}'" if dedup_token else ""
        statement = f"INSERT INTO {table}{column_list}{settings} FORMAT {fmt}\n"
        self._run("insert", statement.encode() + data)

    def close(self) -> None:
        """Stop using the shared session; the last transport on the path closes it."""
        if not self._closed:
            self._closed = True
            _CHDB.release()
