"""Find the lines that hold an ASCII literal in any ASCII case, at the speed of the bytes.

The pre-screen of ``--search`` (the needle's plain run) and of the first ``--trace`` lookup (the
end of the trace id, any case of its hex letters) are both "lines holding this literal, ASCII
case ignored". ``caseless_finder`` returns a function that finds their starts in a buffer:

- with Hyperscan (the ``hyperscan`` wheel, in the ``query`` extra where the platform has one):
  one SIMD pass per buffer at several GB/s, about ``rg -i -F``'s own speed;
- else in pure Python, the cheaper of two ways picked from a sample of the files: the
  literal's rarest byte found with ``bytes.find`` (``memchr``), each hit checked against the
  literal around it; or each chunk lowercased (ASCII only) and searched.

Both ways give the same line starts (the tests run each over generated lines); the caller
confirms each line with its own rule, so a pre-screen may pass too many lines, never too few.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import cast

from moose_trace.query.line_scan import Buffer, LineStarts, line_chunks

__all__ = ["caseless_finder", "native_available"]

_CHUNK = 256 * 1024
"""Bytes lowercased at a time: small enough to stay in the CPU's cache and to reuse the
allocator's memory (8 MB chunks took 1.8 times as long: every new chunk faulted its pages in)."""
_SAMPLE_BYTES = 64 * 1024
_SAMPLE_FILES = 6
_BYTES_PER_HIT = 2000
"""Anchor hits cheaper than lowercasing the bytes: each costs a Python step, about as long as
lowercasing and searching 2,000 bytes."""


def native_available() -> bool:
    """Return whether the Hyperscan scanner can be used here (its wheel is installed)."""
    return _hyperscan() is not None


@functools.cache
def _hyperscan() -> ModuleType | None:
    """The Hyperscan binding's compiled module (``Database`` and the flags), None without it.

    The wheel's package face (``hyperscan/__init__.py``) imports ``typing`` for one
    ``NamedTuple``: 10-15 ms on every ``--search``, more than the rest of the scan's set-up.
    The compiled module it re-exports imports nothing, so it is loaded from the package's
    folder directly; the face is imported only where that fails.
    """
    from importlib.machinery import PathFinder  # noqa: PLC0415 (loaded already at start-up)

    loaded = sys.modules.get("hyperscan._hs_ext") or sys.modules.get("hyperscan")
    if loaded is not None:
        return loaded
    try:
        package = PathFinder.find_spec("hyperscan")
        locations = None if package is None else package.submodule_search_locations
        spec = None if locations is None else PathFinder.find_spec("hyperscan._hs_ext", locations)
        if spec is not None and spec.loader is not None:
            module = spec.loader.create_module(spec)
            if module is not None:
                spec.loader.exec_module(module)
                sys.modules[spec.name] = module
                return module
    except (ImportError, OSError):
        pass
    try:
        import hyperscan  # noqa: PLC0415 (optional: loaded only for a byte scan)
    except ImportError:
        return None
    return hyperscan


def caseless_finder(
    literals: Sequence[bytes],
    files: Sequence[Path] = (),
    total: int = 0,
    *,
    native: bool | None = None,
) -> LineStarts:
    """Return a finder of the lines holding any of ``literals`` in any ASCII case.

    ``literals`` are lowercase ASCII without a newline. ``files`` (a sample is read from them)
    and ``total`` (the bytes to scan) let the pure-Python way pick its method. ``native``:
    True needs Hyperscan, False never uses it, None uses it when it is installed.
    """
    wanted = sorted({literal.lower() for literal in literals if literal})
    if not wanted:
        raise ValueError("caseless_finder needs a non-empty literal")
    if native is None:
        native = native_available()
    if native:
        return _HyperscanFinder(wanted)
    return _python_finder(wanted, files, total)


class _HyperscanFinder:
    """One Hyperscan database of the literals (caseless); a scan reports each match's end."""

    __slots__ = ("_database",)

    def __init__(self, literals: list[bytes]) -> None:
        hyperscan = _hyperscan()
        assert hyperscan is not None  # caseless_finder checked
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._database.compile(
            expressions=[b"".join(b"\\x%02x" % byte for byte in literal) for literal in literals],
            ids=list(range(len(literals))),
            flags=[hyperscan.HS_FLAG_CASELESS] * len(literals),
        )

    def __call__(self, data: Buffer, start: int, end: int) -> list[int]:
        ends: list[int] = []
        add = ends.append

        def matched(_id: int, _from: int, to: int, _flags: int, _context: object) -> None:
            add(to)

        view = memoryview(data)[start:end]
        try:
            # Any buffer is scanned in place (the stub says bytes): no copy of a mapped file.
            self._database.scan(cast("bytes", view), match_event_handler=matched)
        finally:
            view.release()
        ends.sort()
        return _starts_of_lines_at(data, start, end, [start + to for to in ends])


def _starts_of_lines_at(data: Buffer, start: int, end: int, positions: list[int]) -> list[int]:
    """Return the starts of the lines holding ``positions`` (ascending), each line once."""
    starts: list[int] = []
    line_end = -1
    for position in positions:
        if position <= line_end:
            continue
        starts.append(max(start, data.rfind(b"\n", start, position) + 1))
        found = data.find(b"\n", position, end)
        line_end = end if found < 0 else found
    return starts


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


def _python_finder(literals: list[bytes], files: Sequence[Path], total: int) -> LineStarts:
    """Pick, from a sample, the anchor byte or the lowercased chunks for each literal."""
    sample = _sample(files)
    finders: list[LineStarts] = []
    for literal in literals:
        count, offset = min(
            (sample.count(bytes([byte])) + sample.count(bytes([byte]).upper()), offset)
            for offset, byte in enumerate(literal)
        )
        hits = count * total // max(1, len(sample))
        if not sample or hits * _BYTES_PER_HIT < total:
            finders.append(_anchored(literal, offset))
        else:
            finders.append(_folded(literal))
    if len(finders) == 1:
        return finders[0]

    def any_of(data: Buffer, start: int, end: int) -> list[int]:
        return sorted({found for finder in finders for found in finder(data, start, end)})

    return any_of


def _anchored(literal: bytes, offset: int) -> LineStarts:
    """Find the byte at ``offset`` of ``literal`` (each case: ``memchr``), check around it."""
    spellings = sorted({literal[offset : offset + 1], literal[offset : offset + 1].upper()})
    width = len(literal)

    def find(data: Buffer, start: int, end: int) -> list[int]:
        starts: set[int] = set()
        for spelling in spellings:
            position = data.find(spelling, start, end)
            while position >= 0:
                first = position - offset
                if first >= start and data[first : first + width].lower() == literal:
                    starts.add(max(start, data.rfind(b"\n", start, position) + 1))
                    line_end = data.find(b"\n", position, end)
                    if line_end < 0:
                        break
                    position = data.find(spelling, line_end, end)
                else:
                    position = data.find(spelling, position + 1, end)
        return sorted(starts)

    return find


def _folded(literal: bytes) -> LineStarts:
    """Lowercase ``_CHUNK`` bytes (whole lines) at a time and search the literal in them."""

    def find(data: Buffer, start: int, end: int) -> list[int]:
        starts: list[int] = []
        for position, stop in line_chunks(data, start, end, _CHUNK):
            lowered = data[position:stop].lower()
            found = lowered.find(literal)
            while found >= 0:
                starts.append(position + lowered.rfind(b"\n", 0, found) + 1)
                line_end = lowered.find(b"\n", found)
                if line_end < 0:
                    break
                found = lowered.find(literal, line_end)
        return starts

    return find
