"""``--search TEXT``: find text anywhere in an event, ignoring case, as fast as ``rg -i -F``.

The text is looked for in each event's JSON line as written: any key, any value, nested or
not. ``search_needle`` spells it as it appears inside a JSON string (a quote as ``\\"``) and
lowercased; every engine looks for that needle in the lowercased line (DuckDB and ClickHouse
in SQL, the Python predicate in the event's JSON).

Over files, ``search_lines`` scans the bytes first — each chunk lowercased and searched with
``bytes.find``, no JSON parsed — and only the lines that hold the needle go on to the Python
engine, which applies the rest of the query. So a search costs about one pass over the bytes.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from moose_trace.query.ast import AllOf, Condition, Search
from moose_trace.query.sources import open_log

__all__ = ["search_lines", "search_needle", "searches_of", "without_searches"]

_CHUNK = 32 * 1024 * 1024


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


def search_lines(files: Sequence[Path], needles: Collection[str]) -> Iterator[bytes]:
    """Yield the lines of ``files`` that contain every needle (lowercased line, as UTF-8)."""
    encoded = sorted((needle.encode() for needle in needles), key=len, reverse=True)
    if not encoded:
        return
    for path in files:
        try:
            if path.name.endswith(".gz"):
                with open_log(path) as stream:
                    yield from _scan(stream.read(), encoded)
                continue
            with open(path, "rb") as file:
                if path.stat().st_size == 0:
                    continue
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    yield from _scan(data, encoded)
        except (OSError, ValueError):
            continue


def _scan(data: bytes | mmap.mmap, needles: list[bytes]) -> Iterator[bytes]:
    """Yield the lines of ``data`` holding all ``needles``, a chunk of whole lines at a time."""
    first, rest = needles[0], needles[1:]
    size = len(data)
    start = 0
    while start < size:
        end = min(start + _CHUNK, size)
        if end < size:
            cut = data.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else min(size, _line_end(data, end) + 1)
        lowered = data[start:end].lower()
        position = lowered.find(first)
        while position >= 0:
            line_start = lowered.rfind(b"\n", 0, position) + 1
            line_end = lowered.find(b"\n", position)
            line_end = len(lowered) if line_end < 0 else line_end
            if all(lowered.find(other, line_start, line_end) >= 0 for other in rest):
                yield bytes(data[start + line_start : start + line_end])
            position = lowered.find(first, line_end)
        start = end


def _line_end(data: bytes | mmap.mmap, position: int) -> int:
    found = data.find(b"\n", position)
    return len(data) - 1 if found < 0 else found
