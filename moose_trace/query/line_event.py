"""A log line as every engine reads it, and the scan that keeps the lines a predicate matches.

The Python engine (``python_engine``) answers any query this way; a ``--trace`` lookup answered
straight from the trace index (``commands.quick_trace``) runs the very same scan, so both give
the same events in the same order. Lean on purpose: the lookup's whole budget is a fraction of
``rg``'s, so this module loads nothing the engine's other answers need.
"""

from __future__ import annotations

from moose_trace.query.codec import loads, loads_bulk
from moose_trace.query.normalize import normalize_event, timestamp_us, value_text
from moose_trace.query.ordering import order_key

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

__all__ = ["BULK_AFTER", "LineEvent", "LineScan", "listed_events", "read_line", "scan_lines"]

BULK_AFTER = 64
"""Lines the Python engine decodes with ``codec.loads`` before it switches to ``loads_bulk``
(orjson where a line's shape allows; the same answers): importing orjson costs more than a
trace's few lines take to decode, and much less than a search's thousands."""


class LineEvent:
    """One log line read: its text and its normalized event (``None``: not an event)."""

    __slots__ = ("event", "text")

    def __init__(self, text: str, event: dict[str, Any] | None) -> None:
        self.text = text
        self.event = event

    def __repr__(self) -> str:
        return f"LineEvent(text={self.text!r}, event={self.event!r})"

    @property
    def order(self) -> str:
        """Return the sort key of event listings (``ordering.order_key``)."""
        moment = timestamp_us(value_text(self.event.get("timestamp"))) if self.event else None
        return order_key(moment, self.text)


def read_line(line: bytes | str, decode: Callable[[str], Any] = loads) -> LineEvent | None:
    """Return a line as read by the engines; ``None`` for a blank line (neither event nor bad).

    ``decode`` reads the JSON: ``codec.loads`` or ``codec.loads_bulk`` (the same answers).
    """
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    if not text:
        return None
    try:
        parsed = decode(text)
    except ValueError:
        return LineEvent(text, None)
    return LineEvent(text, normalize_event(parsed))


class LineScan:
    """What a scan kept: the matching lines, and how many lines were not events."""

    __slots__ = ("matched", "skipped")

    def __init__(self) -> None:
        self.matched: list[LineEvent] = []
        self.skipped = 0


def scan_lines(
    lines: Iterable[bytes | str], matches: Callable[[dict[str, Any], str], bool]
) -> LineScan:
    """Read ``lines``; keep the events ``matches(event, text)`` accepts, count the non-events."""
    scan = LineScan()
    decode: Callable[[str], Any] = loads
    for count, line in enumerate(lines):
        if count == BULK_AFTER:
            decode = loads_bulk
        read = read_line(line, decode)
        if read is None:
            continue
        if read.event is None:
            scan.skipped += 1
        elif matches(read.event, read.text):
            scan.matched.append(read)
    return scan


def listed_events(matched: list[LineEvent], limit: int | None = None) -> list[dict[str, Any]]:
    """Return the events of ``matched`` in listing order (time, then text), the latest
    ``limit`` of them when given."""
    ordered = sorted(matched, key=lambda read: read.order)
    if limit is not None:
        ordered = ordered[-limit:] if limit else []
    return [read.event for read in ordered if read.event is not None]
