"""Which files a query reads: files, globs and directories of JSON Lines, plain or gzipped.

No source means the SDK's log directory (``moose_trace.logging.paths.default_log_dir``: the
``MOOSE_TRACE_LOG_DIR`` variable, else ``~/.moose-trace/logs``), so after a run of the SDK
``moose-trace logs`` finds its logs with no argument. A directory contributes its ``*.jsonl``
and ``*.ndjson`` files (also ``.gz``), not its subdirectories.
"""

from __future__ import annotations

import glob
import gzip
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from moose_trace._record import record
from moose_trace.logging.paths import LOG_DIR_ENV, default_log_dir
from moose_trace.query.codec import loads
from moose_trace.query.exceptions import QueryError

__all__ = [
    "LOG_SUFFIXES",
    "READ_ERRORS",
    "LogSources",
    "OnUnreadable",
    "UnreadableFile",
    "file_start_line",
    "files_text",
    "incomplete_tail",
    "open_log",
    "read_error_text",
    "read_lines",
    "resolve_sources",
]

LOG_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
"""File names a directory source contributes."""

READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)
"""What reading a log file can raise: missing or unreadable, a .gz cut short or not gzip."""

_BOM = b"\xef\xbb\xbf"
_GLOB_CHARS = frozenset("*?[")
_TAIL_BYTES = 1 << 20


class LogSources:
    """The files to read, and where ``--follow`` looks for new ones.

    ``directories`` and ``patterns`` are the directories and globs named as sources: log files
    appearing there later are read too.
    """

    __slots__ = ("directories", "files", "patterns")

    def __init__(
        self,
        files: list[Path],
        directories: list[Path] | None = None,
        patterns: list[str] | None = None,
    ) -> None:
        self.files = files
        self.directories = directories if directories is not None else []
        self.patterns = patterns if patterns is not None else []

    def __repr__(self) -> str:
        return (
            f"LogSources(files={self.files!r}, directories={self.directories!r}, "
            f"patterns={self.patterns!r})"
        )

    def discover(self) -> list[Path]:
        """Return the files the sources name now (for ``--follow``: new files appear)."""
        found = list(self.files)
        for directory in self.directories:
            found += _directory_files(directory)
        for pattern in self.patterns:
            found += _glob_files(pattern)
        return _unique(found)


def _directory_files(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return []
    return [entry for entry in entries if entry.name.endswith(LOG_SUFFIXES) and entry.is_file()]


def _glob_files(pattern: str) -> list[Path]:
    matches = sorted(
        Path(match) for match in glob.glob(os.path.expanduser(pattern), recursive=True)
    )
    files: list[Path] = []
    for match in matches:
        files += _directory_files(match) if match.is_dir() else [match]
    return files


def _unique(paths: Sequence[Path]) -> list[Path]:
    return list(dict.fromkeys(path.resolve() for path in paths))


def resolve_sources(sources: Sequence[str]) -> LogSources:
    """Return the log files ``sources`` name (none: the default log directory).

    Raises ``QueryError`` naming a source that does not exist or a glob that matches nothing.
    """
    if not sources:
        directory = default_log_dir()
        if not directory.is_dir():
            raise QueryError(
                f"no log directory at {directory}: pass log files or directories, "
                f"or point {LOG_DIR_ENV} at the directory the SDK writes"
            )
        return LogSources(_directory_files(directory), directories=[directory])
    files: list[Path] = []
    directories: list[Path] = []
    patterns: list[str] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            directories.append(path)
            files += _directory_files(path)
        elif path.is_file():
            files.append(path)
        elif _GLOB_CHARS & set(source):
            matched = _glob_files(source)
            if not matched:
                raise QueryError(f"{source!r} matches no files: expected a glob naming log files")
            patterns.append(source)
            files += matched
        else:
            raise QueryError(f"no such file or directory: {source!r}")
    return LogSources(_unique(files), directories, patterns)


def files_text(count: int) -> str:
    """Say how many log files were read: ``1 log file``, ``32 log files``."""
    return f"{count} log file{'' if count == 1 else 's'}"


@record
class UnreadableFile:
    """A log file a query or ``ingest`` had to skip, and why (said to the user per file)."""

    path: Path
    reason: str


OnUnreadable = Callable[[UnreadableFile], None]
"""Told of each file skipped because it cannot be read; without one, the error propagates."""


def read_error_text(error: BaseException) -> str:
    """Return why a file could not be read, in words (``EOFError`` says nothing by its name)."""
    if isinstance(error, EOFError):
        return f"the .gz file is cut short ({error})" if str(error) else "the .gz file is cut short"
    if isinstance(error, gzip.BadGzipFile | zlib.error):
        return f"not a valid .gz file ({error})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def file_start_line(line: bytes, offset: int) -> bytes:
    """Return a line read at ``offset`` without the UTF-8 BOM a file may start with.

    The rule of every engine (DuckDB's own): a BOM is ignored at the start of a file only; a
    BOM starting any other line makes that line not JSON (skipped and counted).
    """
    return line[len(_BOM) :] if offset == 0 and line.startswith(_BOM) else line


def open_log(path: Path) -> IO[bytes]:
    """Open a log file for reading bytes, decompressing a ``.gz`` one."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_lines(path: Path) -> Iterator[bytes]:
    """Yield every line of a log file (``.gz`` decompressed), the last one even if unfinished.

    A ``.gz`` file cut short (still being written) yields what could be decompressed.
    """
    with open_log(path) as file:
        offset = 0
        try:
            for line in file:
                yield file_start_line(line, offset)
                offset += len(line)
        except READ_ERRORS:
            if not path.name.endswith(".gz"):
                raise


def incomplete_tail(path: Path) -> bool:
    """Return whether a plain file ends in a line still being written.

    That is a last line without its newline that is not yet valid JSON: engines read it as a
    bad line, but it is a line in progress, not a malformed one, so it is not reported.
    """
    if path.name.endswith(".gz"):
        return False
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            if size == 0:
                return False
            start = max(0, size - _TAIL_BYTES)
            file.seek(start)
            tail = file.read()
    except OSError:
        return False
    if tail.endswith(b"\n"):
        return False
    last = tail.rsplit(b"\n", 1)[-1].strip()
    if not last:
        return False
    try:
        loads(last)
    except ValueError:
        return True
    return False
