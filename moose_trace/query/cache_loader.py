"""The cached table's loads: the first one in chunks, newest events first, then what files gained.

``CacheLoader`` owns the DuckDB file that holds the cached table (``moose_trace.query
.cached_table``) and keeps the table up to date with the files, loading whole lines only (a
line still being written waits). Each file's rows carry the file's number, so a file that
shrank or was replaced is loaded again on its own, and a deleted file's rows are dropped,
without touching the others. Each load's rows carry its *batch* number, published once the
load is in (``batch``): a question reads the batches published when it was asked.

Not thread-safe: its owner (``CachedDuckDBEngine``) takes a lock around each call that writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from moose_trace._record import record
from moose_trace.query.cache_answers import TIME_COLUMN
from moose_trace.query.cache_dirs import make_cache_dir
from moose_trace.query.cached_table import (
    BATCH_COLUMN,
    CACHED_FIELDS,
    FILE_COLUMN,
    NUMBER_FIELDS,
    TABLE,
    number_column,
)
from moose_trace.query.duckdb_engine import DuckDBDialect
from moose_trace.query.exceptions import EngineError
from moose_trace.query.growing_files import (
    chunk_ends,
    copied_range,
    file_size,
    has_flat_lines,
    last_line_end,
    last_line_time,
)

__all__ = ["CacheLoader", "Chunk"]

_LOAD_CHECKPOINT = "1GB"


@record
class _Loaded:
    """How far one file is in the table: its number there, inode and the bytes loaded."""

    number: int
    inode: int
    size: int


@record
class Chunk:
    """One step of the first load: ``path[start:end]`` (whole lines), as file ``number``."""

    path: Path
    number: int
    inode: int
    start: int
    end: int
    size: int
    newest: float


class CacheLoader:
    """Loads JSON Lines files into the cached table, in a temporary DuckDB file of its own.

    ``batch``: the newest load a question may read. ``epoch``: counts the times rows were
    deleted (a kept answer of an older epoch starts over). ``loaded_bytes``/``load_bytes``:
    the first load's progress.
    """

    def __init__(self, memory_limit: str) -> None:
        self.directory = make_cache_dir()
        self._connection = duckdb.connect(
            os.path.join(self.directory, "cache.duckdb"),
            config={
                "memory_limit": memory_limit,
                "temp_directory": os.path.join(self.directory, "spill"),
                "preserve_insertion_order": True,
            },
        )
        self._connection.execute("SET TimeZone = 'UTC'")
        self._loaded: dict[Path, _Loaded] = {}
        self._numbers = 0
        self._created = False
        self._closing = False
        self.batch = 0
        self.epoch = 0
        self.loaded_bytes = 0
        self.load_bytes = 0

    def reader(self) -> duckdb.DuckDBPyConnection:
        """Return a cursor for questions: it reads beside a load on the main connection."""
        return self._connection.cursor()

    def prepare_first_load(self) -> None:
        """Create the (empty) table — questions asked before any line is loaded find none —
        or empty it after a first load that failed half-way."""
        if not self._created:
            empty = Path(self.directory) / "empty.jsonl"
            empty.write_bytes(b"")
            self._insert(empty, 0, 0)
        if self.batch:  # a load that failed half-way: start over
            self._execute(f"DELETE FROM {TABLE}", "start the load over")
            self._loaded.clear()
            self.epoch += 1

    @contextlib.contextmanager
    def bulk_load(self, threads: int | None) -> Iterator[None]:
        """DuckDB settings for the first load, reset after it. DuckDB checkpoints the table
        (compresses and writes it out) when its log passes ``checkpoint_threshold``: at the
        default 16 MB, a load of hundreds of MB checkpoints again and again (45 s instead of
        26 s for 300 MB at load 9, docs/benchmarks/console.md), so the load checkpoints about
        once, at its end (``checkpoint``). ``threads``: DuckDB threads (default: every core)."""
        connection = self._connection
        if threads is not None:
            connection.execute(f"SET threads = {threads}")
        connection.execute(f"SET checkpoint_threshold = '{_LOAD_CHECKPOINT}'")
        try:
            yield
        finally:
            with contextlib.suppress(duckdb.Error):
                connection.execute("RESET checkpoint_threshold")
                if threads is not None:
                    connection.execute("RESET threads")

    def checkpoint(self) -> None:
        """Write the table out (skipped when a question reads meanwhile)."""
        with contextlib.suppress(duckdb.Error):
            self._connection.execute("CHECKPOINT")

    def first_chunks(self, files: Sequence[Path], chunk_bytes: int) -> list[Chunk]:
        """Cut ``files`` into the first load's chunks of whole lines, about ``chunk_bytes``
        each, newest events first (by the time of each chunk's last line; a file without one
        by its modification time)."""
        chunks: list[Chunk] = []
        for path in files:
            try:
                status = path.stat()
            except OSError:
                continue
            number = self._next_number()
            if path.name.endswith(".gz"):
                ends = [status.st_size]
            else:
                ends = chunk_ends(path, status.st_size, chunk_bytes)
            start = 0
            for end in ends:
                newest = last_line_time(path, start, end) or status.st_mtime * 1e6
                chunks.append(
                    Chunk(path, number, status.st_ino, start, end, status.st_size, newest)
                )
                start = end
        chunks.sort(key=lambda chunk: chunk.newest, reverse=True)
        self.load_bytes = sum(chunk.end - chunk.start for chunk in chunks)
        self.loaded_bytes = 0
        return chunks

    def load_chunk(self, chunk: Chunk) -> None:
        """Load one chunk of the first load; a file is recorded as loaded with its last."""
        if chunk.end > chunk.start:
            self._insert_range(chunk.path, chunk.number, chunk.start, chunk.end, chunk.size)
        self.loaded_bytes += chunk.end - chunk.start
        known = self._loaded.get(chunk.path)
        through = max(chunk.end, known.size if known is not None else 0)
        self._loaded[chunk.path] = _Loaded(chunk.number, chunk.inode, through)

    def refresh(self, files: Sequence[Path]) -> None:
        """Load what ``files`` gained since the last load; drop the rows of a file that is
        gone, and load again from its start one that was replaced or truncated."""
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

    def interrupt(self) -> None:
        """Stop a load under way, and any later one (Ctrl-C during the first load must not
        wait for it)."""
        self._closing = True
        with contextlib.suppress(duckdb.Error, RuntimeError):
            self._connection.interrupt()

    def close(self) -> None:
        """Close the database and remove its temporary file."""
        with contextlib.suppress(duckdb.Error):
            self._connection.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _forget(self, path: Path) -> None:
        """Drop the rows of ``path`` (deleted, replaced or truncated)."""
        number = self._loaded.pop(path).number
        try:
            self._connection.execute(f"DELETE FROM {TABLE} WHERE {FILE_COLUMN} = {number}")
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not drop a file's rows: {failure}") from None
        self.epoch += 1

    def _load(self, changed: list[tuple[Path, int, int, int]]) -> None:
        """Load the whole lines each file gained since ``start``, one statement per file (each
        file's rows carry its number)."""
        for path, inode, start, size in changed:
            end = size if path.name.endswith(".gz") else last_line_end(path, start, size)
            known = self._loaded.get(path)
            number = known.number if known is not None else self._next_number()
            if end > start:
                self._insert_range(path, number, start, end, size)
            self._loaded[path] = _Loaded(number, inode, max(start, end))

    def _insert_range(self, path: Path, number: int, start: int, end: int, size: int) -> None:
        """Insert the lines of ``path[start:end]`` as the next batch: a whole file read in
        place, a part copied to a temporary file first. Published to questions once in."""
        batch = self.batch + 1
        if start == 0 and end == size:
            self._insert(path, number, batch)
            if path.name.endswith(".gz") or file_size(path) == size:
                self.batch = batch
                return
            # It grew while DuckDB read it, which may have read past `end`: read exactly.
            self._execute(
                f"DELETE FROM {TABLE} WHERE {BATCH_COLUMN} = {batch}", "drop a partial load"
            )
        with copied_range(path, start, end, self.directory) as part:
            self._insert(part, number, batch)
        self.batch = batch

    def _next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def _execute(self, statement: str, doing: str) -> None:
        try:
            self._connection.execute(statement)
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not {doing}: {failure}") from None

    def _insert(self, path: Path, number: int, batch: int) -> None:
        source = DuckDBDialect([path], flat=has_flat_lines(path))
        numbers = ", ".join(
            f"{source.to_number(source.quote(field))} AS {number_column(field)}"
            for field in NUMBER_FIELDS
        )
        # A bad line's time is NULL: "time IS NOT NULL" then also means "an event".
        time = f"CASE WHEN NOT _bad THEN {source.timestamp_us(source.quote('timestamp'))} END"
        select = (
            f"SELECT *, {time} AS {TIME_COLUMN}, {numbers}, {number}::INTEGER AS {FILE_COLUMN}, "
            f"{batch}::INTEGER AS {BATCH_COLUMN} FROM {source.relation(CACHED_FIELDS, raw=True)}"
        )
        statement = (
            f"INSERT INTO {TABLE} BY NAME {select}"
            if self._created
            else f"CREATE TABLE {TABLE} AS {select}"
        )
        if self._closing:
            raise EngineError("loading interrupted: the cache was closed")
        self._execute(statement, "load the log files")
        self._created = True
