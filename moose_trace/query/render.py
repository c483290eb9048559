"""Writes a result in the chosen format: ``text`` for people, ``json`` and ``csv`` for tools.

``json`` writes JSON Lines: each matching event with all its fields; with ``--group-by`` one
object per group (the group fields and ``count``); with ``--histogram`` / ``--compare`` /
``--errors`` one object per bucket / window / error group. ``csv`` writes the same rows with a
header row — for events, the union of every event's fields (US-4's audit export).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Literal, TextIO

from moose_trace._record import record
from moose_trace._text import terminal_safe
from moose_trace.query.codec import dumps_text
from moose_trace.query.compact import CompactLines
from moose_trace.query.event_text import TextOptions, event_lines
from moose_trace.query.normalize import us_datetime, value_text
from moose_trace.query.results import (
    ComparisonResult,
    ErrorGroupsResult,
    EventsResult,
    GroupsResult,
    HistogramResult,
    OperationStats,
    Result,
    StatsResult,
    WindowStats,
)
from moose_trace.query.summary_text import (
    period_text,
    text_comparison,
    text_error_groups,
    text_groups,
    text_histogram,
)

__all__ = [
    "CSV_LEADING_COLUMNS",
    "Format",
    "RenderOptions",
    "event_text",
    "render",
    "stats_row",
    "write_event",
]

Format = Literal["text", "json", "csv"]

CSV_LEADING_COLUMNS = (
    "timestamp",
    "level",
    "service",
    "type",
    "name",
    "layer",
    "event",
    "trace_id",
    "request_id",
    "principal",
    "auth",
    "client_ip",
    "http_method",
    "http_path",
    "http_status",
    "security",
)
"""Columns an event CSV starts with (those any event has); the rest follow as first seen."""

_SPOOL_BYTES = 16 * 1024 * 1024


@record
class RenderOptions:
    """How to write a result."""

    format: Format = "text"
    text: TextOptions = TextOptions()
    title: str = "Events"
    """What the query asked, for the headings of summaries (e.g. ``level=error, since 1h``)."""
    span: tuple[int | None, int | None] = (None, None)
    """The query's time range in epoch microseconds, so a histogram shows empty ends."""
    compact: CompactLines | None = None
    """Events as screen-wide lines (a terminal, no ``--wide``); ``None``: every line whole."""


def render(result: Result, out: TextIO, options: RenderOptions) -> int:
    """Write ``result`` to ``out``; return how many events (or rows) it held."""
    if isinstance(result, EventsResult):
        return _events(result.events, out, options)
    rows = _rows(result, options.span)
    if options.format == "json":
        for row in rows:
            out.write(dumps_text(row) + "\n")
        return len(rows)
    if options.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        header = list(rows[0]) if rows else _empty_header(result)
        writer.writerow(header)
        writer.writerows([_cell(row.get(column)) for column in header] for row in rows)
        return len(rows)
    style = options.text.style
    title = terminal_safe(options.title)
    if isinstance(result, GroupsResult):
        fields = terminal_safe(", ".join(result.fields))
        lines = text_groups(result, f"Events by {fields} ({title})", style)
    elif isinstance(result, HistogramResult):
        chart = result.chart(options.span)
        period = period_text(chart.step_us)
        lines = text_histogram(result, chart, f"Events per {period} ({title})", style)
    elif isinstance(result, ComparisonResult):
        lines = text_comparison(result, title, style)
    elif isinstance(result, StatsResult):
        lines = [f"Operation stats ({title})", *(terminal_safe(_stats_line(row)) for row in rows)]
    else:
        lines = text_error_groups(result, f"Error groups ({title})", style)
    out.write("\n".join(lines).rstrip("\n") + "\n")
    return len(rows)


def write_event(event: dict[str, Any], out: TextIO, options: RenderOptions) -> None:
    """Write one event as a JSON line or as text (``--follow`` writes events one at a time)."""
    out.write(event_text(event, options))


def event_text(event: dict[str, Any], options: RenderOptions) -> str:
    """Return what ``write_event`` writes for one event (its lines, each ending in a newline)."""
    if options.format == "json":
        return dumps_text(event) + "\n"
    if options.compact is not None:
        return "\n".join(options.compact.lines(event)) + "\n"
    return "\n".join(event_lines(event, options.text)) + "\n"


def _events(events: Iterable[dict[str, Any]], out: TextIO, options: RenderOptions) -> int:
    if options.format == "csv":
        return _events_csv(events, out)
    count = 0
    for event in events:
        count += 1
        write_event(event, out, options)
    return count


def _events_csv(events: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write events as CSV: spooled first, since the header needs every event's keys."""
    import tempfile  # noqa: PLC0415 (only csv needs it: keep --trace's start-up short)

    import orjson  # noqa: PLC0415 (a bulk round trip: see moose_trace.query.codec)

    columns: dict[str, None] = {}
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        for event in events:
            columns.update(dict.fromkeys(event))
            spool.write(orjson.dumps(event) + b"\n")
            count += 1
        header = [column for column in CSV_LEADING_COLUMNS if column in columns]
        header += [column for column in columns if column not in header]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        spool.seek(0)
        for line in spool:
            event = orjson.loads(line)
            writer.writerow([_cell(event.get(column)) for column in header])
    return count


def _cell(value: object) -> str:
    return value_text(value) or ""


def _iso(micros: int | None) -> str | None:
    if micros is None:
        return None
    return us_datetime(micros).isoformat().replace("+00:00", "Z")


def _rows(result: Result, span: tuple[int | None, int | None]) -> list[dict[str, Any]]:
    """Return an aggregate result as flat rows (one per group, bucket, window, error group).

    Histogram rows include the empty buckets (count 0) across ``span``, as the chart does.
    """
    if isinstance(result, GroupsResult):
        return [
            {**dict(zip(result.fields, group.key, strict=True)), "count": group.count}
            for group in result.groups
        ]
    if isinstance(result, HistogramResult):
        chart = result.chart(span)
        return [
            {
                "start": _iso(bucket.start_us),
                "end": _iso(bucket.start_us + chart.step_us),
                "count": bucket.count,
            }
            for bucket in chart.buckets
        ]
    if isinstance(result, ComparisonResult):
        return [_window_row(stats, result) for stats in result.windows]
    if isinstance(result, StatsResult):
        return [
            {**dict.fromkeys(result.by, "(all)"), **stats_row(result.total)},
            *(
                {**dict(zip(result.by, group.key, strict=True)), **stats_row(group)}
                for group in result.groups
            ),
        ]
    assert isinstance(result, ErrorGroupsResult)
    return [
        {
            "error_signature": group.signature,
            "count": group.count,
            "first_seen": _iso(group.first_us),
            "last_seen": _iso(group.last_us),
            "error_category": group.category,
            "layer": group.layer,
            "error_type": group.error_type,
            "example": group.example,
            "trace_id": group.trace_id,
        }
        for group in result.groups
    ]


def stats_row(stats: OperationStats) -> dict[str, Any]:
    """Return one group's operation stats as a flat row (the console's JSON shape too)."""
    return {
        "count": stats.count,
        "errors": stats.errors,
        "success_rate": stats.success_rate,
        "timed": stats.latency_count,
        "avg_latency_ms": stats.latency_avg,
        "p50_latency_ms": stats.latency_p50,
        "p95_latency_ms": stats.latency_p95,
        "p99_latency_ms": stats.latency_p99,
    }


def _stats_line(row: dict[str, Any]) -> str:
    return "  ".join(
        f"{key}={'-' if value is None else f'{value:.4g}' if isinstance(value, float) else value}"
        for key, value in row.items()
    )


_WINDOW_METRICS = {
    "latency_avg_ms": "latency_avg",
    "latency_p50_ms": "latency_p50",
    "latency_p95_ms": "latency_p95",
    "latency_p99_ms": "latency_p99",
    "throughput": "throughput",
    "error_rate": "error_rate",
}


def _window_row(stats: WindowStats, result: ComparisonResult) -> dict[str, Any]:
    """Return one window's statistics and their change in % against the first window."""
    base = result.windows[0]
    row: dict[str, Any] = {
        "window": stats.window.label,
        "start": stats.window.start.isoformat().replace("+00:00", "Z"),
        "end": stats.window.end.isoformat().replace("+00:00", "Z"),
        "count": stats.count,
        "errors": stats.errors,
        "latency_count": stats.latency_count,
    }
    for column, attribute in _WINDOW_METRICS.items():
        value, before = getattr(stats, attribute), getattr(base, attribute)
        row[column] = value
        changed = stats is not base and value is not None and before
        row[f"{column}_change_pct"] = (
            round((value - before) / abs(before) * 100, 1) if changed else None
        )
    return row


def _empty_header(result: Result) -> list[str]:
    if isinstance(result, GroupsResult):
        return [*result.fields, "count"]
    if isinstance(result, HistogramResult):
        return ["start", "end", "count"]
    if isinstance(result, ErrorGroupsResult):
        return ["error_signature", "count", "first_seen", "last_seen", "error_category", "layer"]
    if isinstance(result, StatsResult):
        return [*result.by, *stats_row(result.total)]
    return ["window", "count"]
