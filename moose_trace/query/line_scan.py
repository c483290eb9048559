"""The byte scan ``--search`` and the first ``--trace`` lookup share: lines found, not parsed.

A *finder* (``LineStarts``) tells where candidate lines start in a buffer of whole lines.
``matching_lines`` runs one over byte ranges of files — memory-mapped when plain (no copy),
decompressed a block at a time when ``.gz`` — on this process alone or split with a forked
worker (``parallel_scan``), cuts out each line (a BOM at a file's start dropped), keeps those
``keep`` accepts and tells the files it cannot read to ``on_unreadable``.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from moose_trace.query.parallel_scan import Part, ScanItem, line_blocks, scan_parts
from moose_trace.query.sources import (
    READ_ERRORS,
    OnUnreadable,
    UnreadableFile,
    file_start_line,
    open_log,
    read_error_text,
)

__all__ = ["Buffer", "Finish", "LineStarts", "line_chunks", "matching_lines"]

Buffer = Any
"""``bytes`` or an ``mmap.mmap`` of a file (both have ``find``, ``rfind`` and slicing)."""

LineStarts = Callable[[Buffer, int, int], Iterable[int]]
"""Finds candidate lines in ``data[start:end]`` (whole lines): their starts, ascending, once
each."""


Finish = Callable[[bytes], "bytes | None"]
"""What a scan makes of each line it keeps (``None``: nothing to hand back)."""


def line_chunks(data: Buffer, start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` of consecutive pieces of ``data[start:end]`` of about ``size``
    bytes, each cut just after a newline (a line longer than ``size`` is one piece)."""
    position = start
    while position < end:
        stop = min(position + size, end)
        if stop < end:
            cut = data.rfind(b"\n", position, stop)
            if cut >= position:
                stop = cut + 1
            else:
                found = data.find(b"\n", stop, end)
                stop = end if found < 0 else found + 1
        yield position, stop
        position = stop


def matching_lines(
    ranges: Sequence[tuple[Path, int, int]],
    find: LineStarts,
    keep: Callable[[bytes], bool] | None = None,
    *,
    finish: Finish | None = None,
    parallel: bool = False,
    on_unreadable: OnUnreadable | None = None,
) -> Iterator[bytes]:
    """Yield the lines ``find`` points at in ``ranges`` (``(path, start, size)``) that ``keep``
    accepts (all of them without it); with ``finish``, what it makes of each such line
    instead (in the process that scanned it: work done there is done on its core).

    With ``parallel``, a large scan is split with a forked worker (``parallel_scan``: only in a
    process with no other thread); lines then come in no particular order across files. A file
    that cannot be read is told to ``on_unreadable`` (without one, ``OSError`` is raised).
    """

    def scan(parts: Sequence[Part]) -> Iterator[ScanItem]:
        for path, start, end in parts:
            try:
                for line in _part_lines(path, start, end, find, keep):
                    if finish is None:
                        yield line, None, None
                    else:
                        made = finish(line)
                        if made is not None:
                            yield made, None, None
            except READ_ERRORS as error:
                yield b"", path, read_error_text(error)

    for line, where, reason in scan_parts(ranges, scan, parallel=parallel):
        if where is None:
            yield line
        elif on_unreadable is None:
            raise OSError(f"cannot read {where}: {reason}")
        else:
            on_unreadable(UnreadableFile(where, reason or "unreadable"))


def _part_lines(
    path: Path, start: int, end: int, find: LineStarts, keep: Callable[[bytes], bool] | None
) -> Iterator[bytes]:
    """The lines of ``path`` in ``[start, end)`` (``end`` -1: to its end); errors propagate."""
    if path.name.endswith(".gz"):
        with open_log(path) as stream:
            for offset, block in line_blocks(stream):
                yield from _lines(block, 0, len(block), find, keep, base=offset)
        return
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        end = size if end < 0 else min(end, size)
        if end <= start:
            return
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield from _lines(data, start, end, find, keep, base=0)


def _lines(
    data: Buffer,
    start: int,
    end: int,
    find: LineStarts,
    keep: Callable[[bytes], bool] | None,
    *,
    base: int,
) -> Iterator[bytes]:
    """``base``: where ``data`` starts in its file (a BOM is dropped at the file's start only)."""
    for line_start in find(data, start, end):
        line_end = data.find(b"\n", line_start, end)
        line = file_start_line(
            data[line_start : end if line_end < 0 else line_end], base + line_start
        )
        if keep is None or keep(line):
            yield line
