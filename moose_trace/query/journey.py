"""``JourneyOutcome``: where a record's journey ended — its tables, or where and why it stopped.

The US-1 question in one line: the tables a successful insert carrying the record wrote to; else
the last span that failed (its layer, name, error, and the dead-letter topic if the record was
sent to one); else, when nothing failed and no table was reached, the last span seen (silence).
"""

from __future__ import annotations

from moose_trace._record import record
from moose_trace.query.normalize import value_text
from moose_trace.query.trace_span import TraceSpan, completion_event, start_order

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["JourneyOutcome", "journey_outcome"]

_TABLE_TYPES = frozenset({"olap_table", "sync"})


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


def journey_outcome(spans: list[TraceSpan], linked: list[TraceSpan]) -> JourneyOutcome:
    """The outcome of a trace from its own spans and the batch spans that carried it."""
    everything = sorted([*spans, *linked], key=start_order)
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
    main = completion_event(span.events)
    operation = value_text(main.get("operation"))
    if operation not in ("batch_insert", "insert") and span.type not in _TABLE_TYPES:
        return None
    if span.layer not in ("sync", "storage") or value_text(main.get("status")) != "success":
        return None
    return value_text(main.get("table")) or value_text(main.get("name"))
