"""kafka-python hooks: each consumed record is handled inside its trace, each sent record
carries one.

The same conventions as OpenTelemetry's kafka-python instrumentation, on the same seams:

- ``KafkaConsumer.poll`` returns its batch with each partition's list replaced by a
  ``TracedRecords`` list. Iterating it enters each record's trace (header ``trace_id``, else
  ``traceparent``, else a new UUIDv7) with ``kafka_topic``, ``kafka_partition``,
  ``kafka_offset`` and ``consumer_group`` bound, and leaves it when the loop moves on, ends or
  breaks. ``for record in consumer`` goes through ``poll`` too, so it is covered alike. Per
  record only what changes is set — the offset and the record's frame (its trace id and span),
  as ``traced_messages`` does — and the usual header shapes are read without the general
  parser; the partition's fields are bound once and everything is restored after its last.
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

import contextvars
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog

from moose_trace._fastpath import FRAME_VAR, TRACE_ID_VAR, field_var
from moose_trace.kafka.consumer import REJECTED_EVENT
from moose_trace.kafka.headers import (
    incoming_trace,
    inject_headers,
    message_fields,
    traced_headers,
    usual_trace_ids,
)
from moose_trace.moose._state import ThreadState, guard, thread_state
from moose_trace.tracing.context import (
    bound_pairs,
    enter_prepared,
    enter_record,
    leave_record,
    trace_context,
)
from moose_trace.tracing.ids import TraceIdList, new_trace_id
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
_TOPIC_VAR = field_var("kafka_topic")
_PARTITION_VAR = field_var("kafka_partition")
_OFFSET_VAR = field_var("kafka_offset")
_GROUP_VAR = field_var("consumer_group")


class _Shape:
    """Where a record class keeps what the hooks read: tuple indexes, read without properties."""

    __slots__ = ("headers", "offset", "partition", "topic")

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.topic = fields.index("topic")
        self.partition = fields.index("partition")
        self.offset = fields.index("offset")
        self.headers = fields.index("headers")


def _record_trace(record: Any, shape: _Shape) -> tuple[str, str | None, IncomingTrace | None]:
    """``(trace_id, parent span id, what else the headers said)`` of a traced-class record.

    The usual header shapes are read directly; any other goes by the general rules. A record
    with no valid id gets a new one, kept on the record: entered again (copied while iterated,
    then used), it gets the same trace and no second warning. ``_bind_incoming`` takes the
    third item once the trace is entered.
    """
    known = record._moose_trace
    if known is not None:
        return known  # type: ignore[no-any-return]
    usual = usual_trace_ids(record[shape.headers])
    if usual is not None:
        return usual[0], usual[1], None
    incoming = incoming_trace(record)
    if incoming.trace_id is None:
        trace_id = new_trace_id()
        record._moose_trace = (trace_id, None, None)
        return trace_id, None, incoming  # the first time: the caller warns, inside the trace
    return incoming.trace_id, incoming.parent_span_id, incoming


def _bind_incoming(incoming: IncomingTrace) -> None:
    """Inside the record's trace: what its headers said beyond the id (flags, tracestate,
    baggage, sent on with its outputs), or the warning that it had no valid id."""
    if incoming.trace_id is None:
        _warn_untraced(incoming.rejected)
    else:
        bind_incoming(incoming)


def _warn_untraced(rejected: str | None) -> None:
    global _missing_reported  # noqa: PLW0603 - one warning per process, not one per record
    if rejected is not None:
        _log.warning(REJECTED_EVENT, rejected_trace_id=rejected)
    elif not _missing_reported:
        _missing_reported = True
        _log.warning(MISSING_TRACE_EVENT)


def _one_by_one(records: Iterable[Any], group: str | None) -> Iterator[Any]:
    """Yield ``records`` (one partition's, of one poll) each inside its trace.

    The way ``traced_messages`` binds a batch: the partition's topic, partition and group are
    bound once, each record sets only its offset and its frame (the trace id and its span);
    the tokens of the first sets restore everything when the loop ends, breaks or raises.
    """
    state = thread_state
    _leave_entered_on_use(state)
    outer = state.record
    outer_object = state.record_object
    tokens: list[contextvars.Token[Any]] | None = None
    frame: trace_context | None = None
    shape: _Shape | None = None
    set_offset = _OFFSET_VAR.set
    try:
        for record in records:
            if guard.on:
                try:
                    if tokens is None:
                        shape = _shape_of(record)
                        if shape is not None:
                            tokens = _bind_partition(record, shape, group)
                    if shape is None:
                        frame = _enter_general(state, record, group)
                    else:
                        usual = None
                        if record._moose_trace is None:
                            usual = usual_trace_ids(record[shape.headers])
                        if usual is not None:  # the common case, in line
                            set_offset(record[shape.offset])
                            frame = enter_record(*usual)
                        else:
                            trace_id, parent, incoming = _record_trace(record, shape)
                            set_offset(record[shape.offset])
                            frame = enter_record(trace_id, parent)
                            if incoming is not None:
                                _bind_incoming(incoming)
                        state.record_object = record
                        state.record = frame
                except Exception as exc:
                    guard.failed(exc)
                    frame = None
            yield record
            if frame is not None:
                if shape is None:
                    _exit(frame)
                else:
                    leave_record(frame)
                frame = None
    finally:
        state.record = outer
        state.record_object = outer_object
        if frame is not None:
            _leave(frame, shape)
        if tokens is not None:
            _restore(tokens)


def _leave(frame: trace_context, shape: _Shape | None) -> None:
    """Leave a record: undo what its handling bound (a frame of ``enter_record``), or exit
    its context (``_enter_general``'s)."""
    if shape is None:
        _exit(frame)
    else:
        leave_record(frame)


def _bind_partition(record: Any, shape: _Shape, group: str | None) -> list[contextvars.Token[Any]]:
    """Bind what one partition's records share; the tokens undo every variable set per record."""
    tokens = [
        TRACE_ID_VAR.set(TRACE_ID_VAR.get()),
        FRAME_VAR.set(FRAME_VAR.get()),
        _OFFSET_VAR.set(record[shape.offset]),
        _TOPIC_VAR.set(record[shape.topic]),
        _PARTITION_VAR.set(record[shape.partition]),
    ]
    if group is not None:
        tokens.append(_GROUP_VAR.set(group))
    return tokens


def _restore(tokens: list[contextvars.Token[Any]]) -> None:
    for token in reversed(tokens):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            continue  # closed from another context (a finalizer): nothing of ours is bound there


def _enter_general(state: ThreadState, record: Any, group: str | None) -> trace_context | None:
    """Enter ``record``'s trace as a context of its own, fields and all (records of a class the
    hooks do not know, and records entered when first used). ``None`` if the hook failed."""
    state.record_object = record  # first: reading its fields below must not enter it again
    try:
        shape = _shape_of(record)
        if shape is not None:
            trace_id, parent, incoming = _record_trace(record, shape)
        else:
            incoming = incoming_trace(record)
            trace_id, parent = incoming.trace_id or new_trace_id(), incoming.parent_span_id
        fields = message_fields(record)
        if group is not None:
            fields["consumer_group"] = group
        context = enter_prepared(trace_id, bound_pairs(fields), None, parent)
        if incoming is not None:
            _bind_incoming(incoming)
    except Exception as exc:
        guard.failed(exc)
        state.record_object = None
        return None
    state.record = context
    return context


def _exit(context: trace_context) -> None:
    try:
        context.__exit__(None, None, None)
    except Exception as exc:
        guard.failed(exc)


def _leave_entered_on_use(state: ThreadState) -> None:
    context = state.record
    if state.entered_on_use and context is not None:
        state.entered_on_use = False
        state.record = None
        state.record_object = None
        _exit(context)


def _entered_on_use(record: Any) -> None:
    state = thread_state
    if not guard.on or state.in_function:
        return
    _leave_entered_on_use(state)
    if state.record is None and _enter_general(state, record, state.group) is not None:
        state.entered_on_use = True


_traced_classes: dict[type, type] = {}
_shapes: dict[type, _Shape] = {}


def _shape_of(record: Any) -> _Shape | None:
    return _shapes.get(type(record))


def _traced_class(cls: type) -> type | None:
    """``cls`` (a namedtuple record class) with a ``partition`` that enters the record."""
    traced = _traced_classes.get(cls)
    if traced is None:
        plain = getattr(cls, "partition", None)
        fields = getattr(cls, "_fields", None)
        if not isinstance(fields, tuple) or plain is None:
            return None
        try:
            shape = _Shape(fields)
        except ValueError:  # not a record shaped like kafka-python's
            return None
        index = shape.partition
        state = thread_state

        def partition(self: Any) -> Any:
            if state.record_object is not self:  # not the record being handled: enter it
                _entered_on_use(self)
            return self[index]

        # No __slots__: a record given a new trace id keeps it (see _record_trace); the class
        # default answers for every other record without an instance dict.
        traced = type(
            cls.__name__, (cls,), {"partition": property(partition), "_moose_trace": None}
        )
        _traced_classes[cls] = traced
        _shapes[traced] = shape
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
    state = thread_state
    pending = state.pending
    if headers is None and pending and state.record is None:  # a batch's outputs: in order
        trace_id, carrier = pending.popleft()
        _note_sent(state, topic, trace_id)
        return carrier  # the input's own list, shared by its outputs: kafka-python only reads it
    if headers and _has_trace_headers(headers):
        return headers
    record = state.record
    if record is not None:
        if state.in_function or not (state.entered_on_use and pending):
            state.dead_letter_for = None
            return inject_headers(headers)
        if state.dead_letter_for is record:  # the dead letter of the record that just failed
            state.dead_letter_for = None
            return inject_headers(headers)
        _leave_entered_on_use(state)  # the batch's outputs are going out: that record is done
    if pending:
        trace_id, carrier = pending.popleft()
        _note_sent(state, topic, trace_id)
        return [*carrier, *headers] if headers else carrier
    return traced_headers(headers)[0]


def _note_sent(state: ThreadState, topic: Any, trace_id: str) -> None:
    sent = state.sent.get(topic)
    if sent is None:
        state.sent[topic] = TraceIdList((trace_id,))
    else:
        sent.append(trace_id)


def report_sent() -> None:
    """Log one line per topic for the batch outputs sent since the last report.

    The outputs of a batch belong to many traces: the line lists them in ``trace_ids``, so
    ``moose-trace logs --trace <id>`` finds the produce of that id's outputs. The ids are the
    records' own canonical ids: the list goes out as it is, unread by the redactor.
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
            trace_ids=TraceIdList(dict.fromkeys(trace_ids)),
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
