"""The trace index: ``--trace ID`` reads only the lines that can belong to that trace.

A scan of every line is bounded by how fast bytes can be parsed; a trace is a handful of lines.
So each log file gets a small sidecar index (in ``.moose-trace-index/`` beside it) mapping every
trace id written in a ``trace_id`` or ``trace_ids`` field (at any depth, so the Rust side's
span fields count) to the offsets of its lines. A lookup binary-searches each file's index,
reads those lines, and the Python engine keeps the ones that really match.

Log files only grow, so an index stays valid for the part of the file it covered: the file's
inode and a checksum of the bytes just before the indexed end are checked; the part written
since is searched byte-wise for the id (and indexed once it is large). A file that was replaced
or rewritten gets a new index. Where the index cannot be written (a read-only directory), the
file is searched byte-wise — slower, never wrong.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import IO

from moose_trace.query.sources import (
    READ_ERRORS,
    OnUnreadable,
    UnreadableFile,
    file_start_line,
    open_log,
    read_error_text,
)
from moose_trace.query.trace_index_file import (
    INDEX_DIR_NAME,
    IndexHeader,
    TraceIndexFile,
    file_check,
    line_at,
    open_index,
    trace_keys,
    write_index,
)

__all__ = [
    "INDEX_DIR_NAME",
    "INLINE_INDEX_BYTES",
    "TraceIndexStats",
    "build_indexes",
    "candidate_lines",
    "index_in_background",
]

REINDEX_BYTES = 8 * 1024 * 1024
"""An unindexed tail larger than this is indexed before the lookup; smaller ones are searched."""
INLINE_INDEX_BYTES = 64 * 1024
"""What ``moose-trace logs --trace`` indexes before answering (``defer_bytes``): more is
searched byte-wise now and indexed in the background, so a first lookup costs one search.
Indexing a megabyte costs about 30 ms; searching it (``caseless_scan``, Hyperscan) well under
one: only tiny files and appended tails are indexed on the way."""

_CHUNK = 64 * 1024 * 1024
_ID = rb"[0-9a-fA-F-]{32,36}"
_ID_FIELD = re.compile(rb'"trace_ids?"\s*:\s*(?:"(' + _ID + rb')"|(\[[^\]]*\]))')
_LISTED_ID = re.compile(rb'"(' + _ID + rb')"')


class TraceIndexStats:
    """What one lookup did, for tests and benchmarks: files answered from an index, indexes
    built (or extended), bytes searched without an index."""

    __slots__ = ("built", "indexed_files", "searched_bytes")

    def __init__(self) -> None:
        self.indexed_files = 0
        self.built = 0
        self.searched_bytes = 0

    def __repr__(self) -> str:
        return (
            f"TraceIndexStats(indexed_files={self.indexed_files}, built={self.built}, "
            f"searched_bytes={self.searched_bytes})"
        )


def _entries(data: bytes, base: int) -> list[int]:
    """Return ``key << 64 | line offset`` for every trace id field in ``data`` (whole lines)."""
    packed: list[int] = []
    add = packed.append
    rfind = data.rfind
    for match in _ID_FIELD.finditer(data):
        single, listed = match.groups()
        offset = rfind(b"\n", 0, match.start()) + 1 + base
        for text in (single,) if single is not None else _LISTED_ID.findall(listed):
            compact = text.replace(b"-", b"")
            if len(compact) == 32:
                add((int(compact[16:], 16) << 64) | offset)
    return packed


def _scan_entries(file: IO[bytes], start: int, end: int | None) -> tuple[list[int], int]:
    """Return packed entries ``key << 64 | offset`` of ``[start, end)`` and where reading stopped.

    Reading stops at the last complete line, so an unfinished line is indexed later.
    """
    packed: list[int] = []
    file.seek(start)
    position = start
    leftover = b""
    while end is None or position < end:
        want = _CHUNK if end is None else min(_CHUNK, end - position)
        chunk = file.read(want)
        if not chunk:
            break
        position += len(chunk)
        data = leftover + chunk
        cut = data.rfind(b"\n") + 1
        base = position - len(data)
        packed += _entries(data[:cut], base)
        leftover = data[cut:]
    return packed, position - len(leftover)


def _build(
    path: Path, status: os.stat_result, old: TraceIndexFile | None, stats: TraceIndexStats
) -> TraceIndexFile | None:
    """Index ``path`` (from where ``old`` stopped, if given); return the new index or None."""
    compressed = path.name.endswith(".gz")
    with open_log(path) as file:
        start = old.header.size if old is not None else 0
        packed, end = _scan_entries(file, start, None)
        check = 0 if compressed else file_check(file.fileno(), end)
        after = status if compressed else os.fstat(file.fileno())
    mask = (1 << 64) - 1
    entries = [(value >> 64, value & mask) for value in packed]
    if old is not None and old.header.count:
        entries += old.entries()
    entries.sort()
    stats.built += 1
    # Checked by stat alone later only if the file did not grow while it was read: else its
    # times are those of bytes not indexed (then the CRC decides, as for any change).
    exact = not compressed and after.st_size == end
    header = IndexHeader(
        (
            status.st_ino,
            status.st_dev,
            status.st_size,
            end,
            after.st_mtime_ns if exact else 0,
            after.st_ctime_ns if exact else 0,
            check,
            0,
            0,
            0,
        )
    )
    try:
        write_index(str(path), header, entries)
    except OSError:
        return None
    _forget_removed(path.parent)
    return _open(path, status)


def _open(path: Path, status: os.stat_result) -> TraceIndexFile | None:
    """Open the index of ``path`` if it still describes the file, else ``None``."""
    index = open_index(str(path))
    if index is None:
        return None
    try:
        if index.describes(str(path), status):
            return index
    except OSError:
        pass
    index.close()
    return None


def _forget_removed(directory: Path) -> None:
    """Delete the indexes of log files that are gone (pruned, rotated away)."""
    for index in (directory / INDEX_DIR_NAME).glob("*.idx"):
        if not (directory / index.name[: -len(".idx")]).exists():
            with contextlib.suppress(OSError):
                index.unlink()


def _line_at(file: IO[bytes], offset: int) -> bytes:
    file.seek(offset)
    return file_start_line(file.readline(), offset)


def _tails(hexes: Collection[str]) -> list[bytes]:
    """Return what every spelling of the ids contains: each id's last 12 hex digits.

    The last group of a canonical id and the end of its 32-digit form are the same 12 digits,
    so a caseless search for them finds every spelling (upper, lower or mixed case).
    """
    return sorted({value[20:].encode() for value in hexes})


def candidate_lines(
    files: Sequence[Path],
    hexes: Collection[str],
    stats: TraceIndexStats | None = None,
    *,
    defer_bytes: int | None = None,
    on_unreadable: OnUnreadable | None = None,
    parallel: bool = False,
    deferred: list[Path] | None = None,
) -> Iterator[bytes]:
    """Yield every line of ``files`` that may belong to one of the traces ``hexes`` (a superset).

    ``hexes`` are trace ids as 32 lowercase hex digits. Indexes are built or extended as
    needed: right away, or — with ``defer_bytes`` — only when there are at most that many
    bytes to index; a larger file is searched byte-wise now (about as fast as ``rg -F``;
    with ``parallel``, on every core: ``parallel_scan``) and indexed by a background process
    for the next lookups. The caller filters the lines exactly (the Python engine with the
    query's predicate). A file that cannot be read (gone, no permission, a bad or cut-short
    .gz) is skipped and told to ``on_unreadable``; without one, the error propagates.
    With ``deferred``, the files to index in the background are added to it instead, for the
    caller to start that (``index_in_background``) once it has answered: the indexer's start
    then takes nothing from the answer.
    """
    stats = stats if stats is not None else TraceIndexStats()
    keys = trace_keys(hexes)
    later: list[Path] = []
    searches: list[tuple[Path, int, int]] = []
    for path in files:
        try:
            yield from _file_candidates(
                path, keys, stats, defer_bytes=defer_bytes, later=later, searches=searches
            )
        except READ_ERRORS as error:
            if on_unreadable is None:
                raise
            on_unreadable(UnreadableFile(path, read_error_text(error)))
    searched = sum(size - start for _path, start, size in searches)
    stats.searched_bytes += searched
    if searches and hexes:
        # The scanners load only here: an indexed --trace (every file indexed) needs none.
        from moose_trace.query.caseless_scan import caseless_finder  # noqa: PLC0415
        from moose_trace.query.line_scan import matching_lines  # noqa: PLC0415

        find = caseless_finder(_tails(hexes), [path for path, _, _ in searches], searched)
        yield from matching_lines(searches, find, parallel=parallel, on_unreadable=on_unreadable)
    if later:
        if deferred is not None:
            deferred += later
        else:
            index_in_background(later)


def _file_candidates(
    path: Path,
    keys: set[int],
    stats: TraceIndexStats,
    *,
    defer_bytes: int | None,
    later: list[Path],
    searches: list[tuple[Path, int, int]],
) -> Iterator[bytes]:
    """Yield the indexed candidate lines of one file (``candidate_lines``); add to
    ``searches`` the byte range to search instead, if any. Read errors propagate."""
    status = path.stat()
    index = _open(path, status)
    compressed = path.name.endswith(".gz")
    unindexed = status.st_size - (index.header.size if index is not None else 0)
    grown = index is not None and unindexed > REINDEX_BYTES
    if index is None or (grown and not compressed):
        if defer_bytes is not None and unindexed > defer_bytes:
            later.append(path)
        else:
            built = _build(path, status, index, stats)
            if built is not None:
                if index is not None:
                    index.close()
                index = built
    if index is None:
        searches.append((path, 0, status.st_size))
        return
    with index:
        stats.indexed_files += 1
        offsets = index.offsets(keys)
        end = index.header.size
    if offsets:
        if compressed:
            with open_log(path) as file:
                for offset in offsets:
                    yield _line_at(file, offset)
        else:
            fd = os.open(path, os.O_RDONLY)
            try:
                for offset in offsets:
                    yield line_at(fd, offset)
            finally:
                os.close(fd)
    if not compressed and status.st_size > end:
        searches.append((path, end, status.st_size))


BUILDING_STALE_SECONDS = 600.0
"""A background build that left its marker this long ago is taken for dead."""


def index_in_background(paths: Sequence[Path]) -> None:
    """Start a detached process that indexes ``paths`` (once per directory at a time)."""
    chosen: list[str] = []
    for directory in sorted({path.parent for path in paths}):
        marker = directory / INDEX_DIR_NAME / "building"
        try:
            marker.parent.mkdir(exist_ok=True)
            try:
                descriptor = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if time.time() - marker.stat().st_mtime < BUILDING_STALE_SECONDS:
                    continue
                marker.unlink(missing_ok=True)
                descriptor = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(descriptor)
        except OSError:
            continue  # not writable: searched every time, never wrong
        chosen += [str(path) for path in paths if path.parent == directory]
    if not chosen:
        return
    with contextlib.suppress(OSError):
        _spawn_detached([sys.executable, "-m", "moose_trace.query.trace_index", *chosen])


def _spawn_detached(argv: list[str]) -> None:
    """Start ``argv`` in a session of its own, its standard streams on the null device, never
    waited for. ``posix_spawn`` where there is one: no ``subprocess`` import on the way to a
    first answer, no copy of this process's page tables."""
    if hasattr(os, "posix_spawn"):
        _reap_spawned()
        actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        try:
            _SPAWNED.append(
                os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=True)
            )
        except NotImplementedError:  # no setsid in this libc: subprocess does it
            pass
        else:
            return
    import subprocess  # noqa: PLC0415 (only where posix_spawn cannot: start-up, see cli)

    subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


_SPAWNED: list[int] = []
"""Background indexers this process started and has not reaped yet."""


def _reap_spawned() -> None:
    """Reap the background indexers that have finished (a long-running caller keeps no
    zombies; the command line exits first)."""
    for pid in list(_SPAWNED):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _SPAWNED.remove(pid)


def build_indexes(paths: Sequence[Path]) -> TraceIndexStats:
    """Build or extend the index of each of ``paths`` now (what the background process runs)."""
    stats = TraceIndexStats()
    try:
        for path in paths:
            try:
                status = path.stat()
            except OSError:
                continue
            index = _open(path, status)
            if index is None or status.st_size > index.header.size:
                built = _build(path, status, index, stats)
                if built is not None:
                    built.close()
            if index is not None:
                index.close()
    finally:
        for directory in {path.parent for path in paths}:
            with contextlib.suppress(OSError):
                (directory / INDEX_DIR_NAME / "building").unlink()
    return stats


if __name__ == "__main__":
    build_indexes([Path(argument) for argument in sys.argv[1:]])
