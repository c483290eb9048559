"""``TraceSpan``: one unit of work of a trace, read from the log events that share its span id.

A span's completion line (the event with ``latency_ms``, as every traced unit writes it) gives
its name, kind, status and duration, and its start (end minus duration); a span with no such
line lasts from its first event to its last. A span fails when any of its events is at error
level, has a failed status or an HTTP 5xx. The tree (``trace_tree``) sets the fields that
depend on the other spans: children, depth, gap, critical, orphan, batch.
"""

from __future__ import annotations

from moose_trace.logging.levels import ERROR_LEVELS
from moose_trace.query.normalize import (
    level_text,
    number_of,
    timestamp_us,
    us_datetime,
    value_text,
)

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

__all__ = [
    "TraceSpan",
    "completion_event",
    "event_micros",
    "micros_as_iso",
    "micros_as_ms",
    "start_order",
]

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
        main = completion_event(events)
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
        times = [micros for event in events if (micros := event_micros(event)) is not None]
        duration_ms = _duration_ms(main)
        end = event_micros(main)
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
            "start": micros_as_iso(self.start_us),
            "duration_ms": micros_as_ms(self.duration_us),
            "gap_ms": micros_as_ms(self.gap_us),
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


def completion_event(events: list[dict[str, Any]]) -> dict[str, Any]:
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


def event_micros(event: Mapping[str, Any]) -> int | None:
    """When the event happened (epoch microseconds), if its timestamp is readable."""
    return timestamp_us(value_text(event.get("timestamp")))


def start_order(span: TraceSpan) -> tuple[int, str]:
    """The sort key of spans by start (unknown starts first, then by span id)."""
    return (span.start_us if span.start_us is not None else 0, span.span_id or "")


def micros_as_ms(micros: int | None) -> float | None:
    """Microseconds as milliseconds, rounded to the microsecond (``None`` stays)."""
    return None if micros is None else round(micros / 1000, 3)


def micros_as_iso(micros: int | None) -> str | None:
    """Epoch microseconds as ISO 8601 UTC with a ``Z`` (``None`` stays)."""
    if micros is None:
        return None
    return us_datetime(micros).isoformat().replace("+00:00", "Z")
