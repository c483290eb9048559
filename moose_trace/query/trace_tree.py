"""The trace model: one trace's events as a tree of spans, for the terminal and the console.

``build_trace_tree(trace_id, events)`` groups the events by ``span_id`` into spans (each read
from its events: ``trace_span``). Spans nest by ``parent_span_id``; then:

- a consumer of a Kafka record (an event with the record's ``kafka_topic``,
  ``kafka_partition`` and ``kafka_offset``) goes under the span that produced that record
  (its delivery line has the same coordinates), since the record's ``traceparent`` names the
  producing code's span, not the produce itself;
- a batch line of another trace that lists this one in ``trace_ids`` (the sync that inserted
  the record) is a span of this tree too, marked ``batch``, under the produce span of its topic;
- a span whose parent never logged (the Rust side, a crashed process) is an ``orphan``, shown
  under the root;
- events without a ``span_id`` (other writers) become one span per service and name.

Children are ordered by start; ``gap_us`` is the wait before a span began: since its earlier
siblings ended, or since its parent ended when it began after that (a record in a topic).
The critical path (the chain of last-ending children from the root) is marked.
``TraceTree.outcome`` says where the record's journey ended (``journey``): its tables, or the
last layer it reached and what stopped it (an error, a dead-letter topic, or silence).
``to_dict()`` is the JSON form (``--format json``, the console's ``GET /api/traces/{id}``).
"""

from __future__ import annotations

from moose_trace.query.journey import JourneyOutcome, journey_outcome
from moose_trace.query.normalize import trace_hex, value_text
from moose_trace.query.trace_span import (
    TraceSpan,
    completion_event,
    event_micros,
    micros_as_iso,
    micros_as_ms,
    start_order,
)

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

__all__ = ["JourneyOutcome", "TraceSpan", "TraceTree", "build_trace_tree"]


class TraceTree:
    """One trace as spans: ``roots`` (normally one), counts, duration, errors and outcome."""

    __slots__ = ("outcome", "roots", "trace_id")

    def __init__(self, trace_id: str, roots: list[TraceSpan], outcome: JourneyOutcome) -> None:
        self.trace_id = trace_id
        self.roots = roots
        self.outcome = outcome

    def spans(self) -> list[TraceSpan]:
        """Every span, depth first in display order."""
        return [span for root in self.roots for span in root.walk()]

    @property
    def services(self) -> list[str]:
        """The services that logged in this trace, in order of first appearance."""
        return list(dict.fromkeys(span.service for span in self.spans() if span.service))

    @property
    def start_us(self) -> int | None:
        """When the earliest span started."""
        starts = [span.start_us for span in self.spans() if span.start_us is not None]
        return min(starts) if starts else None

    @property
    def end_us(self) -> int | None:
        """When the latest span ended."""
        ends = [end for span in self.spans() if (end := span.end_us) is not None]
        return max(ends) if ends else None

    @property
    def duration_us(self) -> int | None:
        """From the first span's start to the last span's end."""
        start, end = self.start_us, self.end_us
        return None if start is None or end is None else end - start

    @property
    def errors(self) -> int:
        """How many spans failed."""
        return sum(span.status == "error" for span in self.spans())

    def slowest(self) -> TraceSpan | None:
        """The longest span below the roots (the root spans the whole trace), if any."""
        below = [span for span in self.spans() if span.depth > 0 and span.duration_us]
        candidates = below or [span for span in self.spans() if span.duration_us]
        return max(candidates, key=lambda span: span.duration_us or 0, default=None)

    def to_dict(self) -> dict[str, Any]:
        """Return the tree as JSON-ready values: header facts, outcome and nested spans."""
        spans = self.spans()
        return {
            "trace_id": self.trace_id,
            "services": self.services,
            "span_count": len(spans),
            "start": micros_as_iso(self.start_us),
            "duration_ms": micros_as_ms(self.duration_us),
            "errors": self.errors,
            "outcome": self.outcome.to_dict(),
            "spans": [root.to_dict() for root in self.roots],
        }


def build_trace_tree(trace_id: str, events: Iterable[Mapping[str, Any]]) -> TraceTree:
    """Return the tree of trace ``trace_id`` (any accepted spelling) from its events.

    ``events`` are the trace's events as the query engines return them (with the batch lines
    whose ``trace_ids`` list the trace); events of other traces are ignored.
    """
    wanted = trace_hex(trace_id)
    own: dict[str | None, list[dict[str, Any]]] = {}
    batches: dict[tuple[str | None, str | None], list[dict[str, Any]]] = {}
    loose: dict[tuple[str | None, str | None, str | None], list[dict[str, Any]]] = {}
    ordered = sorted((dict(event) for event in events), key=lambda e: event_micros(e) or 0)
    for event in ordered:
        event_trace = value_text(event.get("trace_id"))
        span_id = value_text(event.get("span_id"))
        if event_trace is not None and trace_hex(event_trace) == wanted:
            if span_id is None:
                key = (
                    value_text(event.get("service")),
                    value_text(event.get("type")),
                    value_text(event.get("name")),
                )
                loose.setdefault(key, []).append(event)
            else:
                own.setdefault(span_id, []).append(event)
        elif _carries(event, wanted):
            batches.setdefault((event_trace, span_id), []).append(event)
    spans = [TraceSpan(span_id, group) for span_id, group in own.items()]
    spans += [TraceSpan(None, group) for group in loose.values()]
    linked = [TraceSpan(key[1], group) for key, group in batches.items()]
    for span in linked:
        span.batch = True
    roots = _nest(spans, linked)
    for root in roots:
        _finish(root, 0)
    _mark_critical(roots)
    return TraceTree(_canonical(wanted), roots, journey_outcome(spans, linked))


def _nest(spans: list[TraceSpan], linked: list[TraceSpan]) -> list[TraceSpan]:
    by_id = {span.span_id: span for span in spans if span.span_id is not None}
    produced = {span.kafka: span for span in spans if span.kafka and span.is_produce}
    top: list[TraceSpan] = []
    orphans: list[TraceSpan] = []
    for span in spans:
        parent = None
        if span.kafka and not span.is_produce:
            parent = produced.get(span.kafka)
        if parent is None and span.parent_span_id is not None:
            parent = by_id.get(span.parent_span_id)
            if parent is None:
                span.orphan = True
                orphans.append(span)
                continue
        if parent is None or parent is span:
            top.append(span)
        else:
            parent.children.append(span)
    for batch in linked:
        topic = _topic(batch)
        producers = [
            span for span in spans if span.is_produce and span.kafka and span.kafka[0] == topic
        ]
        if producers:
            producers[-1].children.append(batch)
        else:
            top.append(batch)
    top.sort(key=start_order)
    if top and orphans:
        top[0].children.extend(orphans)
    else:
        top.extend(orphans)
    return sorted(top, key=start_order)


def _finish(span: TraceSpan, depth: int) -> None:
    """Order children by start, set depths and gaps, recursively.

    A child's gap is the wait before it began: since its previous siblings ended, or, for a
    child that began after its parent ended (a record waiting in a topic), since that end. The
    first child of a parent still running has no gap (it is part of the parent's own time).
    """
    span.depth = depth
    span.children.sort(key=start_order)
    parent_end = span.end_us
    since: int | None = None
    for child in span.children:
        start = child.start_us
        if start is not None:
            reference = since
            if parent_end is not None and start >= parent_end:
                reference = parent_end if reference is None else max(reference, parent_end)
            if reference is not None:
                child.gap_us = max(0, start - reference)
            end = child.end_us
            if end is not None:
                since = end if since is None else max(since, end)
        _finish(child, depth + 1)


def _mark_critical(roots: list[TraceSpan]) -> None:
    """Mark the chain of last-ending spans from the last-ending root."""
    current = max(roots, key=lambda span: span.end_us or 0, default=None)
    while current is not None:
        current.critical = True
        current = max(current.children, key=lambda span: span.end_us or 0, default=None)


def _carries(event: Mapping[str, Any], wanted: str) -> bool:
    listed = event.get("trace_ids")
    if not isinstance(listed, list):
        return False
    return any(isinstance(item, str) and trace_hex(item) == wanted for item in listed)


def _topic(span: TraceSpan) -> str | None:
    return value_text(completion_event(span.events).get("kafka_topic"))


def _canonical(hex32: str) -> str:
    if len(hex32) != 32:
        return hex32
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
