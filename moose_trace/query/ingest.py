"""Load existing JSON Lines log files into the ClickHouse logs table, resumably.

Each file is read from where the previous run stopped (a small JSON state file keeps
``file → byte offset``), in batches of many thousand lines. Every batch carries a deduplication
token made from its file and byte range, so a run interrupted between an insert and the state
update inserts that batch again harmlessly. Each line is normalized as the query tool reads it
(the Rust side's and Moose's print formats flattened), so both engines see the same events;
lines that are not log events are counted and skipped; a last line without its newline (a file
still being written) waits for the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from moose_trace.logging.paths import default_log_dir
from moose_trace.query.codec import loads_bulk
from moose_trace.query.normalize import normalize_event
from moose_trace.query.sources import (
    READ_ERRORS,
    UnreadableFile,
    file_start_line,
    open_log,
    read_error_text,
)
from moose_trace.store.clickhouse.schema import DEFAULT_TABLE, ddl, table_names
from moose_trace.store.clickhouse.transport import Transport

__all__ = ["IngestReport", "default_state_file", "ingest_files"]

BATCH_ROWS = 100_000
BATCH_BYTES = 16 * 1024 * 1024
_STATE_VERSION = 1


@dataclass
class IngestReport:
    """What one ``ingest_files`` run loaded."""

    files: int = 0
    """Files read (including those with nothing new)."""
    events: int = 0
    """Events inserted."""
    malformed: int = 0
    """Lines skipped because they are not JSON objects."""
    resumed: int = 0
    """Files continued from an earlier run's offset."""
    unreadable: list[UnreadableFile] = field(default_factory=list)
    """Files that could not be read (to the end), and why: a bad or cut-short .gz, no access.

    What a cut-short .gz held before the cut is loaded; the rest waits for the next run."""


def default_state_file(transport: Transport, table: str) -> Path:
    """Return where progress is kept for loading into ``table`` at the transport's location."""
    return default_log_dir() / ".ingest-state" / f"{transport.url.file_key(table)}.json"


class _State:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.files: dict[str, dict[str, int]] = {}
        if path is not None and path.is_file():
            with contextlib.suppress(OSError, orjson.JSONDecodeError, AttributeError):
                loaded = orjson.loads(path.read_bytes())
                if loaded.get("version") == _STATE_VERSION:
                    self.files = dict(loaded["files"])

    def offset(self, path: Path, inode: int) -> int:
        entry = self.files.get(str(path))
        # A file replaced by another (rotated, rewritten by prune) starts again from the top.
        if entry is None or entry.get("inode") != inode:
            return 0
        return int(entry.get("offset", 0))

    def save(self, path: Path, inode: int, offset: int) -> None:
        self.files[str(path)] = {"inode": inode, "offset": offset}
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_bytes(orjson.dumps({"version": _STATE_VERSION, "files": self.files}))
        os.replace(partial, self.path)


def _complete_lines(file: IO[bytes], start: int) -> Iterator[tuple[bytes, int]]:
    """Yield each complete line with the offset just past it; stop at a partial last line.

    A UTF-8 BOM starting the file is dropped (``file_start_line``); read errors propagate.
    """
    offset = start
    for line in file:
        if not line.endswith(b"\n"):
            return
        yield file_start_line(line, offset), offset + len(line)
        offset += len(line)


def ingest_files(
    paths: Sequence[Path],
    transport: Transport,
    *,
    table: str = DEFAULT_TABLE,
    state_file: Path | None = None,
    from_start: bool = False,
    create_table: bool = True,
    normalize: Callable[[object], dict[str, Any] | None] = normalize_event,
    on_progress: Callable[[int, int], None] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> IngestReport:
    """Insert the events of ``paths`` into ``table``; return counts of events and bad lines.

    Each line is read as the query tool reads it (``normalize_event``: other writers' formats
    flattened, aliases and levels normalized, every original key kept); lines that are not
    log events are counted as malformed. ``on_progress(bytes, events)`` is called as loading
    goes: ``bytes`` of the file on disk now behind (compressed bytes for a .gz file; a file's
    calls add up to its size, the part an earlier run loaded included), ``events`` inserted
    since the last call. Raises ``ClickHouseError`` when an insert fails: the state file
    then holds everything inserted so far, and the next run resumes from there.
    """
    database = transport.url.database
    target = table_names(table, database).logs
    if create_table:
        for statement in ddl(table, database=database):
            transport.execute(statement)
    loader = _Loader(
        transport,
        target,
        state=_State(state_file),
        normalize=normalize,
        on_progress=on_progress,
        batch_rows=batch_rows,
    )
    for path in paths:
        loader.load(path, from_start=from_start)
    return loader.report


class _Loader:
    """Loads files batch by batch, saving each file's offset after each inserted batch."""

    def __init__(
        self,
        transport: Transport,
        target: str,
        *,
        state: _State,
        normalize: Callable[[object], dict[str, Any] | None],
        on_progress: Callable[[int, int], None] | None,
        batch_rows: int,
    ) -> None:
        self.transport = transport
        self.target = target
        self.state = state
        self.normalize = normalize
        self.on_progress = on_progress
        self.batch_rows = batch_rows
        self.report = IngestReport()

    def load(self, path: Path, *, from_start: bool) -> None:
        self.report.files += 1
        try:
            self._load(path, from_start=from_start)
        except READ_ERRORS as error:
            self.report.unreadable.append(UnreadableFile(path, read_error_text(error)))

    def _load(self, path: Path, *, from_start: bool) -> None:
        status = path.stat()
        inode = status.st_ino
        start = 0 if from_start else self.state.offset(path, inode)
        self.report.resumed += start > 0
        batch: list[bytes] = []
        size = 0
        batch_start = last_end = start
        with open_log(path) as file:
            file.seek(start)
            progress = _Progress(self.on_progress, file)
            progress.advance(0)  # what an earlier run loaded counts as done
            try:
                for line, end in _complete_lines(file, start):
                    last_end = end
                    encoded = _event_line(line, self.normalize)
                    if encoded is None:
                        self.report.malformed += line.strip() != b""
                        continue
                    batch.append(encoded)
                    size += len(encoded)
                    if len(batch) >= self.batch_rows or size >= BATCH_BYTES:
                        self._send(path, inode, batch, batch_start, end)
                        progress.advance(len(batch))
                        batch, size, batch_start = [], 0, end
            except READ_ERRORS as error:  # what came before the bad part is loaded
                self.report.unreadable.append(UnreadableFile(path, read_error_text(error)))
            if last_end > batch_start:
                self._send(path, inode, batch, batch_start, last_end)
            progress.finish(len(batch), status.st_size)  # the batch is empty when nothing is left

    def _send(self, path: Path, inode: int, batch: list[bytes], start: int, end: int) -> None:
        if batch:
            token = hashlib.sha256(f"{path}|{inode}|{start}|{end}".encode()).hexdigest()[:32]
            self.transport.insert(
                self.target,
                b"\n".join(batch),
                fmt="JSONAsString",
                columns=("raw",),
                dedup_token=token,
            )
        self.state.save(path, inode, end)
        self.report.events += len(batch)


class _Progress:
    """Reports how far into a file (in bytes on disk: compressed ones for .gz) loading is."""

    def __init__(self, report: Callable[[int, int], None] | None, file: IO[bytes]) -> None:
        self.report = report
        # A GzipFile reads the file on disk through ``fileobj``; positions in it are on disk.
        self.disk: IO[bytes] = getattr(file, "fileobj", None) or file
        self.reported = 0

    def advance(self, events: int) -> None:
        if self.report is not None:
            position = self.disk.tell()
            self.report(position - self.reported, events)
            self.reported = position

    def finish(self, events: int, file_size: int) -> None:
        """Report the rest of the file (a partial last line, read-ahead) as done."""
        if self.report is not None:
            self.report(max(0, file_size - self.reported), events)


def _event_line(line: bytes, normalize: Callable[[object], dict[str, Any] | None]) -> bytes | None:
    try:
        event = normalize(loads_bulk(line))
    except ValueError:
        return None
    return None if event is None else orjson.dumps(event, default=str)
