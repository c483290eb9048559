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
from moose_trace.query.line_event import (
    BULK_AFTER,
    LineEvent,
    LineScan,
    listed_events,
    read_line,
    scan_lines,
)
from moose_trace.query.normalize import datetime_us, number_of, timestamp_us, value_text
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

# ``BULK_AFTER``, ``LineEvent`` and ``read_line`` moved to ``line_event``: still importable here.
__all__ = ["BULK_AFTER", "LineEvent", "PythonEngine", "read_line"]


class PythonEngine:
    """Answers queries over lines from ``lines()`` (called once per query)."""

    def __init__(self, lines: Callable[[], Iterable[bytes | str]]) -> None:
        self.lines = lines

    def _scan(self, query: Query) -> LineScan:
        return scan_lines(self.lines(), compile_line_predicate(query.where))

    def run(self, query: Query) -> Result:
        """Answer ``query`` by reading every line."""
        scan = self._scan(query)
        mode = query.mode
        if isinstance(mode, ListEvents):
            events = listed_events(scan.matched, mode.limit)
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
