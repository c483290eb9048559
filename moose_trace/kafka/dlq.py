"""``DeadLetterQueue``: send a record that could not be processed to a dead-letter topic.

The dead-letter record keeps everything needed to understand and replay the failure: the
original value, key and headers (a confluent-kafka message) or the record itself (a dict as
JSON, text, bytes); where it came from (``kafka_topic``, ``kafka_partition``, ``kafka_offset``,
``source``); its trace context (``trace_id``, ``traceparent``: the record's own, else the
current one); and why it failed (``error_category``, ``error_type``, ``error_message`` — cut,
control characters escaped, secrets redacted). One error line with ``dlq=<topic>`` is logged.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import structlog

from moose_trace._text import safe_str
from moose_trace.errors.categories import categorize_error, error_message, error_type_name
from moose_trace.kafka._errors import kafka_error_fields
from moose_trace.kafka.headers import (
    KafkaHeaders,
    header_bytes,
    incoming_trace,
    message_fields,
    message_headers,
    traced_headers,
)
from moose_trace.kafka.kafka_python import (
    add_delivery_logging,
    is_kafka_python_producer,
    kafka_python_headers,
)
from moose_trace.kafka.producer import ProduceSpan, TracedProducer
from moose_trace.logging.redaction import redact_text
from moose_trace.tracing.context import new_span_id
from moose_trace.tracing.propagation import outgoing_trace

__all__ = ["DLQ_DELIVERED_EVENT", "DLQ_DELIVERY_FAILED_EVENT", "DLQ_EVENT", "DeadLetterQueue"]

DLQ_EVENT = "sent to dead-letter queue"
"""The ``event`` of the error line logged for each record sent to the dead-letter topic."""
DLQ_DELIVERED_EVENT = "dead-letter record delivered"
"""The ``event`` of the debug line for each dead-letter record the broker took: the DLQ
produce's span (its ``span_id``, the failed call's span as ``parent_span_id``, ``latency_ms``)."""
DLQ_DELIVERY_FAILED_EVENT = "dead-letter delivery failed"
"""The ``event`` logged when the broker did not take a dead-letter record."""

MAX_ERROR_MESSAGE = 1024
"""``error_message`` headers are cut to this many characters."""

_log = structlog.get_logger("moose_trace.kafka")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


def _is_message(record: Any) -> bool:
    """A confluent-kafka ``Message`` (methods) or a kafka-python/aiokafka record (attributes)."""
    return all(hasattr(record, name) for name in ("topic", "value", "headers"))


def _field(record: Any, name: str) -> Any:
    value = getattr(record, name, None)
    return value() if callable(value) else value


def _encode(value: Any) -> bytes | None:
    """A plain record as a message value: as a header value would be, other values as JSON."""
    if value is None or isinstance(value, (bytes, str, bytearray, memoryview)):
        return header_bytes(value)
    try:
        return orjson.dumps(value, default=safe_str, option=orjson.OPT_NON_STR_KEYS)
    except Exception:
        return safe_str(value).encode()


def _text(value: Any) -> bytes:
    return safe_str(value).encode()


class DeadLetterQueue:
    """Send failed records to the dead-letter ``topic`` through ``producer``.

    ``producer`` is a confluent-kafka ``Producer``, a kafka-python ``KafkaProducer`` or a
    ``TracedProducer`` of either. ``send(record,
    error)`` never raises for a bad record; it raises only when the producer refuses the
    record (``BufferError`` after one retry, ``KafkaException``), so a caller such as the
    ``traced_*`` decorators can re-raise the original error rather than lose it. Records are
    delivered asynchronously: call ``flush()`` before the process exits.
    """

    __slots__ = ("_pending", "_producer", "topic")

    topic: str
    """The dead-letter topic (also the ``dlq`` field of the log line)."""

    def __init__(self, producer: Any, topic: str) -> None:
        # Trace headers are written here from the record, not from the current context.
        self._producer = producer.producer if isinstance(producer, TracedProducer) else producer
        self.topic = topic
        self._pending: list[Any] = []  # kafka-python futures not known to be done

    def send(self, record: Any, error: BaseException, *, source: str | None = None) -> None:
        """Produce ``record`` to the dead-letter topic with its trace and ``error``'s details.

        ``record`` is a confluent-kafka ``Message`` (value, key and headers kept, plus its
        topic, partition and offset as headers) or a plain value (a dict or list becomes JSON,
        text UTF-8, bytes as they are). ``source`` (e.g. the transform's name) is added as a
        header and logged.
        """
        try:
            value, key, headers, trace_id, origin = self._record_parts(record)
        except Exception as exc:  # a record too broken to read: keep at least the failure
            value, key, headers, trace_id, origin = self._fallback(record, exc)
        details = {
            "error_category": categorize_error(error),
            "error_type": error_type_name(error),
            "error_message": _escape_controls(redact_text(error_message(error)))[
                :MAX_ERROR_MESSAGE
            ],
        }
        headers.extend((name, _text(field)) for name, field in origin.items())
        if source is not None:
            headers.append(("source", _text(source)))
        headers.extend((name, text.encode()) for name, text in details.items())
        context = {**origin, "source": source} if source is not None else origin
        _log.error(DLQ_EVENT, dlq=self.topic, trace_id=trace_id, **context, **details)
        self._produce(value, key, headers, trace_id)

    def _record_parts(self, record: Any) -> tuple[Any, Any, KafkaHeaders, str, dict[str, Any]]:
        if _is_message(record):
            original = message_headers(record)
            kept: KafkaHeaders = list(original) if isinstance(original, (list, tuple)) else []
            trace_id = incoming_trace(kept).trace_id
            if trace_id is None:
                kept, trace_id = traced_headers(kept)
            return (
                _encode(_field(record, "value")),
                _encode(_field(record, "key")),
                kept,
                trace_id,
                message_fields(record),
            )
        headers, trace_id = traced_headers()
        return _encode(record), None, headers, trace_id, {}

    def _fallback(
        self, record: Any, exc: Exception
    ) -> tuple[Any, Any, KafkaHeaders, str, dict[str, Any]]:
        _log.warning("dead-letter record unreadable; sending its text", dlq=self.topic, error=exc)
        headers, trace_id = traced_headers()
        return safe_str(record).encode(), None, headers, trace_id, {}

    def _produce(self, value: Any, key: Any, headers: KafkaHeaders, trace_id: str) -> None:
        topic = self.topic
        sender = outgoing_trace()
        span = ProduceSpan(
            new_span_id(),
            sender[1] if sender is not None and sender[0] == trace_id else None,
            time.perf_counter_ns(),
        )

        def report(error: Any, message: Any) -> None:
            if error is not None:
                _log.error(
                    DLQ_DELIVERY_FAILED_EVENT,
                    dlq=topic,
                    trace_id=trace_id,
                    **span.fields(),
                    **kafka_error_fields(error),
                )
            else:
                _log.debug(
                    DLQ_DELIVERED_EVENT,
                    dlq=topic,
                    trace_id=trace_id,
                    kafka_topic=message.topic(),
                    kafka_partition=message.partition(),
                    kafka_offset=message.offset(),
                    **span.fields(),
                )

        if is_kafka_python_producer(self._producer):
            self._pending = [future for future in self._pending if not future.is_done]
            future = self._producer.send(
                topic, value=value, key=key, headers=kafka_python_headers(headers)
            )
            add_delivery_logging(
                future,
                topic=topic,
                trace_id=trace_id,
                log_deliveries=True,
                failed_event=DLQ_DELIVERY_FAILED_EVENT,
                delivered_event=DLQ_DELIVERED_EVENT,
                span_fields=lambda: {"dlq": topic, **span.fields()},
            )
            self._pending.append(future)
            return
        try:
            self._producer.produce(topic, value, key, headers=headers, on_delivery=report)
        except BufferError:
            self._producer.poll(1.0)  # the local queue is full: let deliveries drain once
            self._producer.produce(topic, value, key, headers=headers, on_delivery=report)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait up to ``timeout`` seconds for dead-letter records to be delivered.

        Returns the number still waiting (0 when all were delivered).
        """
        if is_kafka_python_producer(self._producer):
            try:
                self._producer.flush(timeout=timeout)
            except Exception as exc:  # kafka-python raises KafkaTimeoutError when time is up
                _log.warning("dead-letter flush incomplete", dlq=self.topic, error=exc)
            self._pending = [future for future in self._pending if not future.is_done]
            return len(self._pending)
        remaining: int = self._producer.flush(timeout)
        return remaining

    def __repr__(self) -> str:
        return f"DeadLetterQueue(topic={self.topic!r})"
