"""Dead-letter sinks: where a traced call sends the input it failed on, instead of raising.

A ``DeadLetterSink`` is anything with ``send(record, error)``: the Kafka dead-letter queue of
``moose_trace.kafka`` (a topic, original headers and error headers kept), a table, a list in a
test. The decorators call it inside the failed call's trace context, so whatever it logs or
produces carries the record's trace id.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["DeadLetterSink", "dead_letter_target"]


@runtime_checkable
class DeadLetterSink(Protocol):
    """Takes a record a traced call failed on, with the error: ``send(record, error)``.

    ``send`` runs inside the failed call's trace context (and its OpenTelemetry span), so a
    Kafka produce made there carries the record's trace id. It may raise: the decorator then
    logs that failure too and re-raises the original error, so the record is never lost
    silently. Give the sink a ``topic`` or ``name`` attribute: that text is the ``dlq`` field of
    the failure's log line.
    """

    def send(self, record: object, error: BaseException) -> None:
        """Keep ``record`` (the call's input, as it was passed) and why it failed."""


def dead_letter_target(sink: object) -> str:
    """Return what a log line names a sink by: its ``topic``, else ``name``, else its class name."""
    for attribute in ("topic", "name"):
        try:
            value = getattr(sink, attribute, None)
        except Exception:
            continue
        if isinstance(value, str) and value:
            return value
    return type(sink).__name__
