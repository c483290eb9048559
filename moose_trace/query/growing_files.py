"""Reading what JSON Lines files gained: where their whole lines end, a byte range copied out.

The cached table (``moose_trace.query.duckdb_cache``) loads files that are still being
written. It loads whole lines only — a line still being written waits for its newline — and
the first load cuts each file into chunks of whole lines that it loads newest first. These
functions read the bytes that decide where a chunk ends and what it holds; none parses more
than one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import orjson

from moose_trace.query.normalize import timestamp_us, value_text

__all__ = [
    "chunk_ends",
    "copied_range",
    "file_size",
    "has_flat_lines",
    "last_line_end",
    "last_line_time",
]

_BLOCK_BYTES = 64 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_CONTAINERS = (b'"fields"', b'"span"', b'"spans"', b"\\u")


def has_flat_lines(path: Path) -> bool:
    """Return whether no line of ``path`` can hold a Rust tracing container (``fields``,
    ``span``, ``spans``): none of those names is written in it, not even escaped."""
    if path.name.endswith(".gz"):
        return False
    with open(path, "rb") as file:
        carry = b""
        while block := file.read(_BLOCK_BYTES):
            window = carry + block
            if any(name in window for name in _CONTAINERS):
                return False
            carry = window[-16:]
    return True


def file_size(path: Path) -> int:
    """Return the size of ``path`` now (-1 when it is gone)."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def chunk_ends(path: Path, size: int, chunk_bytes: int) -> list[int]:
    """Return the ends of ``path[:size]``'s chunks: whole lines, about ``chunk_bytes`` each, the
    last at the last newline (a line being written waits)."""
    ends: list[int] = []
    start = 0
    while start < size:
        end = last_line_end(path, start, min(size, start + chunk_bytes))
        if end == start:  # a line longer than a chunk: up to its end
            end = last_line_end(path, start, size)
            if end == start:
                break
        ends.append(end)
        start = end
    return ends


def last_line_time(path: Path, start: int, end: int) -> float | None:
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


def last_line_end(path: Path, start: int, size: int) -> int:
    """Return the offset just past the last newline in ``path[start:size]`` (``start``: none)."""
    with open(path, "rb") as file:
        position = size
        while position > start:
            step = min(_BLOCK_BYTES, position - start)
            file.seek(position - step)
            block = file.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return position - step + newline + 1
            position -= step
    return start


@contextlib.contextmanager
def copied_range(path: Path, start: int, end: int, directory: str) -> Iterator[Path]:
    """Yield a temporary ``.jsonl`` file in ``directory`` holding ``path[start:end]``."""
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
            block = source.read(min(_BLOCK_BYTES, remaining))
            if not block:
                break
            target.write(block)
            remaining -= len(block)
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)
