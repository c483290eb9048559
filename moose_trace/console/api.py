"""The console's JSON API: events, one trace, error groups, stats, histogram, export.

Each handler reads its parameters into the query AST (``moose_trace.console.params``), asks the
source's engine (``moose_trace.console.source``) off the event loop, and writes the result as
JSON. Bad parameters answer 400 with one message; an engine failure answers 5xx with a message.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from moose_trace.console.params import (
    MAX_LIMIT,
    event_filter,
    field_list,
    one_of,
    positive_int,
)
from moose_trace.console.source import ConsoleSource
from moose_trace.query.ast import (
    AllOf,
    Condition,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Match,
    Query,
    Stats,
    TimeRange,
    Value,
)
from moose_trace.query.codec import dumps
from moose_trace.query.durations import parse_duration
from moose_trace.query.exceptions import QueryError
from moose_trace.query.language import LEVELS, parse_trace
from moose_trace.query.normalize import timestamp_us, us_datetime, value_text
from moose_trace.query.render import CSV_LEADING_COLUMNS, stats_row
from moose_trace.query.results import (
    ERROR_LEVELS,
    ErrorGroupsResult,
    EventsResult,
    GroupsResult,
    HistogramResult,
    Result,
    StatsResult,
    bucket_us,
)
from moose_trace.query.trace_tree import build_trace_tree

__all__ = ["EXPORT_COLUMNS", "MAX_BUCKETS", "ConsoleApi", "json_response"]

MAX_BUCKETS = 500
"""The most time buckets one histogram holds: a finer ``interval`` is refused."""

TARGET_BUCKETS = 120
"""About how many buckets a histogram without an ``interval`` gets."""

MAX_GROUPS = 500
"""The most groups ``/api/stats`` and ``/api/errors`` list (most frequent first)."""

EXPORT_COLUMNS = (
    *CSV_LEADING_COLUMNS,
    "span_id",
    "parent_span_id",
    "status",
    "latency_ms",
    "error_category",
    "error_type",
    "error_message",
)
"""Columns of a CSV export without ``columns``: a CSV streamed row by row needs them upfront."""

_NICE_STEPS = tuple(
    timedelta(seconds=seconds)
    for seconds in (
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
        86400, 172800, 604800, 2592000,
    )
)  # fmt: skip


def json_response(body: Any, status: int = 200) -> Response:
    """Return ``body`` as a JSON response."""
    return Response(dumps(body), status_code=status, media_type="application/json")


def _iso(micros: int | None) -> str | None:
    if micros is None:
        return None
    return us_datetime(micros).isoformat().replace("+00:00", "Z")


def _encode_cursor(before_us: int, skip: int) -> str:
    return base64.urlsafe_b64encode(f"{before_us}:{skip}".encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[int, int]:
    try:
        padded = text + "=" * (-len(text) % 4)
        before, skip = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        return int(before), int(skip)
    except (ValueError, UnicodeDecodeError):
        raise QueryError(f"bad cursor {text[:40]!r}: pass next_cursor as returned") from None


def _timestamp(event: dict[str, Any]) -> int | None:
    return timestamp_us(value_text(event.get("timestamp")))


class ConsoleApi:
    """The API's handlers over one ``ConsoleSource``."""

    def __init__(self, source: ConsoleSource) -> None:
        self.source = source

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    def _completeness(self, query: Query) -> dict[str, Any]:
        """``partial``: whether the answer to ``query`` just run (in this thread) came from a
        table still loading; then also how far the load is."""
        if not self.source.answered_partial(query):
            return {"partial": False}
        loaded, total = self.source.progress()
        return {"partial": True, "loaded_bytes": loaded, "total_bytes": total}

    def _answer(self, query: Query) -> tuple[Result, dict[str, Any]]:
        """Answer ``query``, and say whether the answer is partial (``_completeness``)."""
        result = self.source.run(query)
        return result, self._completeness(query)

    async def events(self, request: Request) -> Response:
        """``GET /api/events``: one page of matching events, latest page first, oldest first
        within the page; ``next_cursor`` asks for the page before it."""
        params = request.query_params
        chosen = event_filter(params, self._now())
        limit = positive_int(params, "limit", 200, MAX_LIMIT)
        cursor = params.get("cursor")
        before, skip = _decode_cursor(cursor) if cursor else (None, 0)
        return json_response(await run_in_threadpool(self._page, chosen.where, limit, before, skip))

    def _page(self, where: Condition, limit: int, before: int | None, skip: int) -> dict[str, Any]:
        bounded = where
        if before is not None:
            bounded = AllOf((where, TimeRange(end=us_datetime(before + 1))))
        query = Query(bounded, ListEvents(limit + skip))
        result = self.source.run(query)
        completeness = self._completeness(query)
        assert isinstance(result, EventsResult)
        fetched = list(result.events)
        events = fetched[: len(fetched) - skip] if skip else fetched
        next_cursor = None
        if len(fetched) == limit + skip and events:
            oldest = _timestamp(events[0])
            if oldest is not None:
                same = sum(1 for event in events if _timestamp(event) == oldest)
                next_cursor = _encode_cursor(oldest, same + (skip if oldest == before else 0))
        return {
            "events": events,
            "next_cursor": next_cursor,
            "skipped_lines": self.source.skipped(result.skipped(), query),
            **completeness,
        }

    async def trace(self, request: Request) -> Response:
        """``GET /api/traces/{trace_id}``: the trace tree of ``moose-trace logs --trace``
        (``moose_trace.query.trace_tree``): spans nested by parent, with events and gaps."""
        text = request.path_params["trace_id"]
        condition = parse_trace(text)
        result = await run_in_threadpool(self.source.run, Query(condition, ListEvents()))
        assert isinstance(result, EventsResult)
        events = await run_in_threadpool(list, result.events)
        if not events:
            return json_response({"error": f"no events of trace {text} in the logs"}, 404)
        return json_response(build_trace_tree(text, events).to_dict())

    async def errors(self, request: Request) -> Response:
        """``GET /api/errors``: error groups by ``error_signature``, most frequent first."""
        chosen = event_filter(request.query_params, self._now())
        query = Query(chosen.where, ErrorGroups())
        result, completeness = await run_in_threadpool(self._answer, query)
        assert isinstance(result, ErrorGroupsResult)
        groups = [
            {
                "signature": group.signature,
                "count": group.count,
                "first_seen": _iso(group.first_us),
                "last_seen": _iso(group.last_us),
                "category": group.category,
                "layer": group.layer,
                "error_type": group.error_type,
                "example": group.example,
                "trace_id": group.trace_id,
            }
            for group in result.groups[:MAX_GROUPS]
        ]
        return json_response(
            {
                "groups": groups,
                "truncated": len(result.groups) > MAX_GROUPS,
                "skipped_lines": self.source.skipped(result.skipped, query),
                **completeness,
            }
        )

    async def stats(self, request: Request) -> Response:
        """``GET /api/stats``: count, success rate and latency percentiles, total and per group,
        and the errors by category (the observability ADR's operation stats)."""
        params = request.query_params
        chosen = event_filter(params, self._now())
        by = field_list(params, "by", ("type", "name"))
        body = await run_in_threadpool(self._stats, chosen.where, by)
        body["since"] = params.get("since")
        body["until"] = params.get("until")
        return json_response(body)

    def _stats(self, where: Condition, by: tuple[str, ...]) -> dict[str, Any]:
        query = Query(where, Stats(by, MAX_GROUPS))
        result = self.source.run(query)
        completeness = self._completeness(query)
        assert isinstance(result, StatsResult)
        error_levels = Match("level", tuple(Value(level) for level in ERROR_LEVELS))
        categories = self.source.run(
            Query(AllOf((where, error_levels)), GroupBy(("error_category",)))
        )
        assert isinstance(categories, GroupsResult)
        return {
            "by": list(by),
            **stats_row(result.total),
            "groups": [
                {"key": dict(zip(by, group.key, strict=True)), **stats_row(group)}
                for group in result.groups
            ],
            "truncated": result.truncated,
            "errors": [
                {"category": group.key[0], "count": group.count}
                for group in categories.groups[:MAX_GROUPS]
            ],
            "skipped_lines": self.source.skipped(result.skipped, query),
            **completeness,
        }

    async def histogram(self, request: Request) -> Response:
        """``GET /api/histogram``: counts per level per time bucket (at most ``MAX_BUCKETS``)."""
        params = request.query_params
        chosen = event_filter(params, self._now())
        text = params.get("interval")
        interval = parse_duration(text) if text else None
        body = await run_in_threadpool(self._histogram, chosen.where, chosen.span, interval)
        return json_response(body)

    def _extent(self, where: Condition, span: tuple[int | None, int | None]) -> tuple[int, int]:
        low, high = span
        if low is not None and high is None:
            high = int(self._now().timestamp() * 1_000_000)
        if low is not None and high is not None:
            return low, high
        # Where the events are, to the day, then to the minute: the chart spans them only.
        first, last = low, high
        for step in (timedelta(days=1), timedelta(minutes=1)):
            bounded = where
            if first is not None and last is not None:
                bounded = AllOf((where, TimeRange(us_datetime(first), us_datetime(last))))
            coarse = self.source.run(Query(bounded, Histogram(step)))
            assert isinstance(coarse, HistogramResult)
            if not coarse.buckets:
                return 0, 0
            first = coarse.buckets[0].start_us if low is None else low
            last = coarse.buckets[-1].start_us + coarse.step_us if high is None else high
        assert first is not None
        assert last is not None
        return first, last

    def _histogram(
        self,
        where: Condition,
        span: tuple[int | None, int | None],
        interval: timedelta | None,
    ) -> dict[str, Any]:
        """The chart over the events' extent. The extent and the counts are separate questions:
        when the logs grew in between (a load under way, lines with far-away times appended),
        the counts can reach past the extent; then it is asked again (at most twice more),
        and a chart still too wide keeps its newest ``MAX_BUCKETS`` buckets."""
        for _attempt in range(3):
            body = self._chart(where, span, interval)
            if len(body["buckets"]) <= MAX_BUCKETS:
                return body
        body["buckets"] = body["buckets"][-MAX_BUCKETS:]
        return body

    def _chart(
        self,
        where: Condition,
        span: tuple[int | None, int | None],
        interval: timedelta | None,
    ) -> dict[str, Any]:
        low, high = self._extent(where, span)
        if interval is None:
            width = max(1, high - low) / TARGET_BUCKETS
            interval = next(
                (step for step in _NICE_STEPS if bucket_us(step) >= width), _NICE_STEPS[-1]
            )
        step = bucket_us(interval)
        if (high - low) // step > MAX_BUCKETS:
            raise QueryError(
                f"bad interval {interval}: more than {MAX_BUCKETS} buckets over the time asked; "
                "ask for a wider interval or a shorter time range"
            )
        counts: dict[int, dict[str, int]] = {}
        untimed = skipped = 0
        for level in LEVELS:
            result = self.source.run(
                Query(AllOf((where, Match("level", (Value(level),)))), Histogram(interval))
            )
            assert isinstance(result, HistogramResult)
            untimed += result.untimed
            skipped = result.skipped
            for bucket in result.filled((low, high) if high > low else (None, None)):
                counts.setdefault(bucket.start_us, dict.fromkeys(LEVELS, 0))[level] = bucket.count
        completeness = self._completeness(Query(where, Histogram(interval)))
        return {
            "interval_ms": step / 1000,
            "levels": list(LEVELS),
            "buckets": [
                {"start": _iso(start), "start_us": start, "counts": counts[start]}
                for start in sorted(counts)
            ],
            "untimed": untimed,
            "skipped_lines": skipped,
            **completeness,
        }

    async def export(self, request: Request) -> Response:
        """``GET /api/export?format=csv|json``: every matching event, streamed as it is read."""
        params = request.query_params
        chosen = event_filter(params, self._now())
        kind = one_of(params, "format", ("json", "csv"), "json")
        columns = field_list(params, "columns", EXPORT_COLUMNS)
        limit = positive_int(params, "limit", 0, 10**12) or None
        result = await run_in_threadpool(self.source.run, Query(chosen.where, ListEvents(limit)))
        assert isinstance(result, EventsResult)
        events = iter(result.events)
        if kind == "json":
            body: Iterator[bytes] = (dumps(event) + b"\n" for event in events)
            media = "application/x-ndjson"
        else:
            body = _csv_rows(events, columns)
            media = "text/csv; charset=utf-8"
        filename = f"moose-trace-logs.{'jsonl' if kind == 'json' else 'csv'}"
        return StreamingResponse(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def _csv_rows(events: Iterator[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for count, event in enumerate(events):
        writer.writerow([value_text(event.get(column)) or "" for column in columns])
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
