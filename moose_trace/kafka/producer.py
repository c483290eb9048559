"""``TracedProducer``: a Kafka producer whose every record carries the trace.

It wraps a confluent-kafka ``Producer`` (``produce``) or a kafka-python ``KafkaProducer``
(``send``, which returns kafka-python's future). ``produce`` and ``send`` add ``trace_id`` and
``traceparent`` headers from the current context (a new trace when there is none), keep the
caller's headers and delivery callback, and log the delivery report: at debug with topic,
partition, offset and the record's trace id, at error with the error category when delivery
failed. Delivery reports run later, inside ``poll()`` or ``flush()`` (confluent-kafka) or on
the I/O thread (kafka-python), outside the producing context, so the trace id is taken when the
record is produced. The report is the produce's span: its own ``span_id``, the producing code's
span as ``parent_span_id`` (the span the ``traceparent`` header names) and ``latency_ms`` from
the produce to the broker's answer. Every other attribute is the wrapped producer's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from moose_trace.kafka._errors import kafka_error_fields
from moose_trace.kafka.headers import traced_headers
from moose_trace.tracing.context import new_span_id

__all__ = ["DELIVERED_EVENT", "DELIVERY_FAILED_EVENT", "TracedProducer"]

DELIVERED_EVENT = "kafka message delivered"
"""The ``event`` of the debug line logged for each delivered record."""
DELIVERY_FAILED_EVENT = "kafka delivery failed"
"""The ``event`` of the error line logged for each record the broker did not take."""

DeliveryCallback = Callable[[Any, Any], Any]
"""confluent-kafka's delivery callback: ``(error or None, message) -> None``."""

_log = structlog.get_logger("moose_trace.kafka")


class TracedProducer:
    """Wrap a Kafka producer so that every record carries the trace context.

    ``TracedProducer(Producer(conf))`` (confluent-kafka: call ``produce``) or
    ``TracedProducer(KafkaProducer(...))`` (kafka-python: call ``send``); then use it like the
    producer. ``log_deliveries=False``
    turns the per-record delivery log lines off (failures are still logged).
    """

    __slots__ = ("_log_deliveries", "producer")

    producer: Any
    """The wrapped ``confluent_kafka.Producer`` or ``kafka.KafkaProducer``."""

    def __init__(self, producer: Any, *, log_deliveries: bool = True) -> None:
        self.producer = producer
        self._log_deliveries = log_deliveries

    def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: Any = None,
        on_delivery: DeliveryCallback | None = None,
        *,
        callback: DeliveryCallback | None = None,
        **kwargs: Any,
    ) -> None:
        """Produce a record with the trace headers added; arguments as ``Producer.produce``.

        ``headers`` (list of pairs or dict) are kept and the trace headers put first. The
        caller's ``on_delivery`` (or its alias ``callback``) is still called, after the
        delivery is logged. Raises what ``Producer.produce`` raises (``BufferError`` when the
        local queue is full, ``KafkaException``), with nothing logged twice.
        """
        sent, trace_id = traced_headers(headers)
        user_callback = on_delivery if on_delivery is not None else callback
        span = ProduceSpan(new_span_id(), _sender_span(sent), _perf_ns())
        kwargs["on_delivery"] = _delivery_report(
            topic, trace_id, span, user_callback, self._log_deliveries
        )
        self.producer.produce(topic, value, key, headers=sent, **kwargs)

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: Any = None,
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> Any:
        """Send a record through a kafka-python ``KafkaProducer`` with the trace headers added.

        Arguments as ``KafkaProducer.send``; ``headers`` (list of pairs or dict) are kept and the
        trace headers put first (a ``None``-valued header is left out: kafka-python cannot send
        one). Returns kafka-python's future; the delivery is logged as ``produce`` logs it.
        """
        from moose_trace.kafka.kafka_python import (  # noqa: PLC0415 - kafka-python only
            add_delivery_logging,
            kafka_python_headers,
        )

        sent, trace_id = traced_headers(headers)
        span = ProduceSpan(new_span_id(), _sender_span(sent), _perf_ns())
        future = self.producer.send(
            topic,
            value=value,
            key=key,
            headers=kafka_python_headers(sent),
            partition=partition,
            timestamp_ms=timestamp_ms,
        )
        add_delivery_logging(
            future,
            topic=topic,
            trace_id=trace_id,
            log_deliveries=self._log_deliveries,
            failed_event=DELIVERY_FAILED_EVENT,
            delivered_event=DELIVERED_EVENT,
            span_fields=span.fields,
        )
        return future

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)

    def __len__(self) -> int:
        return len(self.producer)

    def __repr__(self) -> str:
        return f"TracedProducer({self.producer!r})"


_perf_ns = time.perf_counter_ns


class ProduceSpan:
    """The produce of one record: its span id, the producing code's span, when it began.

    Internal: what a delivery report logs as the produce's span (here and the dead-letter
    queue's).
    """

    __slots__ = ("parent", "span_id", "started_ns")

    def __init__(self, span_id: str, parent: str | None, started_ns: int) -> None:
        self.span_id = span_id
        self.parent = parent
        self.started_ns = started_ns

    def fields(self) -> dict[str, Any]:
        """The span fields of the delivery line: ids and ``latency_ms`` until now."""
        elapsed = _perf_ns() - self.started_ns
        found: dict[str, Any] = {"span_id": self.span_id}
        if self.parent is not None:
            found["parent_span_id"] = self.parent
        found["latency_ms"] = (elapsed + 500) // 1000 / 1000
        return found


def _sender_span(headers: list[tuple[str, bytes | None]]) -> str | None:
    """The span id the ``traceparent`` header just written names (the producing code's)."""
    for name, value in headers:
        if name == "traceparent" and value is not None and len(value) >= 52:
            return value[36:52].decode("ascii", "replace")
    return None


def _delivery_report(
    topic: str,
    trace_id: str,
    span: ProduceSpan,
    user_callback: DeliveryCallback | None,
    log_deliveries: bool,
) -> DeliveryCallback:
    def report(error: Any, message: Any) -> None:
        if error is not None:
            _log.error(
                DELIVERY_FAILED_EVENT,
                trace_id=trace_id,
                kafka_topic=topic,
                **span.fields(),
                **kafka_error_fields(error),
            )
        elif log_deliveries:
            _log.debug(
                DELIVERED_EVENT,
                trace_id=trace_id,
                kafka_topic=message.topic(),
                kafka_partition=message.partition(),
                kafka_offset=message.offset(),
                **span.fields(),
            )
        if user_callback is not None:
            user_callback(error, message)

    return report
