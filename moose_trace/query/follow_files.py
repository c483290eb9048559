"""``--follow``: keep reading the log files as they grow, and new files as they appear.

Every ``interval`` the sources are looked at again: new complete lines of each file are read
(a last line without its newline waits until it is finished), files that appeared in a source
directory or match a source glob are read from their start, and a file that was replaced or
truncated (rotation) is read again from its start. Compressed files are archives: not followed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from moose_trace.query.sources import LogSources, file_start_line

__all__ = ["FOLLOW_INTERVAL", "Tail", "file_ends", "follow_lines"]

FOLLOW_INTERVAL = 0.1
"""Seconds between looks at the files: a new line shows within about this long."""

_READ_BYTES = 1 << 20


class Tail:
    """Where reading one file stands: its inode, the offset read to, an unfinished last line."""

    __slots__ = ("inode", "offset", "partial")

    def __init__(self, inode: int, offset: int, partial: bytes = b"") -> None:
        self.inode = inode
        self.offset = offset
        self.partial = partial

    def __repr__(self) -> str:
        return f"Tail(inode={self.inode}, offset={self.offset}, partial={self.partial!r})"


def _followed_status(path: Path) -> os.stat_result | None:
    """Return a followable file's status; ``None`` for a compressed or vanished one."""
    if path.name.endswith(".gz"):
        return None
    try:
        return path.stat()
    except OSError:
        return None


def file_ends(paths: list[Path]) -> dict[Path, Tail]:
    """Return each plain file's current end: following from there reads only new lines."""
    tails: dict[Path, Tail] = {}
    for path in paths:
        if (status := _followed_status(path)) is not None:
            tails[path] = Tail(status.st_ino, status.st_size)
    return tails


def _read_new(path: Path, tail: Tail) -> list[bytes]:
    lines: list[bytes] = []
    from_start = tail.offset == 0 and not tail.partial
    with open(path, "rb") as file:
        file.seek(tail.offset)
        while True:
            chunk = file.read(_READ_BYTES)
            if not chunk:
                break
            tail.offset += len(chunk)
            data = tail.partial + chunk
            *complete, tail.partial = data.split(b"\n")
            lines += complete
    if from_start and lines:
        lines[0] = file_start_line(lines[0], 0)
    elif from_start and tail.partial:
        tail.partial = file_start_line(tail.partial, 0)
    return lines


def follow_lines(
    sources: LogSources,
    tails: dict[Path, Tail],
    on_lines: Callable[[Path, list[bytes]], None],
    stop: threading.Event,
    *,
    interval: float = FOLLOW_INTERVAL,
) -> None:
    """Call ``on_lines(path, lines)`` with each batch of new complete lines until ``stop`` is set.

    ``tails`` says where each known file stands (``file_ends`` at the start); files not in it
    are new and read from their start.
    """
    while not stop.is_set():
        for path in sources.discover():
            status = _followed_status(path)
            if status is None:
                continue
            tail = tails.get(path)
            if tail is None or tail.inode != status.st_ino or status.st_size < tail.offset:
                tail = tails[path] = Tail(status.st_ino, 0)
            if status.st_size == tail.offset:
                continue
            try:
                lines = _read_new(path, tail)
            except OSError:
                continue
            if lines:
                on_lines(path, lines)
        stop.wait(interval)
