"""The demo's OLAP tables: ClickHouse (chDB in process, or a server by URL), else DuckDB.

The sync inserts batches here, the leaderboard API queries here, and the deployment adds a column
here, all for real: a ``timestamp`` that is not a DateTime is refused by the engine itself, with
its own error. Columns are declared in ClickHouse types; DuckDB gets the closest equivalents.
ClickHouse is reached through ``moose_trace.store.clickhouse.transport`` (the log store's
transport), so chDB and a server run the same SQL.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from moose_trace.demo.exceptions import DemoError

__all__ = ["DEMO_DATABASE", "ClickHouseStore", "DuckDBStore", "OlapStore", "open_store"]

DEMO_DATABASE = "moose_demo"
"""The database the demo's tables live in (on a server, nothing outside it is touched)."""

_DUCKDB_TYPES = {
    "String": "VARCHAR",
    "UInt64": "UBIGINT",
    "UInt32": "UINTEGER",
    "Int64": "BIGINT",
    "Float64": "DOUBLE",
    "DateTime64(3, 'UTC')": "TIMESTAMPTZ",
}


class OlapStore(Protocol):
    """What the demo needs from its OLAP engine."""

    engine: str
    """Which engine this is, for the user: ``chDB (ClickHouse in process)``, ``DuckDB`` …"""

    def create_table(self, name: str, columns: Sequence[tuple[str, str]], order_by: str) -> None:
        """Create table ``name`` with ``(column, ClickHouse type)`` columns, replacing any."""

    def add_column(self, table: str, column: str, type_: str) -> None:
        """Add a column (``ALTER TABLE … ADD COLUMN``)."""

    def columns(self, table: str) -> list[str]:
        """Return the table's column names, or an empty list when it does not exist."""

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` as one block: all or none. Fields that are not columns are ignored."""

    def qualified(self, table: str) -> str:
        """Return the name to use for ``table`` in SQL given to ``query``."""

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a ``SELECT`` and return its rows as dicts."""

    def close(self) -> None:
        """Release the engine (the data may go with it)."""


class ClickHouseStore:
    """Tables in ClickHouse: chDB in process (``chdb:///dir``) or a server (``clickhouse://…``)."""

    def __init__(self, url: str, engine: str) -> None:
        from moose_trace.store.clickhouse.transport import ClickHouseError, connect  # noqa: PLC0415

        try:
            self._transport = connect(url)
            self._transport.execute(f"CREATE DATABASE IF NOT EXISTS {DEMO_DATABASE}")
        except (ClickHouseError, ValueError) as failure:
            raise DemoError(f"cannot use ClickHouse for the demo's tables: {failure}") from None
        self.engine = engine
        self._columns: dict[str, list[str]] = {}

    def create_table(self, name: str, columns: Sequence[tuple[str, str]], order_by: str) -> None:
        """Create table ``name`` (MergeTree ordered by ``order_by``), replacing any."""
        spec = ", ".join(f"{column} {type_}" for column, type_ in columns)
        self._transport.execute(f"DROP TABLE IF EXISTS {DEMO_DATABASE}.{name}")
        self._transport.execute(
            f"CREATE TABLE {DEMO_DATABASE}.{name} ({spec}) ENGINE = MergeTree ORDER BY {order_by}"
        )
        self._columns.pop(name, None)

    def add_column(self, table: str, column: str, type_: str) -> None:
        """Add a column."""
        self._transport.execute(f"ALTER TABLE {DEMO_DATABASE}.{table} ADD COLUMN {column} {type_}")
        self._columns.pop(table, None)

    def columns(self, table: str) -> list[str]:
        """Return the table's column names (empty when it does not exist)."""
        known = self._columns.get(table)
        if known is None:
            rows = self._transport.query_rows(
                "SELECT name FROM system.columns "
                f"WHERE database = '{DEMO_DATABASE}' AND table = '{table}' ORDER BY position"
            )
            known = self._columns[table] = [str(row[0]) for row in rows]
        return known

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` as one JSONEachRow block."""
        names = self.columns(table)
        data = b"".join(
            orjson.dumps({name: row[name] for name in names if name in row}) + b"\n" for row in rows
        )
        self._transport.insert(f"{DEMO_DATABASE}.{table}", data)

    def qualified(self, table: str) -> str:
        """Return ``moose_demo.<table>``."""
        return f"{DEMO_DATABASE}.{table}"

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a ``SELECT``."""
        return self._transport.query(sql)

    def close(self) -> None:
        """Close the transport."""
        self._transport.close()


class DuckDBStore:
    """Tables in an in-memory DuckDB database, used when chDB is not installed."""

    engine = "DuckDB (in process; install moose-trace[clickhouse] for ClickHouse via chDB)"

    def __init__(self) -> None:
        import duckdb  # noqa: PLC0415 (optional dependency)

        self._connection = duckdb.connect()
        self._lock = threading.Lock()
        self._columns: dict[str, list[str]] = {}

    def create_table(self, name: str, columns: Sequence[tuple[str, str]], order_by: str) -> None:
        """Create table ``name``, replacing any (``order_by`` has no meaning in DuckDB)."""
        spec = ", ".join(f"{column} {_duckdb_type(type_)}" for column, type_ in columns)
        with self._lock:
            self._connection.execute(f"CREATE OR REPLACE TABLE {name} ({spec})")
            self._columns.pop(name, None)

    def add_column(self, table: str, column: str, type_: str) -> None:
        """Add a column."""
        with self._lock:
            self._connection.execute(
                f"ALTER TABLE {table} ADD COLUMN {column} {_duckdb_type(type_)}"
            )
            self._columns.pop(table, None)

    def columns(self, table: str) -> list[str]:
        """Return the table's column names (empty when it does not exist)."""
        with self._lock:
            known = self._columns.get(table)
            if known is None:
                rows = self._connection.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
                known = self._columns[table] = [str(row[0]) for row in rows]
            return known

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` in one transaction."""
        names = self.columns(table)
        values = [[_duckdb_value(row.get(name)) for name in names] for row in rows]
        marks = ", ".join("?" for _ in names)
        with self._lock:
            self._connection.execute("BEGIN TRANSACTION")
            try:
                self._connection.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", values
                )
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def qualified(self, table: str) -> str:
        """Return ``table`` (one database, no prefix)."""
        return table

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a ``SELECT``."""
        with self._lock:
            cursor = self._connection.execute(sql)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        """Close the database (its tables go with it)."""
        with self._lock:
            self._connection.close()


def _duckdb_type(clickhouse_type: str) -> str:
    inner = clickhouse_type
    if inner.startswith("Nullable(") and inner.endswith(")"):
        inner = inner[len("Nullable(") : -1]
    try:
        return _DUCKDB_TYPES[inner]
    except KeyError:
        raise ValueError(f"no DuckDB type for ClickHouse type {clickhouse_type!r}") from None


def _duckdb_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


def open_store(clickhouse_url: str | None, data_dir: Path) -> OlapStore:
    """Open the demo's OLAP engine.

    ``clickhouse_url`` given: that ClickHouse server (tables in database ``moose_demo``).
    Otherwise chDB in ``data_dir`` when chDB is installed, else in-memory DuckDB. Raises
    ``DemoError`` naming the install command when neither engine is installed.
    """
    if clickhouse_url:
        _require("clickhouse_connect", "clickhouse", "a ClickHouse server")
        return ClickHouseStore(clickhouse_url, f"ClickHouse server ({_shown(clickhouse_url)})")
    if _installed("chdb"):
        return ClickHouseStore(f"chdb://{data_dir / 'chdb'}", "chDB (ClickHouse in process)")
    _require("duckdb", "demo", "the demo's tables")
    return DuckDBStore()


def _shown(url: str) -> str:
    from moose_trace.store.clickhouse.url import redact_url  # noqa: PLC0415

    return redact_url(url)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _require(module: str, extra: str, what: str) -> None:
    if not _installed(module):
        raise DemoError(f"{what} need {module}: pip install 'moose-trace[{extra}]'")
