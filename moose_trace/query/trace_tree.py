"""The trace model: one trace's events as a tree of spans, for the terminal and the console.

``build_trace_tree(trace_id, events)`` groups the events by ``span_id`` into spans. A span's
completion line (the event with ``latency_ms``, as every traced unit writes it) gives its
name, kind, status and duration, and its start (end minus duration); a span with no such line
lasts from its first event to its last. Spans nest by ``parent_span_id``; then:

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
``TraceTree.outcome`` says where the record's journey ended: its tables, or the last layer it
reached and what stopped it (an error, a dead-letter topic, or silence). ``to_dict()`` is the
JSON form (``--format json``, the console's ``GET /api/traces/{id}``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from moose_trace._record import record
from moose_trace.logging.levels import ERROR_LEVELS
from moose_trace.query.normalize import (
    level_text,
    number_of,
    timestamp_us,
    trace_hex,
    us_datetime,
    value_text,
)

__all__ = ["JourneyOutcome", "TraceSpan", "TraceTree", "build_trace_tree"]

_PRODUCE_EVENTS = frozenset(
    {
        "kafka message delivered",
        "kafka delivery failed",
        "dead-letter record delivered",
        "dead-letter delivery failed",
    }
)
_ERROR_LEVELS = frozenset(ERROR_LEVELS)
_FAILED_STATUSES = frozenset({"failed", "error", "timeout"})
_DURATION_FIELDS = ("latency_ms", "duration_ms")
_TABLE_TYPES = frozenset({"olap_table", "sync"})


class TraceSpan:
    """One unit of work in a trace: its identity, timing, outcome, log events and children."""

    __slots__ = (
        "batch",
        "children",
        "critical",
        "depth",
        "duration_us",
        "error_category",
        "error_message",
        "events",
        "gap_us",
        "kafka",
        "layer",
        "name",
        "orphan",
        "parent_span_id",
        "service",
        "span_id",
        "start_us",
        "status",
        "trace_id",
        "type",
    )

    def __init__(self, span_id: str | None, events: list[dict[str, Any]]) -> None:
        self.span_id = span_id
        self.events = events
        self.children: list[TraceSpan] = []
        self.depth = 0
        self.gap_us: int | None = None
        self.critical = False
        self.orphan = False
        self.batch = False
        main = _completion(events)
        self.trace_id = value_text(main.get("trace_id"))
        self.parent_span_id = next(
            (text for event in events if (text := value_text(event.get("parent_span_id")))),
            None,
        )
        self.type = value_text(main.get("type"))
        self.layer = value_text(main.get("layer"))
        self.service = value_text(main.get("service"))
        self.name = _span_name(main)
        self.kafka = _kafka_coordinates(main)
        times = [micros for event in events if (micros := _micros(event)) is not None]
        duration_ms = _duration_ms(main)
        end = _micros(main)
        if duration_ms is not None and end is not None:
            self.duration_us: int | None = round(duration_ms * 1000)
            self.start_us: int | None = end - self.duration_us
        elif times:
            self.start_us = min(times)
            self.duration_us = max(times) - self.start_us
        else:
            self.start_us = self.duration_us = None
        failure = next((event for event in events if _is_failure(event)), None)
        self.status = "error" if failure is not None else "ok"
        source = failure if failure is not None else main
        self.error_category = value_text(source.get("error_category"))
        self.error_message = (
            None
            if failure is None
            else value_text(failure.get("error_message")) or value_text(failure.get("event"))
        )

    @property
    def end_us(self) -> int | None:
        """When the span ended (epoch microseconds), if its start is known."""
        if self.start_us is None:
            return None
        return self.start_us + (self.duration_us or 0)

    @property
    def is_produce(self) -> bool:
        """Whether this span is the produce of a Kafka record (its delivery report)."""
        return any(value_text(event.get("event")) in _PRODUCE_EVENTS for event in self.events) or (
            value_text(self.events[0].get("operation")) == "produce"
        )

    def walk(self) -> Iterator[TraceSpan]:
        """Yield this span and its descendants, depth first, in display order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        """Return the span and its subtree as JSON-ready values."""
        return {
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "trace_id": self.trace_id,
            "name": self.name,
            "type": self.type,
            "layer": self.layer,
            "service": self.service,
            "start": _iso(self.start_us),
            "duration_ms": _ms(self.duration_us),
            "gap_ms": _ms(self.gap_us),
            "depth": self.depth,
            "status": self.status,
            "error_category": self.error_category,
            "error_message": self.error_message,
            "critical": self.critical,
            "orphan": self.orphan,
            "batch": self.batch,
            "events": self.events,
            "children": [child.to_dict() for child in self.children],
        }

    def __repr__(self) -> str:
        return f"TraceSpan({self.span_id!r}, {self.name!r}, children={len(self.children)})"


@record
class JourneyOutcome:
    """Where a record's journey ended: the US-1 question in one line."""

    reached: tuple[str, ...] = ()
    """Tables a batch carrying the record was inserted into."""
    stopped_layer: str | None = None
    """The layer of the span that failed (or, for silence, the last layer seen)."""
    stopped_at: str | None = None
    """The name of that span."""
    error_category: str | None = None
    error_message: str | None = None
    dlq: str | None = None
    """The dead-letter topic the record was sent to, if any."""
    silent: bool = False
    """No error and no table: the trace just stops after ``stopped_at``."""

    def summary(self) -> str:
        """Return the outcome as one sentence (the tree's second header line)."""
        parts: list[str] = []
        if self.stopped_at is not None and not self.silent:
            what = self.error_category or "error"
            where = f"{self.stopped_layer} · " if self.stopped_layer else ""
            text = f"✗ stopped at {where}{self.stopped_at}: {what}"
            if self.dlq:
                text += f", sent to dead-letter topic {self.dlq}"
            parts.append(text)
        if self.reached:
            parts.append(
                f"✓ reached table{'s' if len(self.reached) > 1 else ''} " + ", ".join(self.reached)
            )
        if self.silent:
            where = f"{self.stopped_layer} · " if self.stopped_layer else ""
            parts.append(
                f"… last seen at {where}{self.stopped_at}: no error, no table, nothing after"
            )
        return "; ".join(parts) if parts else "no events"

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome as JSON-ready values, with its ``summary`` sentence."""
        return {
            "summary": self.summary(),
            "reached_tables": list(self.reached),
            "stopped_layer": self.stopped_layer,
            "stopped_at": self.stopped_at,
            "error_category": self.error_category,
            "error_message": self.error_message,
            "dlq": self.dlq,
            "silent": self.silent,
        }


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
            "start": _iso(self.start_us),
            "duration_ms": _ms(self.duration_us),
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
    ordered = sorted((dict(event) for event in events), key=lambda e: _micros(e) or 0)
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
    return TraceTree(_canonical(wanted), roots, _outcome(spans, linked))


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
    top.sort(key=_start_key)
    if top and orphans:
        top[0].children.extend(orphans)
    else:
        top.extend(orphans)
    return sorted(top, key=_start_key)


def _finish(span: TraceSpan, depth: int) -> None:
    """Order children by start, set depths and gaps, recursively.

    A child's gap is the wait before it began: since its previous siblings ended, or, for a
    child that began after its parent ended (a record waiting in a topic), since that end. The
    first child of a parent still running has no gap (it is part of the parent's own time).
    """
    span.depth = depth
    span.children.sort(key=_start_key)
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


def _outcome(spans: list[TraceSpan], linked: list[TraceSpan]) -> JourneyOutcome:
    everything = sorted([*spans, *linked], key=_start_key)
    if not everything:
        return JourneyOutcome()
    reached = tuple(
        dict.fromkeys(
            table
            for span in everything
            if span.status == "ok" and (table := _table(span)) is not None
        )
    )
    failure = next((span for span in reversed(everything) if span.status == "error"), None)
    dlq = next(
        (
            text
            for span in everything
            for event in span.events
            if (text := value_text(event.get("dlq"))) and text.lower() not in ("true", "false")
        ),
        None,
    )
    if failure is not None:
        return JourneyOutcome(
            reached,
            failure.layer,
            failure.name,
            failure.error_category,
            failure.error_message,
            dlq,
        )
    if reached:
        return JourneyOutcome(reached)
    last = max(everything, key=lambda span: span.end_us or 0)
    return JourneyOutcome((), last.layer, last.name, silent=True)


def _table(span: TraceSpan) -> str | None:
    """The table a successful insert span wrote to (None: not an insert)."""
    main = _completion(span.events)
    operation = value_text(main.get("operation"))
    if operation not in ("batch_insert", "insert") and span.type not in _TABLE_TYPES:
        return None
    if span.layer not in ("sync", "storage") or value_text(main.get("status")) != "success":
        return None
    return value_text(main.get("table")) or value_text(main.get("name"))


def _carries(event: Mapping[str, Any], wanted: str) -> bool:
    listed = event.get("trace_ids")
    if not isinstance(listed, list):
        return False
    return any(isinstance(item, str) and trace_hex(item) == wanted for item in listed)


def _completion(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The span's completion line: the last event with a duration, else its first event."""
    timed = [event for event in events if _duration_ms(event) is not None]
    return timed[-1] if timed else events[0]


def _duration_ms(event: Mapping[str, Any]) -> float | None:
    for key in _DURATION_FIELDS:
        value = event.get(key)
        number = value if isinstance(value, (int, float)) else number_of(value_text(value))
        if number is not None and not isinstance(number, bool) and number >= 0:
            return float(number)
    return None


def _is_failure(event: Mapping[str, Any]) -> bool:
    if level_text(value_text(event.get("level"))) in _ERROR_LEVELS:
        return True
    if value_text(event.get("status")) in _FAILED_STATUSES:
        return True
    status = number_of(value_text(event.get("http_status")))
    return status is not None and status >= 500


def _span_name(event: Mapping[str, Any]) -> str:
    """What a span did, as a trace viewer names it: ``POST /ingest/X``, ``kafka produce T``."""
    text = {key: value_text(event.get(key)) for key in ("http_method", "http_path", "event")}
    if value_text(event.get("http_status")) and text["http_method"] and text["http_path"]:
        return f"{text['http_method']} {text['http_path']}"
    topic = value_text(event.get("kafka_topic"))
    if text["event"] in _PRODUCE_EVENTS:
        dlq = value_text(event.get("dlq"))
        if dlq:
            return f"dead-letter produce {dlq}"
        return f"kafka produce {topic or '?'}"
    kind = value_text(event.get("operation")) or value_text(event.get("type"))
    name = value_text(event.get("name"))
    if kind and name:
        return f"{kind} {name}"
    return name or kind or text["event"] or "?"


def _kafka_coordinates(event: Mapping[str, Any]) -> tuple[str, str, str] | None:
    values = [
        value_text(event.get(key)) for key in ("kafka_topic", "kafka_partition", "kafka_offset")
    ]
    if any(value is None for value in values):
        return None
    topic, partition, offset = values
    assert topic is not None
    assert partition is not None
    assert offset is not None
    return topic, partition, offset


def _topic(span: TraceSpan) -> str | None:
    return value_text(_completion(span.events).get("kafka_topic"))


def _micros(event: Mapping[str, Any]) -> int | None:
    return timestamp_us(value_text(event.get("timestamp")))


def _start_key(span: TraceSpan) -> tuple[int, str]:
    return (span.start_us if span.start_us is not None else 0, span.span_id or "")


def _ms(micros: int | None) -> float | None:
    return None if micros is None else round(micros / 1000, 3)


def _iso(micros: int | None) -> str | None:
    if micros is None:
        return None
    return us_datetime(micros).isoformat().replace("+00:00", "Z")


def _canonical(hex32: str) -> str:
    if len(hex32) != 32:
        return hex32
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
