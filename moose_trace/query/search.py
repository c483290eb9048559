"""``--search TEXT``: find text anywhere in an event, ignoring case, about as fast as ``rg -i -F``.

The rule (``predicate.line_has``, the same on every engine): the event's line as written,
lowercased the Unicode way, contains the text as it would be written inside a JSON string
(``search_needle``: a quote as ``\\"``), lowercased. So ``ÄRGER`` finds ``ärger`` and any key,
any value, nested or not, is searched.

Over files, ``search_lines`` finds those lines without parsing JSON, in two steps:

1. A byte pre-screen that can only err on the side of too many lines. It looks for the
   needles' longest run of *plain* characters — ASCII ones that no other character lowercases
   to (all but ``i`` and ``k``: ``İ`` and the Kelvin sign ``K`` lowercase to them) — in any
   ASCII case (``caseless_scan``: Hyperscan where installed, else ``bytes.find``). For needles
   with no plain character, each chunk is decoded and lowercased instead.
2. Each line the pre-screen passes is checked by the rule itself, decoded and lowercased.

Large scans are split across the cores (``parallel_scan``); ``.gz`` files are decompressed
and scanned the same way (``line_scan``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from moose_trace.query.ast import AllOf, Condition, Search
from moose_trace.query.sources import READ_ERRORS, OnUnreadable, UnreadableFile, read_error_text

if TYPE_CHECKING:
    from moose_trace.query.line_scan import Buffer, Finish, LineStarts

__all__ = ["PLAIN_CHARACTERS", "search_lines", "search_needle", "searches_of", "without_searches"]

PLAIN_CHARACTERS = frozenset(chr(code) for code in range(32, 127)) - frozenset("iIkK")
"""ASCII characters that only themselves (in either case) lowercase to: the pre-screen looks
for these. Not ``i`` (``İ`` lowercases to ``i`` and a combining dot) nor ``k`` (the Kelvin
sign ``K`` lowercases to ``k``); a test checks that no other character is left out."""

_TEXT_CHUNK = 1024 * 1024
"""Bytes decoded at a time for needles with no plain character."""


def search_needle(text: str) -> str:
    """Return ``text`` as the lowercased needle engines look for in a JSON line."""
    import json  # noqa: PLC0415 (a --search only: keep --trace's start-up short)

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


def _plain_runs(needle: str) -> list[str]:
    """Return each maximal run of plain characters in ``needle``."""
    runs: list[str] = []
    start = -1
    for position, char in enumerate(needle + "\0"):
        if char in PLAIN_CHARACTERS:
            if start < 0:
                start = position
        elif start >= 0:
            runs.append(needle[start:position])
            start = -1
    return runs


def search_lines(
    files: Sequence[Path],
    needles: Collection[str],
    *,
    parallel: bool = False,
    on_unreadable: OnUnreadable | None = None,
    native: bool | None = None,
    finish: Finish | None = None,
) -> Iterator[bytes]:
    """Yield the lines of ``files`` that hold every needle (``predicate.line_has``).

    ``needles`` come from ``search_needle``. With ``parallel``, a large scan is split across
    the cores (``parallel_scan.scan_parts``: only in a process with no other thread). A file
    that cannot be read is skipped and told to ``on_unreadable`` (without one, the error
    propagates). ``native`` picks the pre-screen's scanner (``caseless_scan.caseless_finder``;
    None: Hyperscan where installed): the lines are the same either way. ``finish``: what to
    make of each line, in the process that found it (``line_scan.matching_lines``).
    """
    # The scanners load with the first scan: an indexed --trace needs none of them.
    from moose_trace.query.caseless_scan import caseless_finder  # noqa: PLC0415
    from moose_trace.query.line_scan import matching_lines  # noqa: PLC0415

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

    def confirms(line: bytes) -> bool:
        text = line.decode("utf-8", "replace").lower()
        return all(needle in text for needle in wanted)

    runs = [run for needle in wanted for run in _plain_runs(needle)]
    find: LineStarts
    if runs:
        longest = max(runs, key=len).encode()
        total = sum(size for _path, _start, size in ranges)
        sampled = [path for path, _start, _size in ranges]
        find = caseless_finder([longest], sampled, total, native=native)
    else:
        find = _decoded_chunks(confirms)
    yield from matching_lines(
        ranges, find, confirms, finish=finish, parallel=parallel, on_unreadable=on_unreadable
    )


def _decoded_chunks(confirms: Callable[[bytes], bool]) -> LineStarts:
    """For needles with no plain character: the starts of every line of each chunk that holds
    them all (the chunk decoded and lowercased as a whole); ``confirms`` then checks each."""
    from moose_trace.query.line_scan import line_chunks  # noqa: PLC0415 (see search_lines)

    def find(data: Buffer, start: int, end: int) -> list[int]:
        starts: list[int] = []
        for position, stop in line_chunks(data, start, end, _TEXT_CHUNK):
            chunk = data[position:stop]
            if confirms(chunk):
                offset = position
                for line in chunk.split(b"\n"):
                    if line:
                        starts.append(offset)
                    offset += len(line) + 1
        return starts

    return find
