"""DuckDB with the files' events kept in a table: many queries over growing files, each fast.

``moose-trace logs`` reads the files once per command; ``moose-trace serve`` answers query after
query over the same files while they grow. ``CachedDuckDBEngine`` loads the normalized events
once — through ``DuckDBDialect``'s own relation, so the table holds exactly what a direct query
sees — with each event's time and numbers parsed once, then appends only what the files gained:
every query looks at the files' sizes and loads their new complete lines (a line still being
written waits). The table is never stale: a question is answered after what the files gained
is loaded. Each file's rows carry the file's number, so a file that shrank or was replaced is
loaded again on its own, and a deleted file's rows are dropped, without touching the others.

Each load's rows also carry its *batch* number. A question reads the batches published when
it was asked (``_batch <= N``), so it sees a consistent table while a load runs beside it,
and a kept answer is brought up to date from the batches appended since
(``moose_trace.query.cache_answers``): an appended line costs a question the new rows only.

The same ``SqlCompiler`` answers the queries; only the relation differs (the table instead of
``read_json``). ``covers(query)`` says whether the table holds every field a query reads; a
query about another field, or a listing of every event, goes to ``DuckDBEngine`` over the files.

Speed (docs/benchmarks/console.md):

- The first load costs about as much as one full normalizing scan of the files. ``warm()``
  runs it ahead of the first question (``moose-trace serve`` starts it at start-up, in a
  thread), in chunks of about ``LOAD_CHUNK_BYTES``, the chunks holding the newest events
  first. Until it is done, ``ready`` is false and a question about large logs is answered
  within ``PARTIAL_AFTER_SECONDS`` from the chunks loaded so far (``progress()`` says how
  far): the latest events come first. Small logs (``SMALL_LOAD_BYTES``) load before answering.
- The latest page of events reads the narrow time column first, then the raw lines of only
  the rows at or after the page's oldest time: DuckDB's min/max per row group skips nearly
  all of the table.
- An answer is kept (``MEMO_ANSWERS`` of them) and brought up to date from the new batches.

The table lives in a temporary DuckDB file (about the size of the logs), removed by ``close``;
one left by a killed console is removed by the next (``moose_trace.query.cache_dirs``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson

from moose_trace._record import record
from moose_trace.query.ast import ListEvents, Query
from moose_trace.query.cache_answers import TIME_COLUMN, Batches, KeptAnswer, keep_answer
from moose_trace.query.cache_dirs import make_cache_dir
from moose_trace.query.duckdb_engine import DEFAULT_MEMORY_LIMIT, DuckDBDialect
from moose_trace.query.exceptions import EngineError
from moose_trace.query.normalize import timestamp_us, value_text
from moose_trace.query.results import Result
from moose_trace.query.sql import SqlCompiler, condition_fields

__all__ = [
    "CACHED_FIELDS",
    "LOAD_CHUNK_BYTES",
    "MEMO_ANSWERS",
    "NUMBER_FIELDS",
    "PARTIAL_AFTER_SECONDS",
    "SMALL_LOAD_BYTES",
    "CachedDialect",
    "CachedDuckDBEngine",
]

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
"""Answers kept and brought up to date (the most recently asked)."""

LOAD_CHUNK_BYTES = 8 * 1024 * 1024
"""About how much of a file the first load reads per step (a question answers between steps)."""

SMALL_LOAD_BYTES = 64 * 1024 * 1024
"""Logs up to this size load before a question is answered (a few seconds at most)."""

PARTIAL_AFTER_SECONDS = 1.0
"""How long a question about larger logs waits for their first load before it is answered
from what is loaded so far (a partial answer)."""

_TABLE = "events"
_TIME = TIME_COLUMN
_FILE = "_file"
_BATCH = "_batch"
_CHUNK_BYTES = 64 * 1024 * 1024
_LOAD_CHECKPOINT = "1GB"
_KEPT_VALUES = 16_000_000  # kept answers hold at most about this many values (~128 MB)

Row = tuple[Any, ...]


def _number_column(field: str) -> str:
    return f"_n_{field}"


class CachedDialect(DuckDBDialect):
    """DuckDB SQL over the cached table: the event time and numbers already parsed.

    ``after``/``through``: only the rows of the batches ``after < batch <= through``."""

    def __init__(self, after: int | None = None, through: int | None = None) -> None:
        super().__init__([])
        self._numbers = {self.quote(field): _number_column(field) for field in NUMBER_FIELDS}
        bounds = [f"{_BATCH} > {after}"] if after else []
        if through is not None:
            bounds.append(f"{_BATCH} <= {through}")
        self._rows = f" WHERE {' AND '.join(bounds)}" if bounds else ""

    def relation(self, fields: Sequence[str], *, raw: bool) -> str:
        """Return the table's rows (DuckDB reads only the columns a query names)."""
        return f"(SELECT * FROM {_TABLE}{self._rows})"

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


@record
class _Chunk:
    """One step of the first load: ``path[start:end]`` (whole lines), as file ``number``."""

    path: Path
    number: int
    inode: int
    start: int
    end: int
    size: int
    newest: float


class CachedDuckDBEngine:
    """Answers queries over JSON Lines files from a DuckDB table kept up to date with them.

    ``files()`` is called before each query: the files to serve now (new ones are loaded).
    Thread-safe: questions take turns; a first load runs beside them. ``threads``: DuckDB
    threads for the first load (default: DuckDB's, every core).
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
        self._dir = make_cache_dir()
        self._connection = duckdb.connect(
            os.path.join(self._dir, "cache.duckdb"),
            config={
                "memory_limit": memory_limit,
                "temp_directory": os.path.join(self._dir, "spill"),
                "preserve_insertion_order": True,
            },
        )
        self._connection.execute("SET TimeZone = 'UTC'")
        self._reader = self._connection.cursor()  # questions read beside a load on the main
        self._warm_threads = threads
        self._write_lock = threading.Lock()  # loads, deletions and the files' bookkeeping
        self._answer_lock = threading.Lock()  # one question at a time, and the kept answers
        self._loaded: dict[Path, _Loaded] = {}
        self._numbers = 0
        self._created = False
        self._ready = threading.Event()
        self._loading = False
        self._loaded_bytes = 0
        self._load_bytes = 0
        self._batch = 0  # the newest batch a question may read
        self._epoch = 0  # rows were deleted: kept answers start over
        self._kept: OrderedDict[str, KeptAnswer] = OrderedDict()
        self._kept_epoch = 0
        self._updates = 0
        self._thread = threading.local()  # each thread's last answer: partial or not
        self._compiler = SqlCompiler(CachedDialect())
        self._closing = False

    def files(self) -> list[Path]:
        """Return the files served now."""
        return list(self._discover()) if self._discover is not None else self._static

    @property
    def ready(self) -> bool:
        """Whether the first load is done (until then answers hold the chunks loaded so far)."""
        return self._ready.is_set()

    @property
    def loading(self) -> bool:
        """Whether a first load is under way."""
        return self._loading

    @property
    def updated_answers(self) -> int:
        """How many answers were brought up to date from appended rows instead of computed
        again (a diagnostic: the console's speed over growing files rests on it)."""
        return self._updates

    def progress(self) -> tuple[int, int]:
        """Return ``(bytes loaded, bytes to load)`` of the first load (equal once done)."""
        return self._loaded_bytes, self._load_bytes

    def warm(self) -> None:
        """Load what the files hold now: the first load, ahead of the first question.

        Blocks until done (returns at once when a load is under way in another thread); a
        question asked meanwhile is answered from the chunks loaded so far. A failure is
        raised here and again by the next question.
        """
        if self._begin_load():
            self._load_all()

    def warm_in_background(self, then: Callable[[Exception | None], None]) -> None:
        """Start the first load in a thread (questions from now on answer from it) and call
        ``then`` with its failure, or ``None``, when it ends. Nothing when one is under way."""
        if not self._begin_load():
            return

        def load() -> None:
            failure: Exception | None = None
            try:
                self._load_all()
            except Exception as error:  # the next question meets it again and reports it
                failure = error
            then(failure)

        threading.Thread(target=load, name="moose-trace-cache", daemon=True).start()

    def _load_all(self) -> None:
        """The first load, chunk by chunk. DuckDB checkpoints the table (compresses and writes
        it out) when its log passes ``checkpoint_threshold``: at the default 16 MB, a load of
        hundreds of MB checkpoints again and again (45 s instead of 26 s for 300 MB at load 9,
        docs/benchmarks/console.md), so the load checkpoints about once, at its end."""
        connection = self._connection
        try:
            if self._warm_threads is not None:
                connection.execute(f"SET threads = {self._warm_threads}")
            connection.execute(f"SET checkpoint_threshold = '{_LOAD_CHECKPOINT}'")
            try:
                for chunk in self._first_chunks():
                    with self._write_lock:
                        self._load_chunk(chunk)
                with self._write_lock:
                    self._refresh()  # what the files gained during the load
                    self._ready.set()
            finally:
                with contextlib.suppress(duckdb.Error):
                    connection.execute("RESET checkpoint_threshold")
                    if self._warm_threads is not None:
                        connection.execute("RESET threads")
            with contextlib.suppress(duckdb.Error), self._write_lock:
                connection.execute("CHECKPOINT")  # skipped when a question reads meanwhile
        finally:
            self._loading = False

    def _begin_load(self) -> bool:
        """Start the first load: ``False`` when it is done or under way in another thread."""
        with self._write_lock:
            if self._ready.is_set() or self._loading:
                return False
            self._ensure_table()
            if self._batch:  # a load that failed half-way: start over
                self._execute(f"DELETE FROM {_TABLE}", "start the load over")
                self._loaded.clear()
                self._epoch += 1
            self._loading = True  # questions now read the table: it exists
            return True

    def refresh(self) -> None:
        """Load what the files gained since the last question (a background refresher calls
        this, so that a question seldom pays for the load)."""
        if not self._ready.is_set():
            return
        with self._answer_lock, self._write_lock:
            self._refresh()

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
        """Answer ``query`` from the table, after loading what the files gained (during the
        first load: from the chunks loaded so far)."""
        plan = self._compiler.plan(query)
        self._await_load()
        if not self._ready.is_set() and not self._loading:
            self.warm()  # no load under way (or it failed): load now, and report a failure
        with self._answer_lock:
            if self._ready.is_set():
                with self._write_lock:
                    self._refresh()
                    batch, epoch = self._batch, self._epoch
            else:  # the published batches, without waiting for the chunk being loaded
                batch, epoch = self._batch, self._epoch
            partial = not self._ready.is_set()
            rows = self._answer(query, plan.sql, batch, epoch)
        self._thread.partial = partial
        return plan.finish(iter(rows))

    def answered_partial(self) -> bool:
        """Whether the calling thread's last answer came from a first load under way (it holds
        the chunks loaded then, not every line)."""
        return bool(getattr(self._thread, "partial", False))

    def _await_load(self) -> None:
        """Wait for a first load under way in another thread: until it ends when the logs are
        small (up to ``SMALL_LOAD_BYTES``: a question about them never gets a partial answer),
        else for ``PARTIAL_AFTER_SECONDS`` at most (then the answer holds what is loaded)."""
        deadline = time.monotonic() + PARTIAL_AFTER_SECONDS
        while self._loading and not self._ready.is_set():
            small = 0 < self._load_bytes <= SMALL_LOAD_BYTES
            if not small and time.monotonic() >= deadline:
                return
            self._ready.wait(0.02)

    def close(self) -> None:
        """Drop the table and its temporary file (a load under way is interrupted: Ctrl-C
        during the first load must not wait for it)."""
        self._closing = True
        with contextlib.suppress(duckdb.Error, RuntimeError):
            self._connection.interrupt()
        with self._answer_lock, self._write_lock:
            with contextlib.suppress(duckdb.Error):
                self._reader.close()
                self._connection.close()
            shutil.rmtree(self._dir, ignore_errors=True)

    def sql(self, query: Query) -> str:
        """Return the statement that answers ``query`` from the table (for tests)."""
        return self._compiler.plan(query).sql

    # ---- answers ----------------------------------------------------------------------------

    def _answer(self, query: Query, key: str, batch: int, epoch: int) -> list[Row]:
        """Return the plan's rows for ``query`` over the batches up to ``batch``: the kept
        answer brought up to date, else computed and kept."""
        if self._kept_epoch != epoch:
            self._kept.clear()
            self._kept_epoch = epoch

        def execute(sql: str) -> list[Row]:
            return self._reader.execute(sql).fetchall()

        batches = Batches(lambda low, high: SqlCompiler(CachedDialect(low, high)), execute)
        try:
            kept = self._kept.pop(key, None)
            if kept is not None and kept.batch < batch and kept.advance(batches, batch):
                self._updates += 1
            elif kept is None or kept.batch != batch:
                kept = keep_answer(
                    query, batch, batches, lambda: self._latest(query, batch, execute)
                )
            if kept.size() <= _KEPT_VALUES // 2:
                self._kept[key] = kept
                self._trim_kept()
            return kept.rows()
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not answer from its cache: {failure}") from None

    def _trim_kept(self) -> None:
        total = sum(kept.size() for kept in self._kept.values())
        while self._kept and (len(self._kept) > MEMO_ANSWERS or total > _KEPT_VALUES):
            _key, dropped = self._kept.popitem(last=False)
            total -= dropped.size()

    def _latest(
        self, query: Query, batch: int, execute: Callable[[str], list[Row]]
    ) -> tuple[list[Row], list[tuple[int, str]] | None]:
        """The latest ``limit`` events as the plan's one row — ``[raw texts newest first]``
        and the bad lines' count — and the page's ``(time, raw)`` pairs.

        Two steps: the ``limit`` latest times over the narrow time column give the cut; then
        only rows at or after it are read whole (a constant bound, so row groups that end
        before it are skipped). Ties at the cut are all read and ordered as the plan orders
        them (time, then raw text, newest first). Fewer timed events than ``limit``: the
        plan's own statement (it orders the untimed ones last), and no pairs.
        """
        mode = query.mode
        assert isinstance(mode, ListEvents)
        limit = mode.limit or 0
        compiler = SqlCompiler(CachedDialect(through=batch))
        relation = compiler.dialect.relation((), raw=True)
        where = compiler.where(query.where)
        times = execute(
            f"SELECT {_TIME} FROM {relation} WHERE {_TIME} IS NOT NULL AND ({where}) "
            f"ORDER BY {_TIME} DESC LIMIT {limit}"
        )
        if len(times) < limit or limit == 0:
            return execute(compiler.plan(query).sql), None
        cut = int(times[-1][0])
        rows = execute(f"SELECT {_TIME}, _raw FROM {relation} WHERE {_TIME} >= {cut} AND ({where})")
        rows.sort(reverse=True)
        page = [(int(time), str(raw)) for time, raw in rows[:limit]]
        bad = execute(f"SELECT count(*) FROM {relation} WHERE _bad")
        return [([raw for _time, raw in page], bad[0][0])], page

    # ---- loading ----------------------------------------------------------------------------

    def _first_chunks(self) -> list[_Chunk]:
        """Cut the files into the first load's chunks of whole lines, newest events first (by
        the time of each chunk's last line; a file without one by its modification time)."""
        chunks: list[_Chunk] = []
        for path in self.files():
            try:
                status = path.stat()
            except OSError:
                continue
            number = self._next_number()
            if path.name.endswith(".gz"):
                ends = [status.st_size]
            else:
                ends = _chunk_ends(path, status.st_size)
            start = 0
            for end in ends:
                newest = _last_time(path, start, end) or status.st_mtime * 1e6
                chunks.append(
                    _Chunk(path, number, status.st_ino, start, end, status.st_size, newest)
                )
                start = end
        chunks.sort(key=lambda chunk: chunk.newest, reverse=True)
        self._load_bytes = sum(chunk.end - chunk.start for chunk in chunks)
        self._loaded_bytes = 0
        return chunks

    def _load_chunk(self, chunk: _Chunk) -> None:
        """Load one chunk of the first load; a file is recorded as loaded with its last."""
        if chunk.end > chunk.start:
            self._insert_range(chunk.path, chunk.number, chunk.start, chunk.end, chunk.size)
        self._loaded_bytes += chunk.end - chunk.start
        known = self._loaded.get(chunk.path)
        through = max(chunk.end, known.size if known is not None else 0)
        self._loaded[chunk.path] = _Loaded(chunk.number, chunk.inode, through)

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
        number = self._loaded.pop(path).number
        try:
            self._connection.execute(f"DELETE FROM {_TABLE} WHERE {_FILE} = {number}")
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not drop a file's rows: {failure}") from None
        self._epoch += 1

    def _load(self, changed: list[tuple[Path, int, int, int]]) -> None:
        """Load the whole lines each file gained since ``start``, one statement per file (each
        file's rows carry its number)."""
        for path, inode, start, size in changed:
            end = size if path.name.endswith(".gz") else _last_line_end(path, start, size)
            known = self._loaded.get(path)
            number = known.number if known is not None else self._next_number()
            if end > start:
                self._insert_range(path, number, start, end, size)
            self._loaded[path] = _Loaded(number, inode, max(start, end))

    def _insert_range(self, path: Path, number: int, start: int, end: int, size: int) -> None:
        """Insert the lines of ``path[start:end]`` as the next batch: a whole file read in
        place, a part copied to a temporary file first. Published to questions once in."""
        batch = self._batch + 1
        if start == 0 and end == size:
            self._insert(path, number, batch)
            if path.name.endswith(".gz") or _size(path) == size:
                self._batch = batch
                return
            # It grew while DuckDB read it, which may have read past `end`: read exactly.
            self._execute(f"DELETE FROM {_TABLE} WHERE {_BATCH} = {batch}", "drop a partial load")
        with _slice(path, start, end, self._dir) as part:
            self._insert(part, number, batch)
        self._batch = batch

    def _ensure_table(self) -> None:
        """Create the (empty) table: questions asked before any line is loaded find none."""
        if not self._created:
            empty = Path(self._dir) / "empty.jsonl"
            empty.write_bytes(b"")
            self._insert(empty, 0, 0)

    def _next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def _execute(self, statement: str, doing: str) -> None:
        try:
            self._connection.execute(statement)
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not {doing}: {failure}") from None

    def _insert(self, path: Path, number: int, batch: int) -> None:
        source = DuckDBDialect([path], flat=_flat(path))
        numbers = ", ".join(
            f"{source.to_number(source.quote(field))} AS {_number_column(field)}"
            for field in NUMBER_FIELDS
        )
        # A bad line's time is NULL: "time IS NOT NULL" then also means "an event".
        time = f"CASE WHEN NOT _bad THEN {source.timestamp_us(source.quote('timestamp'))} END"
        select = (
            f"SELECT *, {time} AS {_TIME}, {numbers}, {number}::INTEGER AS {_FILE}, "
            f"{batch}::INTEGER AS {_BATCH} FROM {source.relation(CACHED_FIELDS, raw=True)}"
        )
        statement = (
            f"INSERT INTO {_TABLE} BY NAME {select}"
            if self._created
            else f"CREATE TABLE {_TABLE} AS {select}"
        )
        if self._closing:
            raise EngineError("loading interrupted: the cache was closed")
        self._execute(statement, "load the log files")
        self._created = True


_BOM = b"\xef\xbb\xbf"
_CONTAINERS = (b'"fields"', b'"span"', b'"spans"', b"\\u")


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


def _chunk_ends(path: Path, size: int) -> list[int]:
    """Return the ends of ``path``'s first-load chunks: whole lines, about
    ``LOAD_CHUNK_BYTES`` each, the last at the last newline (a line being written waits)."""
    ends: list[int] = []
    start = 0
    while start < size:
        end = _last_line_end(path, start, min(size, start + LOAD_CHUNK_BYTES))
        if end == start:  # a line longer than a chunk: up to its end
            end = _last_line_end(path, start, size)
            if end == start:
                break
        ends.append(end)
        start = end
    return ends


def _last_time(path: Path, start: int, end: int) -> float | None:
    """Return the time (µs) of the last line of ``path[start:end]``, if it reads as one."""
    with open(path, "rb") as file:
        file.seek(max(start, end - 65536))
        tail = file.read(end - max(start, end - 65536)).rstrip(b"\n")
    line = tail.rsplit(b"\n", 1)[-1]
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    return timestamp_us(value_text(event.get("timestamp")))


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
        if start and source.read(len(_BOM)) == _BOM:
            # A byte-order mark opens a file only: within one, its line is a bad line, and
            # stays one when the part starts there (a blank line first is read as nothing).
            target.write(b"\n")
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
