"""``--search TEXT``: find text anywhere in an event, ignoring case, about as fast as ``rg -i -F``.

The rule (``predicate.line_has``, the same on every engine): the event's line as written,
lowercased the Unicode way, contains the text as it would be written inside a JSON string
(``search_needle``: a quote as ``\\"``), lowercased. So ``ÄRGER`` finds ``ärger`` and any key,
any value, nested or not, is searched.

Over files, ``search_lines`` finds those lines without parsing JSON, in two steps:

1. A byte pre-screen that can only err on the side of too many lines. It looks for the
   needle's *plain* characters — ASCII ones that no other character lowercases to (all but
   ``i`` and ``k``: ``İ`` and the Kelvin sign ``K`` lowercase to them) — whose every spelling
   is that byte in either case. The cheapest of three ways is picked from a sample of the
   files: the needle's rarest plain byte found with ``bytes.find`` (``memchr`` speed), each
   hit checked against the plain run around it; or each chunk lowercased (ASCII only) and
   searched for the longest plain run; or, for a needle with no plain character, each chunk
   decoded and lowercased.
2. Each line the pre-screen passes is checked by the rule itself, decoded and lowercased.

Large scans are split across the cores (``parallel_scan``); ``.gz`` files are decompressed
and scanned the same way.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from moose_trace.query.ast import AllOf, Condition, Search
from moose_trace.query.parallel_scan import Part, ScanItem, line_blocks, scan_parts
from moose_trace.query.sources import (
    READ_ERRORS,
    OnUnreadable,
    UnreadableFile,
    file_start_line,
    open_log,
    read_error_text,
)

__all__ = ["PLAIN_CHARACTERS", "search_lines", "search_needle", "searches_of", "without_searches"]

PLAIN_CHARACTERS = frozenset(chr(code) for code in range(32, 127)) - frozenset("iIkK")
"""ASCII characters that only themselves (in either case) lowercase to: the pre-screen looks
for these. Not ``i`` (``İ`` lowercases to ``i`` and a combining dot) nor ``k`` (the Kelvin
sign ``K`` lowercases to ``k``); a test checks that no other character is left out."""

_CHUNK = 256 * 1024
"""Bytes lowercased at a time: small enough to stay in the CPU's cache and to reuse the
allocator's memory (8 MB chunks took 1.8 times as long: every new chunk faulted its pages in)."""
_TEXT_CHUNK = 1024 * 1024
_SAMPLE_BYTES = 64 * 1024
_SAMPLE_FILES = 6
_BYTES_PER_HIT = 2000
"""Anchor hits cheaper than lowercasing the bytes: each costs a Python step, about as long as
lowercasing and searching 2,000 bytes."""


def search_needle(text: str) -> str:
    """Return ``text`` as the lowercased needle engines look for in a JSON line."""
    return json.dumps(text, ensure_ascii=False)[1:-1].lower()


def searches_of(condition: Condition) -> list[Search]:
    """Return the ``Search`` conditions every match must meet (top level or under ``AllOf``)."""
    if isinstance(condition, Search):
        return [condition]
    if isinstance(condition, AllOf):
        return [found for item in condition.items for found in searches_of(item)]
    return []


def without_searches(condition: Condition) -> Condition:
    """Return ``condition`` without the ``Search`` items ``searches_of`` finds."""
    if isinstance(condition, Search):
        return AllOf()
    if isinstance(condition, AllOf):
        return AllOf(tuple(without_searches(item) for item in condition.items))
    return condition


def _plain_runs(needle: str) -> list[tuple[int, str]]:
    """Return ``(start, run)`` for each maximal run of plain characters in ``needle``."""
    runs: list[tuple[int, str]] = []
    start = -1
    for position, char in enumerate(needle + "\0"):
        if char in PLAIN_CHARACTERS:
            if start < 0:
                start = position
        elif start >= 0:
            runs.append((start, needle[start:position]))
            start = -1
    return runs


class _Plan:
    """How to pre-screen: the needles, and an anchor byte or a plain run to look for."""

    __slots__ = ("anchor", "anchor_run", "needles", "run")

    def __init__(self, needles: list[str]) -> None:
        self.needles = needles
        self.anchor: list[bytes] = []
        """Spellings of the anchor byte (``memchr`` pass each); empty: no anchor pass."""
        self.anchor_run = (0, b"")
        """Where the anchor sits in its plain run, and the run (lowercase)."""
        self.run = b""
        """The longest plain run of the needles (empty: the needles have no plain character)."""

    def confirms(self, line: bytes) -> bool:
        text = line.decode("utf-8", "replace").lower()
        return all(needle in text for needle in self.needles)


def _sample(files: Sequence[Path]) -> bytes:
    """Return up to ``_SAMPLE_FILES`` blocks from the middle of files spread over ``files``."""
    plain = [path for path in files if not path.name.endswith(".gz")]
    step = max(1, len(plain) // _SAMPLE_FILES)
    blocks = []
    for path in plain[::step][:_SAMPLE_FILES]:
        try:
            with open(path, "rb") as file:
                file.seek(max(0, os.fstat(file.fileno()).st_size // 2 - _SAMPLE_BYTES // 2))
                blocks.append(file.read(_SAMPLE_BYTES))
        except OSError:
            continue
    return b"".join(blocks)


def _plan(needles: list[str], files: Sequence[Path], total: int) -> _Plan:
    plan = _Plan(needles)
    runs = [(needle, start, run) for needle in needles for start, run in _plain_runs(needle)]
    if not runs:
        return plan
    plan.run = max((run for _needle, _start, run in runs), key=len).encode()
    sample = _sample(files)
    best: tuple[int, list[bytes], tuple[int, bytes]] | None = None
    for _needle, _start, run in runs:
        for offset, char in enumerate(run):
            spellings = sorted({char.encode(), char.upper().encode()})
            count = sum(sample.count(spelling) for spelling in spellings)
            if best is None or count < best[0]:
                best = (count, spellings, (offset, run.encode()))
    assert best is not None
    hits = best[0] * total // max(1, len(sample))
    if hits * _BYTES_PER_HIT < total or not sample:
        plan.anchor, plan.anchor_run = best[1], best[2]
    return plan


def search_lines(
    files: Sequence[Path],
    needles: Collection[str],
    *,
    parallel: bool = False,
    on_unreadable: OnUnreadable | None = None,
) -> Iterator[bytes]:
    """Yield the lines of ``files`` that hold every needle (``predicate.line_has``).

    ``needles`` come from ``search_needle``. With ``parallel``, a large scan is split across
    the cores (``parallel_scan.scan_parts``: only in a process with no other thread). A file
    that cannot be read is skipped and told to ``on_unreadable`` (without one, the error
    propagates).
    """
    wanted = sorted(set(needles), key=len, reverse=True)
    if not wanted:
        return
    ranges: list[tuple[Path, int, int]] = []
    for path in files:
        try:
            ranges.append((path, 0, path.stat().st_size))
        except READ_ERRORS as error:
            if on_unreadable is None:
                raise
            on_unreadable(UnreadableFile(path, read_error_text(error)))
    plan = _plan(wanted, files, sum(size for _path, _start, size in ranges))

    def scan(parts: Sequence[Part]) -> Iterator[ScanItem]:
        for path, start, end in parts:
            try:
                for line in _scan_file(plan, path, start, end):
                    yield line, None, None
            except READ_ERRORS as error:
                yield b"", path, read_error_text(error)

    for line, where, reason in scan_parts(ranges, scan, parallel=parallel):
        if where is None:
            yield line
        elif on_unreadable is None:
            raise OSError(f"cannot read {where}: {reason}")
        else:
            on_unreadable(UnreadableFile(where, reason or "unreadable"))


def _scan_file(plan: _Plan, path: Path, start: int, end: int) -> Iterator[bytes]:
    """Yield the matching lines of ``path`` in ``[start, end)`` (``end`` -1: to its end)."""
    if path.name.endswith(".gz"):
        with open_log(path) as stream:
            for offset, block in line_blocks(stream):
                yield from _scan(plan, block, 0, len(block), base=offset)
        return
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        end = size if end < 0 else min(end, size)
        if end <= start:
            return
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield from _scan(plan, mapped, start, end)


def _scan(
    plan: _Plan, data: bytes | mmap.mmap, start: int, end: int, *, base: int = 0
) -> Iterator[bytes]:
    """Yield the matching lines of ``data[start:end]``; ``base``: where ``data`` starts in
    its file (a BOM is dropped at the file's start only)."""
    if plan.anchor:
        starts = _anchored_starts(plan, data, start, end)
    elif plan.run:
        starts = _folded_starts(plan.run, data, start, end)
    else:
        yield from _text_lines(plan, data, start, end, base)
        return
    for line_start in sorted(starts):
        line_end = data.find(b"\n", line_start, end)
        line = data[line_start : end if line_end < 0 else line_end]
        line = file_start_line(line, base + line_start)
        if plan.confirms(line):
            yield line


def _line_start(data: bytes | mmap.mmap, position: int, start: int) -> int:
    return max(start, data.rfind(b"\n", start, position) + 1)


def _anchored_starts(plan: _Plan, data: bytes | mmap.mmap, start: int, end: int) -> Iterable[int]:
    """Return the starts of lines where the anchor byte sits inside the plain run."""
    offset, run = plan.anchor_run
    starts: set[int] = set()
    for spelling in plan.anchor:
        position = data.find(spelling, start, end)
        while position >= 0:
            first = position - offset
            if first >= start and data[first : first + len(run)].lower() == run:
                line_start = _line_start(data, position, start)
                starts.add(line_start)
                line_end = data.find(b"\n", position, end)
                if line_end < 0:
                    break
                position = data.find(spelling, line_end, end)
            else:
                position = data.find(spelling, position + 1, end)
    return starts


def _folded_starts(run: bytes, data: bytes | mmap.mmap, start: int, end: int) -> Iterable[int]:
    """Return the starts of lines holding ``run`` in any ASCII case, a chunk at a time."""
    starts: list[int] = []
    position = start
    while position < end:
        stop = min(position + _CHUNK, end)
        if stop < end:
            cut = data.rfind(b"\n", position, stop)
            stop = cut + 1 if cut >= position else _after_line(data, stop, end)
        lowered = data[position:stop].lower()
        found = lowered.find(run)
        while found >= 0:
            line_start = lowered.rfind(b"\n", 0, found) + 1
            starts.append(position + line_start)
            line_end = lowered.find(b"\n", found)
            if line_end < 0:
                break
            found = lowered.find(run, line_end)
        position = stop
    return starts


def _after_line(data: bytes | mmap.mmap, position: int, end: int) -> int:
    found = data.find(b"\n", position, end)
    return end if found < 0 else found + 1


def _text_lines(
    plan: _Plan, data: bytes | mmap.mmap, start: int, end: int, base: int
) -> Iterator[bytes]:
    """Yield matching lines for needles with no plain character: each chunk decoded first."""
    position = start
    while position < end:
        stop = min(position + _TEXT_CHUNK, end)
        if stop < end:
            cut = data.rfind(b"\n", position, stop)
            stop = cut + 1 if cut >= position else _after_line(data, stop, end)
        chunk = data[position:stop]
        if plan.confirms(chunk):  # every needle somewhere in the chunk: look line by line
            offset = position
            for line in chunk.split(b"\n"):
                if line and plan.confirms(line):
                    yield file_start_line(line, base + offset)
                offset += len(line) + 1
        position = stop
