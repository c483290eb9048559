"""kafka-python hooks: each consumed record is handled inside its trace, each sent record
carries one.

The same conventions as OpenTelemetry's kafka-python instrumentation, on the same seams:

- ``KafkaConsumer.poll`` returns its batch with each partition's list replaced by a
  ``TracedRecords`` list. Iterating it enters each record's trace (header ``trace_id``, else
  ``traceparent``, else a new UUIDv7) with ``kafka_topic``, ``kafka_partition``,
  ``kafka_offset`` and ``consumer_group`` bound, and leaves it when the loop moves on, ends or
  breaks. ``for record in consumer`` goes through ``poll`` too, so it is covered alike.
- Records a caller copies out of those lists before iterating (Moose's runner does, for records
  that arrive while it waits for its partition assignment) are entered when first used instead:
  each record is a subclass of kafka-python's ``ConsumerRecord`` whose ``partition`` attribute
  enters the record's trace if it is not in yet. Such a trace ends at the next record, the next
  poll, or the first send of the batch's outputs.
- ``KafkaProducer.send`` without trace headers gets ``trace_id`` + ``traceparent``: of the
  record being handled when there is one; else, when outputs of a handled batch are waiting
  (Moose sends a batch's outputs after the whole batch), of the next such output; else of the
  current context, or of a new trace. A caller's own trace headers are kept as they are.
- ``KafkaProducer.flush`` (the runner flushes after sending a batch's outputs) then logs one
  line per topic, ``sent output records``, with ``records`` and the outputs' ``trace_ids``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog

from moose_trace.kafka.consumer import REJECTED_EVENT
from moose_trace.kafka.headers import incoming_trace, inject_headers, message_fields, traced_headers
from moose_trace.moose._state import ThreadState, guard, thread_state
from moose_trace.tracing.context import bound_pairs, enter_prepared, trace_context
from moose_trace.tracing.ids import new_trace_id, parse_trace_id
from moose_trace.tracing.propagation import (
    KAFKA_TRACE_HEADER,
    TRACEPARENT_HEADER,
    IncomingTrace,
    bind_incoming,
)

__all__ = [
    "MISSING_TRACE_EVENT",
    "OUTPUTS_SENT_EVENT",
    "TracedRecords",
    "report_sent",
    "traced_flush",
    "traced_poll",
    "traced_send",
]

MISSING_TRACE_EVENT = "kafka records arrive without a trace id; each starts a new trace here"
"""The ``event`` of the one warning logged the first time a record has no trace headers."""

OUTPUTS_SENT_EVENT = "sent output records"
"""The ``event`` of the info line per topic and batch: ``records`` sent, their ``trace_ids``."""

_log = structlog.get_logger("moose_trace.moose")
_TRACE_HEADERS = frozenset({KAFKA_TRACE_HEADER, TRACEPARENT_HEADER})
_missing_reported = False
_ID_ATTRIBUTE = "_moose_trace_id"
_CANONICAL_LENGTH = 36


def _enter_record(state: ThreadState, record: Any, group: str | None) -> trace_context | None:
    """Enter ``record``'s trace and make it this thread's record; ``None`` if the hook failed.

    What the record's headers say is kept on it: entered again (iterated while copied, then
    used), it gets the same trace and no second warning.
    """
    state.record_object = record  # first: reading its fields below must not enter it again
    untraced: IncomingTrace | None = None  # what a record without a valid id said
    try:
        known: str | IncomingTrace | None = getattr(record, _ID_ATTRIBUTE, None)
        if known is None:
            known = _lone_trace_id(record) or incoming_trace(record)
            if isinstance(known, IncomingTrace) and known.trace_id is None:
                untraced = known
                known = new_trace_id()
            if type(record) in _traced_classes.values():
                setattr(record, _ID_ATTRIBUTE, known)
        if isinstance(known, str):  # one valid ``trace_id`` header, or a new id: nothing more
            context = enter_prepared(known, _record_fields(record, group))
        else:
            context = enter_prepared(
                known.trace_id, _record_fields(record, group), None, known.parent_span_id
            )
            if known.carries_state:  # flags, tracestate, baggage: sent on with the outputs
                bind_incoming(known)
    except Exception as exc:
        guard.failed(exc)
        state.record_object = None
        return None
    state.record = context
    state.failure = None
    state.dead_letter_due = False
    if untraced is not None:
        _warn_untraced(untraced.rejected)
    return context


def _record_fields(record: Any, group: str | None) -> Any:
    fields = message_fields(record)
    if group is not None:
        fields["consumer_group"] = group
    return bound_pairs(fields)


def _lone_trace_id(record: Any) -> str | None:
    """The id when the record's only header is ``trace_id`` with a valid id (what the seed
    plan's ingest writes), else ``None``: then ``incoming_trace`` reads the headers by the
    general rules (``traceparent`` decides, its parent span, ``tracestate``, ``baggage``)."""
    headers = getattr(record, "headers", None)
    if type(headers) is not list or len(headers) != 1:
        return None
    first = headers[0]
    if type(first) is not tuple or len(first) != 2 or first[0] != KAFKA_TRACE_HEADER:
        return None
    value = first[1]
    if type(value) is not bytes or len(value) != _CANONICAL_LENGTH:
        return None
    return parse_trace_id(value.decode("latin-1"))


def _warn_untraced(rejected: str | None) -> None:
    global _missing_reported  # noqa: PLW0603 - one warning per process, not one per record
    if rejected is not None:
        _log.warning(REJECTED_EVENT, rejected_trace_id=rejected)
    elif not _missing_reported:
        _missing_reported = True
        _log.warning(MISSING_TRACE_EVENT)


def _leave(state: ThreadState, context: trace_context, outer: trace_context | None) -> None:
    state.record = outer
    state.record_object = None
    try:
        context.__exit__(None, None, None)
    except Exception as exc:
        guard.failed(exc)


def _leave_entered_on_use(state: ThreadState) -> None:
    context = state.record
    if state.entered_on_use and context is not None:
        state.entered_on_use = False
        _leave(state, context, None)


def _one_by_one(records: Iterable[Any], group: str | None) -> Iterator[Any]:
    state = thread_state
    _leave_entered_on_use(state)
    outer = state.record
    context: trace_context | None = None
    try:
        for record in records:
            if guard.on:
                context = _enter_record(state, record, group)
            yield record
            if context is not None:
                _leave(state, context, outer)
                context = None
    finally:
        if context is not None:
            _leave(state, context, outer)


def _entered_on_use(record: Any) -> None:
    state = thread_state
    if state.record_object is record or not guard.on or state.in_function:
        return
    _leave_entered_on_use(state)
    if state.record is None and _enter_record(state, record, state.group) is not None:
        state.entered_on_use = True


_traced_classes: dict[type, type] = {}


def _traced_class(cls: type) -> type | None:
    """``cls`` (a namedtuple record class) with a ``partition`` that enters the record."""
    traced = _traced_classes.get(cls)
    if traced is None:
        plain = getattr(cls, "partition", None)
        if not isinstance(getattr(cls, "_fields", None), tuple) or plain is None:
            return None
        getter = plain.__get__

        def partition(self: Any) -> Any:
            _entered_on_use(self)
            return getter(self)

        # No __slots__: an instance keeps the trace id it was given (see _enter_record).
        traced = type(cls.__name__, (cls,), {"partition": property(partition)})
        _traced_classes[cls] = traced
    return traced


def _traced_records(records: list[Any]) -> list[Any]:
    if not records:
        return records
    traced = _traced_class(type(records[0]))
    if traced is None:
        return records
    make = tuple.__new__
    return [make(traced, record) if type(record) is not traced else record for record in records]


class TracedRecords(list[Any]):
    """One partition's records from a poll: iterating them enters each record's trace."""

    __slots__ = ("_group",)

    def __init__(self, records: Iterable[Any], group: str | None) -> None:
        super().__init__(records)
        self._group = group

    def __iter__(self) -> Iterator[Any]:
        return _one_by_one(list.__iter__(self), self._group)


def _group_of(consumer: Any) -> str | None:
    config = getattr(consumer, "config", None)
    group = config.get("group_id") if isinstance(config, dict) else None
    return group if isinstance(group, str) else None


def traced_poll(original: Callable[..., Any]) -> Callable[..., Any]:
    """``KafkaConsumer.poll`` whose batches enter each record's trace as they are used."""

    def poll(self: Any, *args: Any, **kwargs: Any) -> Any:
        batches = original(self, *args, **kwargs)
        if not guard.on:
            return batches
        try:
            state = thread_state
            _leave_entered_on_use(state)
            if state.record is None:
                # A new batch: outputs of the last one that were never sent are not coming.
                state.pending.clear()
                if state.sent:
                    report_sent()
            if not batches:
                return batches
            group = state.group = _group_of(self)
            return {
                partition: TracedRecords(_traced_records(records), group)
                for partition, records in batches.items()
            }
        except Exception as exc:
            guard.failed(exc)
            return batches

    return poll


def _has_trace_headers(headers: Any) -> bool:
    try:
        return any(pair[0] in _TRACE_HEADERS for pair in headers)
    except Exception:
        return False


def outgoing_headers(topic: Any, headers: Any) -> Any:
    """The headers to send a record with (see the module docstring for whose trace)."""
    if headers and _has_trace_headers(headers):
        return headers
    state = thread_state
    if state.record is not None:
        if not (state.entered_on_use and state.pending) or state.in_function:
            state.dead_letter_due = False
            return inject_headers(headers)
        if state.dead_letter_due:  # the dead letter of the record that just failed
            state.dead_letter_due = False
            return inject_headers(headers)
        _leave_entered_on_use(state)  # the batch's outputs are going out: that record is done
    if state.pending:
        trace_id, carrier = state.pending.popleft()
        sent = state.sent.get(topic)
        if sent is None:
            state.sent[topic] = [trace_id]
        else:
            sent.append(trace_id)
        return [*carrier, *headers] if headers else list(carrier)
    return traced_headers(headers)[0]


def report_sent() -> None:
    """Log one line per topic for the batch outputs sent since the last report.

    The outputs of a batch belong to many traces: the line lists them in ``trace_ids``, so
    ``moose-trace logs --trace <id>`` finds the produce of that id's outputs.
    """
    sent = thread_state.sent
    thread_state.sent = {}
    for topic, trace_ids in sent.items():
        _log.info(
            OUTPUTS_SENT_EVENT,
            layer="streaming",
            operation="produce",
            kafka_topic=topic,
            records=len(trace_ids),
            trace_ids=list(dict.fromkeys(trace_ids)),
        )


def traced_flush(original: Callable[..., Any]) -> Callable[..., Any]:
    """``KafkaProducer.flush`` that then reports the batch outputs it delivered."""

    def flush(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if guard.on and thread_state.sent:
            try:
                report_sent()
            except Exception as exc:
                guard.failed(exc)
        return result

    return flush


def traced_send(original: Callable[..., Any]) -> Callable[..., Any]:
    """``KafkaProducer.send`` that adds the trace headers (``outgoing_headers``)."""

    def send(
        self: Any,
        topic: Any,
        value: Any = None,
        key: Any = None,
        headers: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if guard.on:
            try:
                headers = outgoing_headers(topic, headers)
            except Exception as exc:
                guard.failed(exc)
        return original(self, topic, value, key, headers, *args, **kwargs)

    return send
