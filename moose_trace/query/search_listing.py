"""A ``--search`` listing written on both cores: each process writes the events it finds.

When many lines match, reading and writing them costs more than finding them (a JSON parse and
a text layout per event, against a SIMD scan). So for a search that lists events over files
(text without the terminal's compact lines, or JSON Lines), the Python
engine's steps run inside the byte scan (``search_lines``'s ``finish``): read the line, check
the whole query, take its listing order key and write the event — in this process and in the
forked worker alike, each on its own core. The texts come back with their keys and are put in
listing order here. The answer is the Python engine's, written by ``render`` (a test compares
them byte for byte); only the work is shared.

With ``--limit N`` only the latest N events are written: the scans hand back each match's
order key alone (it holds the line), and only the N events that end the listing are laid out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from moose_trace.query.ast import ListEvents, Query
from moose_trace.query.codec import loads, loads_bulk
from moose_trace.query.ordering import line_of_key
from moose_trace.query.predicate import compile_line_predicate
from moose_trace.query.python_engine import read_line
from moose_trace.query.search import search_lines
from moose_trace.query.sources import OnUnreadable

__all__ = ["BULK_AFTER", "Listing", "search_listing"]

BULK_AFTER = 8192
"""Lines each process decodes with ``codec.loads`` before ``loads_bulk`` (orjson where a line
allows; the same answers), unless orjson is loaded already (JSON output): importing orjson
(it imports ``inspect``, ``dataclasses``, ``uuid``) costs as much CPU as decoding about this
many lines the slower way, and a search lists a few thousand events far more often."""

_NOT_AN_EVENT = b"\x00"
"""What a scan hands back for a line that holds the text but is not a JSON event (counted)."""


class Listing:
    """The written events in listing order, and how many lines found were not events."""

    __slots__ = ("skipped", "texts")

    def __init__(self, texts: list[str], skipped: int) -> None:
        self.texts = texts
        self.skipped = skipped


def search_listing(
    files: Sequence[Path],
    needles: Sequence[str],
    query: Query,
    write: Callable[[dict[str, Any]], str],
    *,
    parallel: bool = False,
    on_unreadable: OnUnreadable | None = None,
) -> Listing:
    """Return every event of ``files`` matching ``query`` (whose searches are ``needles``),
    each written by ``write``, in listing order (``ordering.order_key``)."""
    matches = compile_line_predicate(query.where)
    limit = query.mode.limit if isinstance(query.mode, ListEvents) else None
    decoded = [0]  # lines this process has decoded: each process counts its own (fork)

    def finish(line: bytes) -> bytes | None:
        decoded[0] += 1
        bulk = decoded[0] > BULK_AFTER or "orjson" in sys.modules
        read = read_line(line, loads_bulk if bulk else loads)
        if read is None:
            return None
        if read.event is None:
            return _NOT_AN_EVENT
        if not matches(read.event, read.text):
            return None
        if limit is not None:  # written later, if it is among the last ``limit``
            return read.order.encode("utf-8", "surrogatepass")
        return f"{read.order}\x00{write(read.event)}".encode("utf-8", "surrogatepass")

    keyed: list[tuple[str, str]] = []
    skipped = 0
    for item in search_lines(
        files, needles, parallel=parallel, on_unreadable=on_unreadable, finish=finish
    ):
        if item == _NOT_AN_EVENT:
            skipped += 1
            continue
        # The key is a JSON line (no NUL in it): the first NUL ends it.
        key, _, text = item.decode("utf-8", "surrogatepass").partition("\x00")
        keyed.append((key, text))
    keyed.sort()
    if limit is not None:
        return Listing([_written(key, write) for key, _ in keyed[-limit:] if limit], skipped)
    return Listing([text for _key, text in keyed], skipped)


def _written(key: str, write: Callable[[dict[str, Any]], str]) -> str:
    """Write the event whose order key is ``key`` (``ordering.order_key``: it ends in the line)."""
    read = read_line(line_of_key(key), loads)
    event = None if read is None else read.event
    assert event is not None  # the scan read this line as an event
    return write(event)
