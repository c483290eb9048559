"""DuckDB with the files' events kept in a table: many queries over growing files, each fast.

``moose-trace logs`` reads the files once per command; ``moose-trace serve`` answers query after
query over the same files while they grow. ``CachedDuckDBEngine`` loads the normalized events
once — through ``DuckDBDialect``'s own relation, so the table holds exactly what a direct query
sees — with each event's time and numbers parsed once, then appends only what the files gained:
every query looks at the files' sizes and loads their new complete lines (a line still being
written waits). The table is never stale: a question is answered after what the files gained
is loaded. Each file's rows carry the file's number, so a file that shrank or was replaced is
loaded again on its own, and a deleted file's rows are dropped, without touching the others.

The same ``SqlCompiler`` answers the queries; only the relation differs (the table instead of
``read_json``). ``covers(query)`` says whether the table holds every field a query reads; a
query about another field, or a listing of every event, goes to ``DuckDBEngine`` over the files.

Speed (docs/benchmarks/console.md):

- The first load costs about as much as one full normalizing scan of the files. ``warm()``
  runs it ahead of the first question (``moose-trace serve`` starts it at start-up, in a
  thread); until it is done, ``ready`` is false and the console asks the files directly.
- The latest page of events reads the narrow time column first, then the raw lines of only
  the rows at or after the page's oldest time: the table is in file order (each file in time
  order), so DuckDB's min/max per row group skips nearly all of it.
- An answer is kept until the table changes (``MEMO_ANSWERS`` of them): asking the same
  question of unchanged files costs nothing.

The table lives in a temporary DuckDB file (about the size of the logs), removed by ``close``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from moose_trace._record import record
from moose_trace.query.ast import ListEvents, Query
from moose_trace.query.duckdb_engine import DEFAULT_MEMORY_LIMIT, DuckDBDialect
from moose_trace.query.exceptions import EngineError
from moose_trace.query.results import Result
from moose_trace.query.sql import Plan, SqlCompiler, condition_fields

__all__ = ["CACHED_FIELDS", "MEMO_ANSWERS", "NUMBER_FIELDS", "CachedDialect", "CachedDuckDBEngine"]

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

MEMO_ANSWERS = 64
"""Answers kept until the table changes (the most recently asked)."""

_TABLE = "events"
_TIME = "_ts_us"
_FILE = "_file"
_CHUNK_BYTES = 64 * 1024 * 1024
_MEMO_ROWS = 10_000  # a larger answer is not kept: it would hold memory for little gain

Row = tuple[Any, ...]


def _number_column(field: str) -> str:
    return f"_n_{field}"


class CachedDialect(DuckDBDialect):
    """DuckDB SQL over the cached table: the event time and numbers already parsed."""

    def __init__(self) -> None:
        super().__init__([])
        self._numbers = {self.quote(field): _number_column(field) for field in NUMBER_FIELDS}

    def relation(self, fields: Sequence[str], *, raw: bool) -> str:
        """Return the table (DuckDB reads only the columns a query names)."""
        return f"(SELECT * FROM {_TABLE})"

    def timestamp_us(self, expr: str) -> str:
        """Return the parsed time for the ``timestamp`` column, else parse ``expr``."""
        return _TIME if expr == self.quote("timestamp") else super().timestamp_us(expr)

    def to_number(self, expr: str) -> str:
        """Return the parsed number of a number field, else parse ``expr``."""
        return self._numbers.get(expr) or super().to_number(expr)

    def latest_events_sql(self, relation: str, where: str, limit: int) -> str:
        """Return the latest ``limit`` events in one statement: the time cut found first, then
        only those rows' ``_raw`` read. (``CachedDuckDBEngine`` runs the two steps apart, so
        that the cut is a constant DuckDB can skip row groups with.)"""
        order = f"{_TIME} DESC NULLS LAST"
        matching = f"FROM {relation} WHERE NOT _bad AND ({where})"
        cut = (
            f"SELECT CASE WHEN count(*) = count({_TIME}) THEN min({_TIME}) END AS _cut "
            f"FROM (SELECT {_TIME} {matching} ORDER BY {order} LIMIT {limit})"
        )
        latest = (
            f"SELECT list(_raw ORDER BY {order}, _raw DESC) FROM (SELECT _raw, {_TIME} "
            f"{matching} AND ((SELECT _cut FROM _c) IS NULL OR {_TIME} >= (SELECT _cut FROM _c)) "
            f"ORDER BY {order}, _raw DESC LIMIT {limit})"
        )
        return f"WITH _c AS ({cut}) SELECT ({latest}), (SELECT count(*) FROM {relation} WHERE _bad)"


@record
class _Loaded:
    """How far one file is in the table: its number there, inode and the bytes loaded."""

    number: int
    inode: int
    size: int


class CachedDuckDBEngine:
    """Answers queries over JSON Lines files from a DuckDB table kept up to date with them.

    ``files()`` is called before each query: the files to serve now (new ones are loaded).
    Thread-safe: queries and loads take turns. ``threads``: DuckDB threads for the first load
    (default: DuckDB's, every core).
    """

    def __init__(
        self,
        files: Sequence[Path] | None = None,
        *,
        discover: Callable[[], Sequence[Path]] | None = None,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int | None = None,
    ) -> None:
        self._static = list(files or [])
        self._discover = discover
        self._dir = tempfile.mkdtemp(prefix="moose-trace-cache-")
        self._connection = duckdb.connect(
            os.path.join(self._dir, "cache.duckdb"),
            config={
                "memory_limit": memory_limit,
                "temp_directory": os.path.join(self._dir, "spill"),
                "preserve_insertion_order": True,
            },
        )
        self._connection.execute("SET TimeZone = 'UTC'")
        self._warm_threads = threads
        self._lock = threading.Lock()
        self._loaded: dict[Path, _Loaded] = {}
        self._numbers = 0
        self._created = False
        self._ready = threading.Event()
        self._generation = 0
        self._memo: OrderedDict[str, list[Row]] = OrderedDict()
        self._memo_generation = 0
        self._compiler = SqlCompiler(CachedDialect())
        self._closing = False

    def files(self) -> list[Path]:
        """Return the files served now."""
        return list(self._discover()) if self._discover is not None else self._static

    @property
    def ready(self) -> bool:
        """Whether the first load is done (until then a question waits for it)."""
        return self._ready.is_set()

    def warm(self) -> None:
        """Load what the files hold now: the first load, ahead of the first question.

        Blocks until done (run it in a thread); a question asked meanwhile waits for it.
        A failure is raised here and again by the next question.
        """
        with self._lock:
            if self._ready.is_set():
                return
            if self._warm_threads is None:
                self._refresh()
            else:
                self._connection.execute(f"SET threads = {self._warm_threads}")
                try:
                    self._refresh()
                finally:
                    self._connection.execute("RESET threads")
            self._ready.set()

    @staticmethod
    def covers(query: Query) -> bool:
        """Return whether the table can answer ``query`` (else read the files directly)."""
        mode = query.mode
        if isinstance(mode, ListEvents) and mode.limit is None:
            return False  # a listing of every event streams from the files, unbounded
        fields = set(condition_fields(query.where))
        for name in ("fields", "by"):
            fields.update(getattr(mode, name, ()))
        return fields <= set(CACHED_FIELDS)

    def run(self, query: Query) -> Result:
        """Answer ``query`` from the table, after loading what the files gained."""
        plan = self._compiler.plan(query)
        mode = query.mode
        with self._lock:
            self._refresh()
            self._ensure_table()
            self._ready.set()
            try:
                if isinstance(mode, ListEvents) and mode.limit is not None:
                    rows = self._remembered(
                        plan.sql, lambda: self._latest(query, mode.limit or 0, plan)
                    )
                else:
                    rows = self._remembered(
                        plan.sql, lambda: self._connection.execute(plan.sql).fetchall()
                    )
            except duckdb.Error as failure:
                raise EngineError(f"DuckDB could not answer from its cache: {failure}") from None
        return plan.finish(iter(rows))

    def close(self) -> None:
        """Drop the table and its temporary file (a load under way is interrupted: Ctrl-C
        during the first load must not wait for it)."""
        self._closing = True
        with contextlib.suppress(duckdb.Error, RuntimeError):
            self._connection.interrupt()
        with self._lock:
            with contextlib.suppress(duckdb.Error):
                self._connection.close()
            shutil.rmtree(self._dir, ignore_errors=True)

    def sql(self, query: Query) -> str:
        """Return the statement that answers ``query`` from the table (for tests)."""
        return self._compiler.plan(query).sql

    # ---- answers ----------------------------------------------------------------------------

    def _remembered(self, key: str, answer: Callable[[], list[Row]]) -> list[Row]:
        """Return the kept answer to ``key`` while the table is unchanged, else ``answer()``."""
        if self._memo_generation != self._generation:
            self._memo.clear()
            self._memo_generation = self._generation
        rows = self._memo.get(key)
        if rows is not None:
            self._memo.move_to_end(key)
            return rows
        rows = answer()
        if len(rows) <= _MEMO_ROWS:
            self._memo[key] = rows
            while len(self._memo) > MEMO_ANSWERS:
                self._memo.popitem(last=False)
        return rows

    def _latest(self, query: Query, limit: int, plan: Plan) -> list[Row]:
        """The latest ``limit`` events as the plan's one row: ``[raw texts newest first]``
        and the bad lines' count.

        Two steps: the ``limit`` latest times over the narrow time column give the cut; then
        only rows at or after it are read whole (a constant bound, so row groups that end
        before it are skipped). Ties at the cut are all read and ordered as the plan orders
        them (time, then raw text, newest first). Fewer timed events than ``limit``: the
        plan's own statement (it orders the untimed ones last).
        """
        where = self._compiler.where(query.where)
        connection = self._connection
        times = connection.execute(
            f"SELECT {_TIME} FROM {_TABLE} WHERE {_TIME} IS NOT NULL AND ({where}) "
            f"ORDER BY {_TIME} DESC LIMIT {limit}"
        ).fetchall()
        if len(times) < limit or limit == 0:
            return connection.execute(plan.sql).fetchall()
        cut = int(times[-1][0])
        rows = connection.execute(
            f"SELECT {_TIME}, _raw FROM {_TABLE} WHERE {_TIME} >= {cut} AND ({where})"
        ).fetchall()
        rows.sort(reverse=True)
        bad = connection.execute(f"SELECT count(*) FROM {_TABLE} WHERE _bad").fetchall()
        return [([raw for _time, raw in rows[:limit]], bad[0][0])]

    # ---- loading ----------------------------------------------------------------------------

    def _refresh(self) -> None:
        files = self.files()
        changed: list[tuple[Path, int, int, int]] = []
        for path in files:
            try:
                status = path.stat()
            except OSError:
                continue
            loaded = self._loaded.get(path)
            if loaded is not None and (
                loaded.inode != status.st_ino
                or status.st_size < loaded.size
                or (path.name.endswith(".gz") and status.st_size != loaded.size)
            ):
                self._forget(path)  # replaced or truncated: loaded again from its start
                loaded = None
            start = 0 if loaded is None else loaded.size
            if status.st_size > start:
                changed.append((path, status.st_ino, start, status.st_size))
        for gone in set(self._loaded) - set(files):
            self._forget(gone)
        self._load(changed)

    def _forget(self, path: Path) -> None:
        """Drop the rows of ``path`` (deleted, replaced or truncated)."""
        self._delete_rows(self._loaded.pop(path).number)

    def _delete_rows(self, number: int) -> None:
        try:
            self._connection.execute(f"DELETE FROM {_TABLE} WHERE {_FILE} = {number}")
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not drop a file's rows: {failure}") from None
        self._generation += 1

    def _load(self, changed: list[tuple[Path, int, int, int]]) -> None:
        """Load the whole lines each file gained since ``start``, one statement per file (each
        file's rows carry its number; the table stays in file order, each file in time order)."""
        for path, inode, start, size in changed:
            end = size if path.name.endswith(".gz") else _last_line_end(path, start, size)
            known = self._loaded.get(path)
            number = known.number if known is not None else self._next_number()
            if end > start:
                self._insert_range(path, number, start, end, size)
            self._loaded[path] = _Loaded(number, inode, max(start, end))

    def _insert_range(self, path: Path, number: int, start: int, end: int, size: int) -> None:
        """Insert the lines of ``path[start:end]``: a whole file read in place, a part copied
        to a temporary file first."""
        if start == 0 and end == size:
            self._insert(path, number)
            if path.name.endswith(".gz") or _size(path) == size:
                return
            # It grew while DuckDB read it, which may have read past `end`: read exactly.
            self._delete_rows(number)
        with _slice(path, start, end, self._dir) as part:
            self._insert(part, number)

    def _ensure_table(self) -> None:
        """Create the (empty) table when no file has a line yet: questions then find none."""
        if not self._created:
            empty = Path(self._dir) / "empty.jsonl"
            empty.write_bytes(b"")
            self._insert(empty, 0)

    def _next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def _insert(self, path: Path, number: int) -> None:
        source = DuckDBDialect([path], flat=_flat(path))
        numbers = ", ".join(
            f"{source.to_number(source.quote(field))} AS {_number_column(field)}"
            for field in NUMBER_FIELDS
        )
        # A bad line's time is NULL: "time IS NOT NULL" then also means "an event".
        time = f"CASE WHEN NOT _bad THEN {source.timestamp_us(source.quote('timestamp'))} END"
        select = (
            f"SELECT *, {time} AS {_TIME}, {numbers}, {number}::INTEGER AS {_FILE} "
            f"FROM {source.relation(CACHED_FIELDS, raw=True)}"
        )
        statement = (
            f"INSERT INTO {_TABLE} {select}"
            if self._created
            else f"CREATE TABLE {_TABLE} AS {select}"
        )
        if self._closing:
            raise EngineError("loading interrupted: the cache was closed")
        try:
            self._connection.execute(statement)
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not load the log files: {failure}") from None
        self._created = True
        self._generation += 1


_CONTAINERS = (b'"fields"', b'"span', b"\\u")


def _flat(path: Path) -> bool:
    """Return whether no line of ``path`` can hold a Rust tracing container (``fields``,
    ``span``, ``spans``): none of those names is written in it, not even escaped."""
    if path.name.endswith(".gz"):
        return False
    with open(path, "rb") as file:
        carry = b""
        while block := file.read(_CHUNK_BYTES):
            window = carry + block
            if any(name in window for name in _CONTAINERS):
                return False
            carry = window[-16:]
    return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _last_line_end(path: Path, start: int, size: int) -> int:
    """Return the offset just past the last newline in ``path[start:size]`` (``start``: none)."""
    with open(path, "rb") as file:
        position = size
        while position > start:
            step = min(_CHUNK_BYTES, position - start)
            file.seek(position - step)
            block = file.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return position - step + newline + 1
            position -= step
    return start


@contextlib.contextmanager
def _slice(path: Path, start: int, end: int, directory: str) -> Iterator[Path]:
    """Yield a temporary ``.jsonl`` file holding ``path[start:end]``."""
    part = Path(directory) / "part.jsonl"
    with open(path, "rb") as source, open(part, "wb") as target:
        source.seek(start)
        remaining = end - start
        while remaining > 0:
            block = source.read(min(_CHUNK_BYTES, remaining))
            if not block:
                break
            target.write(block)
            remaining -= len(block)
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)
