"""The Python engine: the query AST answered line by line with the compiled predicate.

It serves where a SQL scan does not fit: ``--follow`` (new lines as they are written), the
``--trace`` lookup (only the lines the trace index points at) and small inputs. It is also the
reference the SQL engines are tested against: for every query both must give the same answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moose_trace.query.ast import (
    Comparison,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Query,
    Stats,
)
from moose_trace.query.codec import loads, loads_bulk
from moose_trace.query.normalize import (
    datetime_us,
    normalize_event,
    number_of,
    timestamp_us,
    value_text,
)
from moose_trace.query.ordering import order_key
from moose_trace.query.predicate import compile_line_predicate
from moose_trace.query.results import (
    ERROR_LEVELS,
    Bucket,
    ComparisonResult,
    ErrorGroup,
    ErrorGroupsResult,
    EventsResult,
    GroupCount,
    GroupsResult,
    HistogramResult,
    OperationStats,
    Result,
    StatsResult,
    WindowStats,
    bucket_us,
    error_signature,
    finish_throughput,
    quantile,
    sort_error_groups,
    sort_groups,
    sort_stats,
)

__all__ = ["BULK_AFTER", "LineEvent", "PythonEngine", "read_line"]


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


BULK_AFTER = 64
"""Lines the Python engine decodes with ``codec.loads`` before it switches to ``loads_bulk``
(orjson where a line's shape allows; the same answers): importing orjson costs more than a
trace's few lines take to decode, and much less than a search's thousands."""


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


class _Scan:
    __slots__ = ("matched", "skipped")

    def __init__(self) -> None:
        self.matched: list[LineEvent] = []
        self.skipped = 0


class PythonEngine:
    """Answers queries over lines from ``lines()`` (called once per query)."""

    def __init__(self, lines: Callable[[], Iterable[bytes | str]]) -> None:
        self.lines = lines

    def _scan(self, query: Query) -> _Scan:
        matches = compile_line_predicate(query.where)
        scan = _Scan()
        decode: Callable[[str], Any] = loads
        for count, line in enumerate(self.lines()):
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

    def run(self, query: Query) -> Result:
        """Answer ``query`` by reading every line."""
        scan = self._scan(query)
        mode = query.mode
        if isinstance(mode, ListEvents):
            ordered = sorted(scan.matched, key=lambda read: read.order)
            if mode.limit is not None:
                ordered = ordered[-mode.limit :] if mode.limit else []
            events = [read.event for read in ordered if read.event is not None]
            skipped = scan.skipped
            return EventsResult(events, skipped=lambda: skipped)
        events = [read.event for read in scan.matched if read.event is not None]
        if isinstance(mode, GroupBy):
            counts = Counter(
                tuple(value_text(event.get(name)) for name in mode.fields) for event in events
            )
            groups = [GroupCount(key, count) for key, count in counts.items()]
            return GroupsResult(mode.fields, sort_groups(groups), scan.skipped)
        if isinstance(mode, Histogram):
            return _histogram(events, mode, scan.skipped)
        if isinstance(mode, Comparison):
            stats = [_window_stats(events, window) for window in mode.windows]
            return ComparisonResult(stats, scan.skipped)
        if isinstance(mode, Stats):
            return _stats(events, mode, scan.skipped)
        assert isinstance(mode, ErrorGroups)
        return _error_groups(events, scan.skipped)


def _ts(event: dict[str, Any]) -> int | None:
    return timestamp_us(value_text(event.get("timestamp")))


def _histogram(events: list[dict[str, Any]], mode: Histogram, skipped: int) -> HistogramResult:
    step = bucket_us(mode.interval)
    counts: Counter[int] = Counter()
    untimed = 0
    for event in events:
        moment = _ts(event)
        if moment is None:
            untimed += 1
        else:
            counts[moment // step * step] += 1
    buckets = [Bucket(start, count) for start, count in sorted(counts.items())]
    return HistogramResult(mode.interval, buckets, untimed, skipped)


def _number(event: dict[str, Any], key: str) -> float | None:
    return number_of(value_text(event.get(key)))


def _window_stats(events: list[dict[str, Any]], window: Any) -> WindowStats:
    start, end = datetime_us(window.start), datetime_us(window.end)
    inside = [
        event for event in events if (moment := _ts(event)) is not None and start <= moment < end
    ]
    latencies = sorted(
        value for event in inside if (value := _number(event, "latency_ms")) is not None
    )
    throughputs = [value for event in inside if (value := _number(event, "throughput")) is not None]
    units = 0.0
    for event in inside:
        if _number(event, "latency_ms") is not None:
            size = _number(event, "batch_size")
            size = _number(event, "records") if size is None else size
            units += 1.0 if size is None else size
    errors = sum(1 for event in inside if event.get("level") in ERROR_LEVELS)
    return WindowStats(
        window,
        len(inside),
        errors,
        len(latencies),
        sum(latencies) / len(latencies) if latencies else None,
        quantile(latencies, 0.5),
        quantile(latencies, 0.95),
        quantile(latencies, 0.99),
        finish_throughput(
            sum(throughputs) / len(throughputs) if throughputs else None,
            units if latencies else None,
            window,
        ),
    )


def _operation_stats(key: tuple[str | None, ...], events: list[dict[str, Any]]) -> OperationStats:
    latencies = sorted(
        value for event in events if (value := _number(event, "latency_ms")) is not None
    )
    return OperationStats(
        key,
        len(events),
        sum(1 for event in events if event.get("level") in ERROR_LEVELS),
        len(latencies),
        sum(latencies) / len(latencies) if latencies else None,
        quantile(latencies, 0.5),
        quantile(latencies, 0.95),
        quantile(latencies, 0.99),
    )


def _stats(events: list[dict[str, Any]], mode: Stats, skipped: int) -> StatsResult:
    grouped: dict[tuple[str | None, ...], list[dict[str, Any]]] = {}
    for event in events:
        key = tuple(value_text(event.get(name)) for name in mode.by)
        grouped.setdefault(key, []).append(event)
    groups = sort_stats([_operation_stats(key, members) for key, members in grouped.items()])
    return StatsResult(
        mode.by,
        _operation_stats((), events),
        groups[: mode.limit],
        len(groups) > mode.limit,
        skipped,
    )


def _latest(
    events: list[dict[str, Any]], value: Callable[[dict[str, Any]], str | None]
) -> str | None:
    """Return ``value`` of the latest event that has both a timestamp and a value (arg_max)."""
    best: tuple[int, str] | None = None
    for event in events:
        moment, text = _ts(event), value(event)
        if moment is not None and text is not None and (best is None or moment > best[0]):
            best = (moment, text)
    return None if best is None else best[1]


def _field_of(key: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda event: value_text(event.get(key))


def _example(event: dict[str, Any]) -> str | None:
    message = value_text(event.get("error_message"))
    return value_text(event.get("event")) if message is None else message


def _error_groups(events: list[dict[str, Any]], skipped: int) -> ErrorGroupsResult:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        text = {key: value_text(event.get(key)) for key in ("level", "error_signature")}
        if text["level"] not in ERROR_LEVELS and text["error_signature"] is None:
            continue
        signature = error_signature(
            text["error_signature"],
            value_text(event.get("error_type")),
            value_text(event.get("error_message")),
            value_text(event.get("event")),
        )
        if signature is not None:
            grouped.setdefault(signature, []).append(event)
    groups = []
    for signature, members in grouped.items():
        times = [moment for event in members if (moment := _ts(event)) is not None]
        groups.append(
            ErrorGroup(
                signature,
                len(members),
                min(times) if times else None,
                max(times) if times else None,
                _latest(members, _field_of("error_category")),
                _latest(members, _field_of("layer")),
                _latest(members, _field_of("error_type")),
                _latest(members, _example),
                _latest(members, _field_of("trace_id")),
            )
        )
    return ErrorGroupsResult(sort_error_groups(groups), skipped)
