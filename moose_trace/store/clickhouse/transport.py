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

Errors are ``ClickHouseError`` with the location in the message and the password masked.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from moose_trace.store.clickhouse.url import ClickHouseURL, parse_clickhouse_url
from moose_trace.store.exceptions import EngineError

__all__ = [
    "PERMANENT_CODES",
    "TRANSIENT_CODES",
    "ChdbTransport",
    "ClickHouseError",
    "HttpTransport",
    "Transport",
    "connect",
]

_TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_FORMAT = re.compile(r"[A-Za-z]+")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ERROR_CODE = re.compile(r"Code: (\d+)")
_MAX_MESSAGE = 2000
# ClickHouse error codes (src/Common/ErrorCodes.cpp) sorted by what a retry can do. Permanent:
# the rows or the statement are wrong (parse and type errors, a syntax error, no data, a column
# that does not exist): the same insert fails forever. Transient: the server is busy, short of
# memory, read-only for a while, or the connection broke: the same insert later succeeds.
PERMANENT_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        16,  # NO_SUCH_COLUMN_IN_TABLE
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        47,  # UNKNOWN_IDENTIFIER
        53,  # TYPE_MISMATCH
        62,  # SYNTAX_ERROR
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        73,  # UNKNOWN_FORMAT
        108,  # NO_DATA_TO_INSERT
        117,  # INCORRECT_DATA
        130,  # CANNOT_READ_ARRAY_FROM_TEXT
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    }
)
"""ClickHouse error codes that no retry can fix (the data or the statement is wrong)."""
TRANSIENT_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE (a connection cut mid-request)
        60,  # UNKNOWN_TABLE (dropped meanwhile: the sink creates it again)
        81,  # UNKNOWN_DATABASE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        192,  # UNKNOWN_USER (an operator fixing access)
        194,  # REQUIRED_PASSWORD
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
    }
)
"""ClickHouse error codes after which the same request may later succeed."""
_QUERY_SETTINGS = {"output_format_json_quote_64bit_integers": 0}


class ClickHouseError(EngineError):
    """A ClickHouse operation failed; the message names the location, never the password.

    ``code`` is ClickHouse's error code (``None`` when the server never answered: a network
    failure). ``permanent`` is true when the code says the data or the statement is wrong (a
    parse, type or syntax error, no data): retrying the same rows cannot succeed. ``transient``
    is true when a retry may succeed (no answer, or a code for overload, timeouts, lost
    connections, access being fixed). A code in neither list is neither: the sink retries it a
    few times, then sets the rows aside.
    """

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent or (code is not None and code in PERMANENT_CODES)

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later (no error code, or a transient one)."""
        if self.permanent:
            return False
        return self.code is None or self.code in TRANSIENT_CODES


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


def _error(url: ClickHouseURL, action: str, failure: BaseException) -> ClickHouseError:
    text = url.scrub(str(failure) or type(failure).__name__)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + " …"
    found = _ERROR_CODE.search(text)
    code = int(found.group(1)) if found is not None else None
    return ClickHouseError(f"ClickHouse {action} failed at {url}: {text}", code=code)


def _check_insert(fmt: str, columns: Sequence[str], dedup_token: str | None) -> None:
    if _FORMAT.fullmatch(fmt) is None:
        raise ValueError(f"not a ClickHouse format name: {fmt!r}")
    for column in columns:
        if _COLUMN.fullmatch(column) is None:
            raise ValueError(f"not a column name: {column!r}")
    if dedup_token is not None and _TOKEN.fullmatch(dedup_token) is None:
        raise ValueError(f"deduplication token must match {_TOKEN.pattern}: {dedup_token!r}")


def _import(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise ClickHouseError(
            f"{package} is not installed: pip install 'moose-trace[clickhouse]'"
        ) from None


def _rows(payload: bytes) -> list[Any]:
    return [orjson.loads(line) for line in payload.splitlines() if line]


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
                    session = _import("chdb.session", "chDB").Session(path)
                    for key, value in _QUERY_SETTINGS.items():
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


class _SqlTransport:
    """What both transports share: the public methods, over the two primitives each implements.

    A subclass sets ``_url`` and implements ``execute``, ``_select`` (a ``SELECT`` to the bytes
    of one output format) and ``_insert_block`` (one block with checked arguments).
    """

    _url: ClickHouseURL

    @property
    def url(self) -> ClickHouseURL:
        """Where the transport sends SQL (printing it masks the password)."""
        return self._url

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a ``SELECT`` and return its rows as dicts."""
        return _rows(self._select(sql, "JSONEachRow"))

    def query_rows(self, sql: str) -> list[list[Any]]:
        """Run a ``SELECT`` and return its rows as lists, in column order."""
        return _rows(self._select(sql, "JSONCompactEachRow"))

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
        _check_insert(fmt, columns, dedup_token)
        self._insert_block(table, data, fmt, columns, dedup_token)

    def _select(self, sql: str, fmt: str) -> bytes:
        raise NotImplementedError

    def _insert_block(
        self, table: str, data: bytes, fmt: str, columns: Sequence[str], dedup_token: str | None
    ) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._url)!r})"


class ChdbTransport(_SqlTransport):
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
            raise _error(self._url, action, failure) from None

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


class HttpTransport(_SqlTransport):
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
                client_module = _import("clickhouse_connect", "clickhouse-connect")
                try:
                    self._client = client_module.get_client(
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
                    raise _error(self._url, "connection", failure) from None
            return self._client

    def _failed(self, action: str, failure: BaseException) -> ClickHouseError:
        error = _error(self._url, action, failure)
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
            payload: bytes = client.raw_query(sql, settings=_QUERY_SETTINGS, fmt=fmt)
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
