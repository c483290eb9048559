"""What both transports share: the public methods over two primitives, argument checks, rows.

A transport subclasses ``SqlTransport``, sets ``_url`` and implements ``execute``, ``_select``
(a ``SELECT`` to the bytes of one output format) and ``_insert_block`` (one block whose format,
columns and token were checked here: they are written into SQL text).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

import orjson

from moose_trace.store.clickhouse.error_codes import ClickHouseError
from moose_trace.store.clickhouse.url import ClickHouseURL

__all__ = ["QUERY_SETTINGS", "SqlTransport", "check_insert", "client_module", "rows_of"]

_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_FORMAT = re.compile(r"[A-Za-z]+")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
QUERY_SETTINGS = {"output_format_json_quote_64bit_integers": 0}
"""Settings of every query: 64-bit integers as JSON numbers, so both transports agree."""


def check_insert(fmt: str, columns: Sequence[str], dedup_token: str | None) -> None:
    """Refuse a format, column or token that is not a plain name (they go into SQL text)."""
    if _FORMAT.fullmatch(fmt) is None:
        raise ValueError(f"not a ClickHouse format name: {fmt!r}")
    for column in columns:
        if _COLUMN.fullmatch(column) is None:
            raise ValueError(f"not a column name: {column!r}")
    if dedup_token is not None and _TOKEN.fullmatch(dedup_token) is None:
        raise ValueError(f"deduplication token must match {_TOKEN.pattern}: {dedup_token!r}")


def client_module(module: str, package: str) -> Any:
    """Import a transport's client library, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise ClickHouseError(
            f"{package} is not installed: pip install 'moose-trace[clickhouse]'"
        ) from None


def rows_of(payload: bytes) -> list[Any]:
    """The rows of a ``JSONEachRow``/``JSONCompactEachRow`` answer."""
    return [orjson.loads(line) for line in payload.splitlines() if line]


class SqlTransport:
    """The public methods of a transport, over the two primitives each one implements."""

    _url: ClickHouseURL

    @property
    def url(self) -> ClickHouseURL:
        """Where the transport sends SQL (printing it masks the password)."""
        return self._url

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a ``SELECT`` and return its rows as dicts."""
        return rows_of(self._select(sql, "JSONEachRow"))

    def query_rows(self, sql: str) -> list[list[Any]]:
        """Run a ``SELECT`` and return its rows as lists, in column order."""
        return rows_of(self._select(sql, "JSONCompactEachRow"))

    def insert(
        self,
        table: str,
        data: bytes,
        *,
        fmt: str = "JSONEachRow",
        columns: Sequence[str] = (),
        dedup_token: str | None = None,
    ) -> None:
        """Insert ``data`` into ``table`` as one block (deduplicated by ``dedup_token``)."""
        check_insert(fmt, columns, dedup_token)
        self._insert_block(table, data, fmt, columns, dedup_token)

    def _select(self, sql: str, fmt: str) -> bytes:
        raise NotImplementedError

    def _insert_block(
        self, table: str, data: bytes, fmt: str, columns: Sequence[str], dedup_token: str | None
    ) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._url)!r})"
