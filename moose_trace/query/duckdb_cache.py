"""DuckDB with the files' events kept in a table: many queries over growing files, each fast.

``moose-trace logs`` reads the files once per command; ``moose-trace serve`` answers query after
query over the same files while they grow. ``CachedDuckDBEngine`` loads the normalized events
once — through ``DuckDBDialect``'s own relation, so the table holds exactly what a direct query
sees — with each event's time and numbers parsed once, then appends only what the files gained:
every query looks at the files' sizes and loads their new complete lines (a line still being
written waits). A file that shrank or was replaced is loaded again from its start.

The same ``SqlCompiler`` answers the queries; only the relation differs (the table instead of
``read_json``). ``covers(query)`` says whether the table holds every field a query reads; a
query about another field, or a listing of every event, goes to ``DuckDBEngine`` over the files.

Cost: the first query loads every file (about as long as one full scan of them); the table lives
in a temporary DuckDB file (about the size of the logs), removed by ``close``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import duckdb

from moose_trace._record import record
from moose_trace.query.ast import ListEvents, Query
from moose_trace.query.duckdb_engine import DEFAULT_MEMORY_LIMIT, DuckDBDialect
from moose_trace.query.errors import EngineError
from moose_trace.query.results import Result
from moose_trace.query.sql import SqlCompiler, condition_fields

__all__ = ["CACHED_FIELDS", "NUMBER_FIELDS", "CachedDialect", "CachedDuckDBEngine"]

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

_TABLE = "events"
_TIME = "_ts_us"
_CHUNK_BYTES = 64 * 1024 * 1024


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
        """Return the latest ``limit`` events: the time cut found first, then only those rows'
        ``_raw`` read (the table is stored in file order, so most row groups are skipped)."""
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
    """How far one file is in the table: its inode and the bytes loaded (whole lines)."""

    inode: int
    size: int


class CachedDuckDBEngine:
    """Answers queries over JSON Lines files from a DuckDB table kept up to date with them.

    ``files()`` is called before each query: the files to serve now (new ones are loaded).
    Thread-safe: queries and loads take turns.
    """

    def __init__(
        self,
        files: Sequence[Path] | None = None,
        *,
        discover: Callable[[], Sequence[Path]] | None = None,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
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
        self._lock = threading.Lock()
        self._loaded: dict[Path, _Loaded] = {}
        self._created = False
        self._compiler = SqlCompiler(CachedDialect())

    def files(self) -> list[Path]:
        """Return the files served now."""
        return list(self._discover()) if self._discover is not None else self._static

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
        with self._lock:
            self._refresh()
            try:
                rows = self._connection.execute(plan.sql).fetchall()
            except duckdb.Error as failure:
                raise EngineError(f"DuckDB could not answer from its cache: {failure}") from None
        return plan.finish(iter(rows))

    def close(self) -> None:
        """Drop the table and its temporary file."""
        with self._lock:
            with contextlib.suppress(duckdb.Error):
                self._connection.close()
            shutil.rmtree(self._dir, ignore_errors=True)

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
                self._rebuild()
                return
            start = 0 if loaded is None else loaded.size
            if status.st_size > start:
                changed.append((path, status.st_ino, start, status.st_size))
        gone = set(self._loaded) - set(files)
        if gone:
            self._rebuild()
            return
        self._load(changed)

    def _rebuild(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self._connection.execute(f"DROP TABLE IF EXISTS {_TABLE}")
        self._created = False
        self._loaded.clear()
        self._refresh()

    def _load(self, changed: list[tuple[Path, int, int, int]]) -> None:
        """Load the whole lines each file gained since ``start``, all in one statement (planning
        the normalizing SQL costs more than reading a small file)."""
        with contextlib.ExitStack() as parts:
            sources: list[Path] = []
            reached: dict[Path, _Loaded] = {}
            for index, (path, inode, start, size) in enumerate(changed):
                end = size if path.name.endswith(".gz") else _last_line_end(path, start, size)
                reached[path] = _Loaded(inode, max(start, end))
                if end <= start:
                    continue
                if start == 0 and end == size:
                    sources.append(path)
                else:
                    sources.append(parts.enter_context(_slice(path, start, end, self._dir, index)))
            if sources:
                self._insert(sources)
        self._loaded.update(reached)

    def _insert(self, paths: list[Path]) -> None:
        source = DuckDBDialect(paths)
        numbers = ", ".join(
            f"{source.to_number(source.quote(field))} AS {_number_column(field)}"
            for field in NUMBER_FIELDS
        )
        select = (
            f"SELECT *, {source.timestamp_us(source.quote('timestamp'))} AS {_TIME}, {numbers} "
            f"FROM {source.relation(CACHED_FIELDS, raw=True)}"
        )
        statement = (
            f"INSERT INTO {_TABLE} {select}"
            if self._created
            else f"CREATE TABLE {_TABLE} AS {select}"
        )
        try:
            self._connection.execute(statement)
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not load the log files: {failure}") from None
        self._created = True

    def sql(self, query: Query) -> str:
        """Return the statement that answers ``query`` from the table (for tests)."""
        return self._compiler.plan(query).sql


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
def _slice(path: Path, start: int, end: int, directory: str, number: int) -> Iterator[Path]:
    """Yield a temporary ``.jsonl`` file holding ``path[start:end]``."""
    part = Path(directory) / f"part-{number}.jsonl"
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
