"""A batch argument (``batch=True``, ``traced_sync``): its size, its records' traces, its topic.

The batch's span links to each record's trace and its log line lists them in ``trace_ids`` (at
most ``max_trace_ids``, the rest counted); a failed batch goes to the dead-letter sink record by
record, each inside its own trace.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from moose_trace.decorators.dead_letters import DeadLetterSink
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.spans import attach_record_context, deactivate

from ._inputs import RecordTrace, is_kafka_record, kafka_fields, record_trace

__all__ = ["Batch", "batch_of", "send_each_in_its_trace"]


@dataclass
class Batch:
    """What a batch argument holds: its size, its records' traces, their common topic."""

    size: int
    traces: dict[str, str | None]
    dropped: int
    topic: str | None

    def line_fields(self, fields: dict[str, Any]) -> None:
        """Add ``batch_size``, ``trace_ids`` and ``trace_ids_dropped`` (when any) to a line."""
        fields["batch_size"] = self.size
        fields["trace_ids"] = list(self.traces)
        if self.dropped:
            fields["trace_ids_dropped"] = self.dropped


def batch_of(value: Any, limit: int) -> Batch | None:
    """Read a batch argument; ``None`` for a non-batch, or one that reading would consume."""
    if isinstance(value, (str, bytes, bytearray, Mapping, Iterator)) or not isinstance(
        value, Collection
    ):
        return None
    traces: dict[str, str | None] = {}
    overflow: set[str] = set()
    topics: set[Any] = set()
    for record in value:
        found = record_trace(record)
        if found is not None and found[0] not in traces:
            if len(traces) < limit:
                traces[found[0]] = found[1]
            else:
                overflow.add(found[0])
        if is_kafka_record(record):
            topics.add(kafka_fields(record).get("kafka_topic"))
    topic = next(iter(topics)) if len(topics) == 1 else None
    return Batch(len(value), traces, len(overflow), topic if isinstance(topic, str) else None)


def send_each_in_its_trace(
    sink: DeadLetterSink, records: Collection[Any], error: BaseException
) -> Exception | None:
    """Send each record of a failed batch to ``sink`` inside its own trace; the first problem."""
    first_problem: Exception | None = None
    for record in records:
        try:
            _send_in_record_trace(sink, record, error, record_trace(record))
        except Exception as problem:
            first_problem = first_problem or problem
    return first_problem


def _send_in_record_trace(
    sink: DeadLetterSink, record: Any, error: BaseException, trace: RecordTrace | None
) -> None:
    """Send one record inside its own trace, so what the sink produces carries it."""
    if trace is None:
        sink.send(record, error)
        return
    with trace_context(trace[0]):
        token = attach_record_context(*trace)
        try:
            sink.send(record, error)
        finally:
            deactivate(token)
