"""Events in time order, in bounded memory: an external merge sort of (timestamp, line) pairs.

An event listing can be as large as the logs. Engines hand their matching lines over unordered;
this module sorts them in runs of ``RUN_BYTES``, spills each run to a temporary file, and merges
the runs, so memory stays flat whatever the size — the sort a database would do, without its
buffer manager needing room for every line. Logs are mostly written in time order, so runs are
nearly sorted already and cheap to sort.

The order is: events without a readable timestamp first, then by time, then by the line's text
(a stable tie-break every engine shares).
"""

from __future__ import annotations

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import IO

__all__ = ["RUN_BYTES", "line_of_key", "order_key", "time_ordered"]

RUN_BYTES = 64 * 1024 * 1024
"""How much line text is sorted in memory before a run is spilled to disk."""

_OFFSET = 10**17
"""Added to microsecond timestamps so years 0001…9999 become non-negative 18-digit numbers."""
_KEY_WIDTH = 21


def order_key(timestamp_us: int | None, text: str) -> str:
    """Return a string whose ordering is the listing order of (timestamp, line text)."""
    timed = "0" if timestamp_us is None else "1"
    return f"{timed}{(timestamp_us or 0) + _OFFSET:020d}\t{text}"


def line_of_key(key: str) -> str:
    """Return the line text an ``order_key`` was made with."""
    return key[_KEY_WIDTH + 1 :]


def _spill(run: list[str]) -> IO[str]:
    import tempfile  # noqa: PLC0415 (only big listings spill: keep --trace's start-up short)

    run.sort()
    spool = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="moose-trace-sort-")  # noqa: SIM115 (closed by time_ordered)
    spool.writelines(line + "\n" for line in run)
    spool.seek(0)
    return spool


def _read(spool: IO[str]) -> Iterator[str]:
    for line in spool:
        yield line[:-1]


def time_ordered(
    rows: Iterable[tuple[int | None, str]], *, run_bytes: int = RUN_BYTES
) -> Iterator[str]:
    """Yield the texts of ``(timestamp_us, text)`` rows in listing order, spilling when large.

    Texts must not contain newlines (JSON Lines never do).
    """
    run: list[str] = []
    size = 0
    spools: list[IO[str]] = []
    try:
        for timestamp, text in rows:
            key = order_key(timestamp, text)
            run.append(key)
            size += len(key)
            if size >= run_bytes:
                spools.append(_spill(run))
                run, size = [], 0
        run.sort()
        streams = [_read(spool) for spool in spools]
        keys: Iterable[str] = run
        if streams:
            import heapq  # noqa: PLC0415 (only spilled listings merge: keep start-up short)

            keys = heapq.merge(iter(run), *streams)
        for key in keys:
            yield line_of_key(key)
    finally:
        for spool in spools:
            spool.close()
