"""Byte scans of log files on every core: ``--search`` and the first ``--trace`` lookup.

A byte scan (``bytes.find`` over memory-mapped files) is bounded by one core's speed; ``rg``,
the yardstick, searches with a thread per core. So a scan of many megabytes is split into
byte ranges of whole lines, and a forked copy of the process scans part of them while this
one scans the rest: no new interpreter starts and nothing is imported again. The worker sends
back what it found (lines, and files it could not read) through a pipe. Its CPU time is the
process's child time: ``time`` and the benchmarks count it.

Forking is done only where it is safe and worth it: on a platform with ``os.fork``, with more
than one core available, in a process with no other thread running (a thread could hold a lock
the copy then waits on forever), and for at least ``PARALLEL_BYTES``. If the worker fails, its
part is scanned here: never an answer with a part missing.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

__all__ = [
    "GZ_BLOCK",
    "PARALLEL_BYTES",
    "Part",
    "ScanItem",
    "line_blocks",
    "scan_parts",
    "split_parts",
]

PARALLEL_BYTES = 48 * 1024 * 1024
"""Below this many bytes a scan runs in this process only (a fork costs more than it saves)."""

Part = tuple[Path, int, int]
"""A byte range of one file: ``(path, start, end)``; ``end`` -1 means to the end of the file."""

ScanItem = tuple[bytes, Path | None, str | None]
"""What a scan yields: ``(line, None, None)``, or ``(b"", path, reason)`` for an unreadable file."""

_HEADER = struct.Struct("<BI")
_LINE, _UNREADABLE = 1, 2
_PROBE = 64 * 1024


GZ_BLOCK = 32 * 1024 * 1024
"""A compressed file is decompressed and searched this many bytes at a time (bounded memory)."""


def line_blocks(stream: IO[bytes], block: int = GZ_BLOCK) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, data)``: the stream in blocks of whole lines (the last may be cut)."""
    offset = 0
    leftover = b""
    while True:
        chunk = stream.read(block)
        if not chunk:
            if leftover:
                yield offset, leftover
            return
        data = leftover + chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            yield offset, data[:cut]
            offset += cut
        leftover = data[cut:]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _threads_running() -> bool:
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def _next_line_start(path: Path, position: int) -> int:
    """Return the offset just past the first newline at or after ``position`` (-1: none)."""
    with open(path, "rb") as file:
        file.seek(position)
        while True:
            block = file.read(_PROBE)
            if not block:
                return -1
            found = block.find(b"\n")
            if found >= 0:
                return position + found + 1
            position += len(block)


def split_parts(
    files: Sequence[tuple[Path, int, int]], pieces: int, *, stripe: int = 0
) -> list[list[Part]]:
    """Split ``(path, start, size)`` ranges into ``pieces`` groups of about equal bytes.

    The ranges are cut into stripes of about ``stripe`` bytes (default: a 64th of a group's
    share; a smaller file is one stripe) and the groups take turns taking them. Matches
    cluster — one service's files hold every ``timeout``, one hour holds an incident — and a
    match costs far more to read and lay out than to find: halves cut in one piece each left
    one process all of that work. Cuts fall on line starts; a ``.gz`` file is never cut (it
    can only be read from its start).
    """
    total = sum(size - start for _path, start, size in files)
    pieces = max(1, pieces)
    stripe = stripe or max(_MIN_STRIPE, total // (pieces * _STRIPES_PER_GROUP))
    groups: list[list[Part]] = [[] for _ in range(pieces)]
    taken = 0
    for path, start, size in files:
        position = start
        while position < size:
            cut = -1
            if not path.name.endswith(".gz") and size - position > stripe + stripe // 2:
                cut = _next_line_start(path, position + stripe)
            end = size if cut < 0 or cut >= size else cut
            turn = taken % pieces
            groups[turn].append((path, position, -1 if end == size else end))
            taken += 1
            position = end
    return [group for group in groups if group]


_STRIPES_PER_GROUP = 64
_MIN_STRIPE = 1024 * 1024
"""Stripes smaller than this cost more in opening and mapping than they balance."""


def scan_parts(
    files: Sequence[tuple[Path, int, int]],
    scan: Callable[[Sequence[Part]], Iterable[ScanItem]],
    *,
    parallel: bool,
) -> Iterator[ScanItem]:
    """Yield what ``scan`` yields over the byte ranges ``files`` (``(path, start, size)``).

    With ``parallel`` (and where it is safe and worth it: see the module doc) a forked worker
    scans part of the ranges. Items come in no particular order across parts.
    """
    total = sum(size - start for _path, start, size in files)
    workers = min(_cores(), 2)
    if (
        not parallel
        or workers < 2
        or total < PARALLEL_BYTES
        or not hasattr(os, "fork")
        or _threads_running()
    ):
        yield from scan([(path, start, -1) for path, start, _size in files])
        return
    groups = split_parts(files, workers)
    if len(groups) < 2:
        yield from scan(groups[0] if groups else [])
        return
    mine, theirs = groups[0], [part for group in groups[1:] for part in group]
    reader, writer = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the worker: scan, send, leave without running any exit handler
        os.close(reader)
        code = 0
        try:
            _send(writer, scan(theirs))
        except BaseException:  # the parent rescans this part
            code = 1
        finally:
            os._exit(code)
    os.close(writer)
    try:
        yield from scan(mine)
        received = _receive(reader)
    finally:
        os.close(reader)
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or received is None:
        yield from scan(theirs)
        return
    yield from received


def _send(descriptor: int, items: Iterable[ScanItem]) -> None:
    chunks: list[bytes] = []
    for line, path, reason in items:
        if path is None:
            chunks += (_HEADER.pack(_LINE, len(line)), line)
        else:
            told = os.fsencode(path) + b"\0" + (reason or "").encode()
            chunks += (_HEADER.pack(_UNREADABLE, len(told)), told)
    data = memoryview(b"".join(chunks))
    while data:
        data = data[os.write(descriptor, data) :]


def _receive(descriptor: int) -> list[ScanItem] | None:
    """Read what the worker sent (None: it was cut short)."""
    blocks = []
    while True:
        block = os.read(descriptor, 1 << 20)
        if not block:
            break
        blocks.append(block)
    data = b"".join(blocks)
    items: list[ScanItem] = []
    position = 0
    while position < len(data):
        if position + _HEADER.size > len(data):
            return None
        kind, size = _HEADER.unpack_from(data, position)
        position += _HEADER.size
        body = data[position : position + size]
        if len(body) != size:
            return None
        position += size
        if kind == _LINE:
            items.append((body, None, None))
        else:
            name, _, reason = body.partition(b"\0")
            items.append((b"", Path(os.fsdecode(name)), reason.decode()))
    return items
