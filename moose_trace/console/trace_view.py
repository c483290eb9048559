"""The trace served to the waterfall: spans nested by parent, their events, and the gaps.

STOP-GAP: the trace tree model belongs to the query layer (shared with the terminal's
``--trace`` view, issue 15). Until it lands, ``minimal_trace_tree`` builds the least the
waterfall needs from a trace's events; it is the one function to replace.

A span is the events sharing a ``span_id``; its completion line (the one with ``latency_ms``)
gives its duration, ending at that line's timestamp. Events without a ``span_id`` hang under a
span of their own per service and primitive. A gap is a stretch of the trace's time in which no
span was running.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moose_trace.query.normalize import number_of, timestamp_us, value_text
from moose_trace.query.results import ERROR_LEVELS

__all__ = ["minimal_trace_tree"]

_SPAN_FIELDS = ("name", "type", "layer", "service")


def _text(event: dict[str, Any], key: str) -> str | None:
    return value_text(event.get(key))


def _span_key(event: dict[str, Any]) -> str:
    span_id = _text(event, "span_id")
    if span_id:
        return span_id
    parts = [_text(event, key) or "" for key in ("service", "type", "name")]
    return "~" + "/".join(parts)


def _failed(event: dict[str, Any]) -> bool:
    status = (_text(event, "status") or "").lower()
    return event.get("level") in ERROR_LEVELS or status in ("failed", "error")


def _span(key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    times = [stamp for event in events if (stamp := timestamp_us(_text(event, "timestamp")))]
    completion = next(
        (event for event in reversed(events) if number_of(_text(event, "latency_ms")) is not None),
        None,
    )
    described = completion or events[0]
    start = min(times) if times else None
    end = max(times) if times else None
    duration = None
    if completion is not None:
        duration = number_of(_text(completion, "latency_ms"))
        finished = timestamp_us(_text(completion, "timestamp"))
        if duration is not None and finished is not None:
            start = min(start if start is not None else finished, finished - round(duration * 1000))
            end = max(end or finished, finished)
    elif start is not None and end is not None:
        duration = (end - start) / 1000
    parent = next((value for event in events if (value := _text(event, "parent_span_id"))), None)
    return {
        "span_id": key,
        "parent_span_id": parent,
        **{field: _text(described, field) for field in _SPAN_FIELDS},
        "start_us": start,
        "end_us": end,
        "duration_ms": duration,
        "status": "error" if any(_failed(event) for event in events) else "ok",
        "events": events,
    }


def _start_order(span: dict[str, Any]) -> tuple[bool, int, str]:
    return span["start_us"] is None, span["start_us"] or 0, span["span_id"]


def _gaps(spans: Sequence[dict[str, Any]]) -> list[dict[str, int]]:
    intervals = sorted(
        (span["start_us"], span["end_us"])
        for span in spans
        if span["start_us"] is not None and span["end_us"] is not None
    )
    gaps: list[dict[str, int]] = []
    covered_to: int | None = None
    for start, end in intervals:
        if covered_to is not None and start > covered_to:
            gaps.append({"start_us": covered_to, "end_us": start})
        covered_to = end if covered_to is None else max(covered_to, end)
    return gaps


def minimal_trace_tree(trace_id: str, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return the trace of ``events`` (one trace's, oldest first) as the waterfall reads it.

    ``spans`` come in depth-first order, parents before children, siblings by start, each with
    its ``depth``; a span whose parent is not in the trace is a root.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(_span_key(event), []).append(event)
    spans = {key: _span(key, members) for key, members in grouped.items()}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans.values():
        parent = span["parent_span_id"]
        children.setdefault(parent if parent in spans else None, []).append(span)
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(level: list[dict[str, Any]], depth: int) -> None:
        for span in sorted(level, key=_start_order):
            if span["span_id"] in seen:
                continue
            seen.add(span["span_id"])
            ordered.append({**span, "depth": depth})
            visit(children.get(span["span_id"], []), depth + 1)

    visit(children.get(None, []), 0)
    # Spans whose parents form a cycle have no root: shown as roots rather than lost.
    visit([span for key, span in spans.items() if key not in seen], 0)
    starts = [span["start_us"] for span in ordered if span["start_us"] is not None]
    ends = [span["end_us"] for span in ordered if span["end_us"] is not None]
    return {
        "trace_id": trace_id,
        "start_us": min(starts) if starts else None,
        "end_us": max(ends) if ends else None,
        "span_count": len(ordered),
        "event_count": len(events),
        "spans": ordered,
        "gaps": _gaps(ordered),
    }
