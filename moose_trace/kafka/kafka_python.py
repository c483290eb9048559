"""kafka-python support: the Kafka helpers on kafka-python's consumer and producer.

kafka-python (and its fork ``kafka-python-ng``, the client Moose's Python streaming runner
uses) differs from confluent-kafka in three ways that matter here: ``KafkaConsumer.poll`` takes
``timeout_ms`` and returns ``{TopicPartition: [ConsumerRecord, ...]}``; records carry their
headers in a ``headers`` attribute (a list of ``(str, bytes)``); ``KafkaProducer.send`` takes
``headers=`` as a list of ``(str, bytes)`` — a ``None`` value is refused — and returns a future.
``traced_messages``, ``TracedProducer.send`` and ``DeadLetterQueue`` call into this module when
they are given kafka-python objects. Nothing here imports kafka-python.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from moose_trace.errors.categories import categorize_error, error_message, error_type_name
from moose_trace.kafka.consumer import SEEK_FAILED_EVENT, message_context
from moose_trace.kafka.headers import KafkaHeaders

__all__ = [
    "add_delivery_logging",
    "is_kafka_python_consumer",
    "is_kafka_python_producer",
    "kafka_python_headers",
    "traced_records",
]

_log = structlog.get_logger("moose_trace.kafka")


def is_kafka_python_consumer(consumer: Any) -> bool:
    """Whether ``consumer`` polls the kafka-python way (``poll(timeout_ms=)``, no ``consume``)."""
    return hasattr(consumer, "poll") and not hasattr(consumer, "consume")


def is_kafka_python_producer(producer: Any) -> bool:
    """Whether ``producer`` sends the kafka-python way (``send``, no ``produce``)."""
    return hasattr(producer, "send") and not hasattr(producer, "produce")


def kafka_python_headers(headers: KafkaHeaders) -> list[tuple[str, bytes]]:
    """``headers`` in the shape ``KafkaProducer.send`` accepts: ``None``-valued ones left out.

    kafka-python refuses a header whose value is ``None`` (confluent-kafka sends it as a null
    value); leaving it out is the only way such a record can be sent at all.
    """
    return [(name, value) for name, value in headers if value is not None]


def add_delivery_logging(
    future: Any,
    *,
    topic: str,
    trace_id: str,
    log_deliveries: bool,
    failed_event: str,
    delivered_event: str | None,
    span_fields: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Log the outcome of a kafka-python send: delivered at debug, failed at error.

    ``future`` is what ``KafkaProducer.send`` returned; its callbacks run on the producer's I/O
    thread, outside the producing context, so the record's ``trace_id`` is passed in, and
    ``span_fields`` (the produce's span ids and latency) is called when the answer comes.
    """

    def extra() -> dict[str, Any]:
        return span_fields() if span_fields is not None else {}

    def delivered(metadata: Any) -> None:
        if log_deliveries and delivered_event is not None:
            _log.debug(
                delivered_event,
                trace_id=trace_id,
                kafka_topic=getattr(metadata, "topic", topic),
                kafka_partition=getattr(metadata, "partition", None),
                kafka_offset=getattr(metadata, "offset", None),
                **extra(),
            )

    def failed(error: BaseException) -> None:
        _log.error(
            failed_event,
            trace_id=trace_id,
            kafka_topic=topic,
            error_category=categorize_error(error),
            error_type=error_type_name(error),
            error_message=error_message(error),
            **extra(),
        )

    future.add_callback(delivered)
    future.add_errback(failed)


def traced_records(
    consumer: Any,
    *,
    timeout: float,
    consumer_group: str | None,
    max_messages: int | None,
    should_stop: Callable[[], bool] | None,
) -> Iterator[Any]:
    """``traced_messages`` for a kafka-python ``KafkaConsumer``: each record inside its trace.

    Polls with ``timeout_ms``, never asks for more records than ``max_messages`` still allows,
    and yields each record inside ``message_context(record)``. If the loop ends early (a
    ``stop`` signal, ``break``, an exception), the consumer seeks each partition back to its
    first record that was taken but not handled, so the same consumer yields it again.
    """
    remaining = max_messages
    timeout_ms = max(int(timeout * 1000), 0)
    unhandled: deque[Any] = deque()
    try:
        while remaining is None or remaining > 0:
            if should_stop is not None and should_stop():
                return
            batches = consumer.poll(timeout_ms=timeout_ms, max_records=remaining)
            unhandled = deque(record for records in batches.values() for record in records)
            while unhandled:
                if should_stop is not None and should_stop():
                    return
                record = unhandled.popleft()
                with message_context(record, consumer_group=consumer_group):
                    yield record
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return
    finally:
        if unhandled:
            _seek_back(consumer, unhandled)


def _seek_back(consumer: Any, records: deque[Any]) -> None:
    first: dict[tuple[str, int], int] = {}
    for record in records:
        first.setdefault((record.topic, record.partition), record.offset)
    try:
        from kafka import TopicPartition  # noqa: PLC0415 - a kafka-python client is in use
    except ImportError:
        return
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition), offset)
        except Exception as exc:
            _log.warning(
                SEEK_FAILED_EVENT,
                kafka_topic=topic,
                kafka_partition=partition,
                kafka_offset=offset,
                error=exc,
            )
