"""Consume inside each message's trace: ``message_context`` for one message, ``traced_messages``
for a poll loop.

Both bind ``trace_id`` (from the message's headers, else a new one), ``kafka_topic``,
``kafka_partition``, ``kafka_offset`` and, when given, ``consumer_group``, so every log line
written while handling a message carries them; both restore the previous state afterwards,
also when the handling raises. A header that holds an invalid id is logged once at warning,
escaped, and replaced by a new id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from moose_trace.kafka._errors import kafka_error_fields
from moose_trace.kafka._record_frame import REJECTED_EVENT, ConsumedRecords, chain_binds_lazily
from moose_trace.kafka.headers import incoming_trace, message_fields
from moose_trace.metrics import OperationMetrics, operation_metrics
from moose_trace.tracing.context import reset_tokens, trace_context
from moose_trace.tracing.ids import new_trace_id
from moose_trace.tracing.propagation import bind_incoming

__all__ = [
    "CONSUME_ERROR_EVENT",
    "REJECTED_EVENT",
    "SEEK_FAILED_EVENT",
    "message_context",
    "traced_messages",
]

CONSUME_ERROR_EVENT = "kafka consume error"
"""The ``event`` of the error line for an error the consumer reported instead of a message."""
SEEK_FAILED_EVENT = "kafka seek back failed"
"""The ``event`` of the warning when unhandled prefetched messages could not be given back."""

_log = structlog.get_logger("moose_trace.kafka")


class message_context(trace_context):
    """Handle one Kafka message inside its trace: ``with message_context(msg): ...``.

    A ``trace_context`` binding ``trace_id`` (header ``trace_id``, else ``traceparent``, else a
    new id), the message's ``kafka_topic``, ``kafka_partition``, ``kafka_offset``, and
    ``consumer_group`` when given: fields bound inside with ``bind_fields`` end with it, and
    everything is restored on exit, exceptions included. Works with ``async with`` too.
    Entering also keeps what the headers said beyond the id (parent span, flags,
    ``tracestate``, baggage) and warns once about an invalid id; it returns the context
    (``.trace_id``, ``.span_id``).
    """

    __slots__ = ("_incoming", "_rejected")

    def __init__(self, message: Any, *, consumer_group: str | None = None) -> None:
        incoming = incoming_trace(message)
        fields = message_fields(message)
        if consumer_group is not None:
            fields["consumer_group"] = consumer_group
        self._rejected = incoming.rejected if incoming.trace_id is None else None
        self._incoming = incoming
        super().__init__(
            incoming.trace_id or new_trace_id(),
            parent_span_id=incoming.parent_span_id if incoming.trace_id else None,
            **fields,
        )

    def __enter__(self) -> trace_context:
        context = super().__enter__()
        bind_incoming(self._incoming)
        if self._rejected is not None:
            _log.warning(REJECTED_EVENT, rejected_trace_id=self._rejected)
        return context


StopSignal = Callable[[], bool] | threading.Event
"""What ``traced_messages(stop=...)`` takes: a ``threading.Event`` or a callable returning true."""


def traced_messages(
    consumer: Any,
    *,
    timeout: float = 1.0,
    consumer_group: str | None = None,
    max_messages: int | None = None,
    stop: StopSignal | None = None,
    batch_size: int = 100,
) -> Iterator[Any]:
    """Poll a Kafka consumer and yield each message inside its trace context.

    ``consumer`` is a confluent-kafka ``Consumer`` or a kafka-python ``KafkaConsumer`` (whose
    ``poll(timeout_ms=...)`` batches are taken apart record by record, ``max_records`` kept to
    what ``max_messages`` still allows).

    ``for msg in traced_messages(consumer): ...`` — while the loop body runs, ``trace_id``,
    ``kafka_topic``, ``kafka_partition``, ``kafka_offset`` (and ``consumer_group`` when given)
    are bound; when the loop resumes, exits, breaks or raises, the previous state is back.
    Empty polls are skipped; partition-EOF events are ignored; other consumer errors are logged
    at error with their ``error_category`` and not yielded (a fatal one is raised as
    ``KafkaException`` after logging). Ends after ``max_messages`` messages, or when ``stop``
    (an ``Event`` or a callable) is set, checked before each poll and each message.

    After a poll that returned a message, up to ``batch_size - 1`` more messages that the
    client has already fetched are taken without waiting, which makes the loop cheaper than
    polling each one; ``batch_size=1`` polls every message. If the loop ends early, messages
    taken but not yet handled are given back (the consumer seeks to the first of them), so the
    same consumer yields them again. Use the generator directly in a ``for`` statement (or
    close it): its context is restored when it finishes or is closed.

    Each record has a frame of its own (its span; its sender's span as parent): fields bound
    in the body with ``bind_fields`` end with the record. The record's headers are read, and
    its trace id and fields bound, only when something in the body needs them (a log line
    through moose-trace's processors, ``current_trace_id()``, a child context, a produce, a
    span): a body that needs none of it costs about an attribute store per record. So an
    invalid ``trace_id`` header is warned about when the record's trace is first needed. When
    the configured structlog chain merges context with structlog's stock ``merge_contextvars``
    (structlog's default chain, or a chain of your own), every record is bound as it is yielded,
    so those lines carry its trace too.
    """
    if max_messages is not None and max_messages <= 0:
        return
    should_stop = _stop_check(stop)
    from moose_trace.kafka import kafka_python  # noqa: PLC0415 - it imports this module

    if kafka_python.is_kafka_python_consumer(consumer):
        yield from kafka_python.traced_records(
            consumer,
            timeout=timeout,
            consumer_group=consumer_group,
            max_messages=max_messages,
            should_stop=should_stop,
        )
        return
    from confluent_kafka import KafkaError, KafkaException  # noqa: PLC0415 - a client is in use

    partition_eof = KafkaError._PARTITION_EOF
    group_field = {"consumer_group": consumer_group} if consumer_group is not None else {}
    drain = max(batch_size, 1) - 1
    remaining = max_messages
    poll = consumer.poll
    consume = consumer.consume
    # One frame for the loop, pointed at each record in turn; the record's trace is read and
    # bound only when something in the body needs it (see ``_record_frame``).
    records = ConsumedRecords(consumer_group)
    eager = not chain_binds_lazily()  # structlog's own merge_contextvars reads only what is bound
    tokens: list[Any] | None = None
    pending: Iterator[Any] = iter(())
    try:
        while remaining is None or remaining > 0:
            if should_stop is not None and should_stop():
                return
            first = poll(timeout)
            if first is None:
                continue
            take = drain if remaining is None else min(drain, remaining - 1)
            batch = [first, *consume(take, 0)] if take > 0 else [first]
            metrics = operation_metrics()
            if metrics is not None:  # what is left once this batch is handled
                _record_lag(metrics, consumer, batch, consumer_group)
            pending = iter(batch)
            for message in pending:
                if records._record is not None:  # the previous record was bound
                    records.leave()
                if message.error() is not None:
                    if tokens is not None:  # an error belongs to no message
                        reset_tokens(tokens)
                        tokens = None
                    _log_error(message, group_field, partition_eof, KafkaException)
                    continue
                if should_stop is not None and should_stop():
                    _give_back(consumer, [message, *pending])
                    return
                if tokens is None:
                    tokens = records.enter_batch(message)
                records.message = message
                if eager:
                    records.bind()
                yield message
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return
            records.end()
            records.message = None
            if tokens is not None:
                # Back to the caller's state before polling: callbacks that run inside poll()
                # (errors, rebalances, commits) belong to no message.
                reset_tokens(tokens)
                tokens = None
    finally:
        records.end()
        records.message = None
        if tokens is not None:
            reset_tokens(tokens)
        unhandled = list(pending)
        if unhandled:
            _give_back(consumer, unhandled)


def _log_error(
    message: Any, group_field: dict[str, Any], partition_eof: int, fatal: type[Exception]
) -> None:
    """Log a consumer error (not partition EOF) with its category; raise a fatal one."""
    error = message.error()
    if error.code() == partition_eof:
        return
    _log.error(
        CONSUME_ERROR_EVENT,
        **group_field,
        **message_fields(message),
        **kafka_error_fields(error),
    )
    if error.fatal():
        raise fatal(error)


def _record_lag(
    metrics: OperationMetrics, consumer: Any, batch: list[Any], consumer_group: str | None
) -> None:
    """Record each partition's lag behind a batch: its end offset minus the offset after it.

    The end offsets are the client's cached ones (from its fetch responses: no request to the
    broker); a partition whose end offset the client does not know yet is skipped.
    """
    from confluent_kafka import TopicPartition  # noqa: PLC0415 - a client is in use

    last: dict[tuple[str, int], int] = {}
    for message in batch:
        if message.error() is None:
            last[(message.topic(), message.partition())] = message.offset()
    for (topic, partition), offset in last.items():
        try:
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
        except Exception:  # a client without cached offsets: no lag to report
            continue
        if high is None or high < 0:
            continue
        attributes: dict[str, Any] = {"kafka_topic": topic, "kafka_partition": partition}
        if consumer_group is not None:
            attributes["consumer_group"] = consumer_group
        metrics.consumer_lag(max(high - offset - 1, 0), attributes)


def _stop_check(stop: StopSignal | None) -> Callable[[], bool] | None:
    if stop is None:
        return None
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop


def _give_back(consumer: Any, messages: list[Any]) -> None:
    """Seek each partition back to the first message taken from it but not handled."""
    from confluent_kafka import TopicPartition  # noqa: PLC0415 - a client is in use

    first: dict[tuple[str, int], int] = {}
    for message in messages:
        if message.error() is None:
            first.setdefault((message.topic(), message.partition()), message.offset())
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except Exception as exc:
            _log.warning(
                SEEK_FAILED_EVENT,
                kafka_topic=topic,
                kafka_partition=partition,
                kafka_offset=offset,
                error=exc,
            )
