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

from moose_trace._fastpath import FRAME_VAR, TRACE_ID_VAR, field_var
from moose_trace.kafka._errors import kafka_error_fields
from moose_trace.kafka.headers import batch_incoming, incoming_trace, message_fields
from moose_trace.metrics import OperationMetrics, operation_metrics
from moose_trace.tracing.baggage import baggage_fields
from moose_trace.tracing.context import (
    enter_record,
    leave_record,
    reset_tokens,
    set_incoming,
    trace_context,
)
from moose_trace.tracing.ids import new_trace_id
from moose_trace.tracing.propagation import IncomingTrace, bind_incoming

__all__ = [
    "CONSUME_ERROR_EVENT",
    "REJECTED_EVENT",
    "SEEK_FAILED_EVENT",
    "message_context",
    "traced_messages",
]

REJECTED_EVENT = "rejected incoming trace id"
"""The ``event`` of the warning for a message whose trace header held an invalid id."""
CONSUME_ERROR_EVENT = "kafka consume error"
"""The ``event`` of the error line for an error the consumer reported instead of a message."""
SEEK_FAILED_EVENT = "kafka seek back failed"
"""The ``event`` of the warning when unhandled prefetched messages could not be given back."""

_log = structlog.get_logger("moose_trace.kafka")

# The very ContextVars that trace_context and structlog's merge_contextvars use for these keys.
_TOPIC = field_var("kafka_topic")
_PARTITION = field_var("kafka_partition")
_OFFSET = field_var("kafka_offset")
_GROUP = field_var("consumer_group")


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

    The loop body gets no ``trace_context`` frame of its own (that keeps the loop nearly as
    cheap as a bare poll loop): fields bound there with ``bind_fields`` are not removed per
    message. Open one for per-message extras (``with trace_context(): bind_fields(...)``, or a
    ``traced_*`` decorator, which does), or use ``message_context``.
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
    set_trace_id, set_frame, set_topic = TRACE_ID_VAR.set, FRAME_VAR.set, _TOPIC.set
    set_partition, set_offset = _PARTITION.set, _OFFSET.set
    read_batch = batch_incoming
    tokens: list[Any] | None = None
    extra: list[Any] | None = None  # the current record's parent, flags, tracestate, baggage
    frame: Any = None  # the current record's trace context (its span, its sender's as parent)
    parent: str | None  # the current record's sender span
    bound_topic: str | None = None
    bound_partition: int | None = None
    pending: Iterator[tuple[Any, tuple[str, str] | IncomingTrace]] = iter(())
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
            # Each record's own trace, read for the whole batch at once.
            pending = zip(batch, read_batch(batch), strict=True)
            for message, read in pending:
                if frame is not None:
                    leave_record(frame)
                    frame = None
                if extra is not None:
                    reset_tokens(extra)
                    extra = None
                error = message.error()
                if error is not None:
                    if tokens is not None:
                        reset_tokens(tokens)
                        tokens = None
                    if error.code() != partition_eof:
                        _log.error(
                            CONSUME_ERROR_EVENT,
                            **group_field,
                            **message_fields(message),
                            **kafka_error_fields(error),
                        )
                        if error.fatal():
                            raise KafkaException(error)
                    continue
                if should_stop is not None and should_stop():
                    _give_back(consumer, [message, *(unread for unread, _ in pending)])
                    return
                rejected = None
                incoming: IncomingTrace | None = None
                if isinstance(read, tuple):  # the producer's shape: the ids, nothing more to carry
                    trace_id, parent = read
                else:
                    incoming = read
                    trace_id = read.trace_id or new_trace_id()
                    parent = read.parent_span_id
                    if read.trace_id is None:
                        rejected = read.rejected
                topic, partition = message.topic(), message.partition()
                if tokens is None:
                    tokens = [
                        set_trace_id(trace_id),
                        set_frame(None),
                        set_topic(topic),
                        set_partition(partition),
                        set_offset(message.offset()),
                    ]
                    if consumer_group is not None:
                        tokens.append(_GROUP.set(consumer_group))
                    bound_topic, bound_partition = topic, partition
                else:
                    set_offset(message.offset())
                    # Within a batch the topic and partition rarely change: set them only then.
                    if partition != bound_partition or topic != bound_topic:
                        set_topic(topic)
                        set_partition(partition)
                        bound_topic, bound_partition = topic, partition
                frame = enter_record(trace_id, parent)
                if incoming is not None and incoming.carries_state:
                    extra = _bind_extra(incoming)
                if rejected is not None:
                    _log.warning(REJECTED_EVENT, rejected_trace_id=rejected)
                yield message
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return
            if frame is not None:
                leave_record(frame)
                frame = None
            if extra is not None:
                reset_tokens(extra)
                extra = None
            if tokens is not None:
                # Back to the caller's state before polling: callbacks that run inside poll()
                # (errors, rebalances, commits) belong to no message.
                reset_tokens(tokens)
                tokens = None
    finally:
        if frame is not None:
            leave_record(frame)
        if extra is not None:
            reset_tokens(extra)
        if tokens is not None:
            reset_tokens(tokens)
        unhandled = [message for message, _ in pending]
        if unhandled:
            _give_back(consumer, unhandled)


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


def _bind_extra(incoming: IncomingTrace) -> list[Any]:
    """Bind what a record carries beyond its id; the tokens undo it (see ``bind_incoming``)."""
    tokens: list[Any] = [set_incoming(incoming, remember=False)]
    if incoming.baggage:
        for field, value in baggage_fields(incoming.baggage).items():
            tokens.append(field_var(field).set(value))
    return tokens


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
