"""kafka-python's ``KafkaConsumer.poll`` hooked: each consumed record is handled inside its trace.

The same conventions as OpenTelemetry's kafka-python instrumentation, on the same seam:
``poll`` returns its batch with each partition's list replaced by a ``TracedRecords`` list.
Iterating it enters each record's trace (``moose_trace.moose._record_traces``) with
``kafka_topic``, ``kafka_partition``, ``kafka_offset`` and ``consumer_group`` bound, and leaves
it when the loop moves on, ends or breaks. ``for record in consumer`` goes through ``poll`` too,
so it is covered alike. Per record only what changes is set — the offset and the record's frame
(its trace id and span), as ``traced_messages`` does — and the usual header shapes are read
without the general parser; the partition's fields are bound once and everything is restored
after its last. Records copied out of the lists before iterating are entered when first used
(``moose_trace.moose._record_classes``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from moose_trace._fastpath import FRAME_VAR, TRACE_ID_VAR, field_var
from moose_trace.kafka.headers import usual_trace_ids
from moose_trace.moose._producer_hooks import report_sent
from moose_trace.moose._record_classes import RecordShape, shape_of, traced_records
from moose_trace.moose._record_traces import (
    bind_incoming_or_warn,
    enter_general,
    enter_on_use,
    exit_context,
    leave_entered_on_use,
    record_trace,
)
from moose_trace.moose._state import guard, thread_state
from moose_trace.tracing.context import enter_record, leave_record, trace_context

__all__ = ["TracedRecords", "traced_poll"]

_TOPIC_VAR = field_var("kafka_topic")
_PARTITION_VAR = field_var("kafka_partition")
_OFFSET_VAR = field_var("kafka_offset")
_GROUP_VAR = field_var("consumer_group")


def _one_by_one(records: Iterable[Any], group: str | None) -> Iterator[Any]:
    """Yield ``records`` (one partition's, of one poll) each inside its trace.

    The way ``traced_messages`` binds a batch: the partition's topic, partition and group are
    bound once, each record sets only its offset and its frame (the trace id and its span);
    the tokens of the first sets restore everything when the loop ends, breaks or raises.
    """
    state = thread_state
    leave_entered_on_use(state)
    outer = state.record
    outer_object = state.record_object
    tokens: list[contextvars.Token[Any]] | None = None
    frame: trace_context | None = None
    shape: RecordShape | None = None
    set_offset = _OFFSET_VAR.set
    try:
        for record in records:
            if guard.on:
                try:
                    if tokens is None:
                        shape = shape_of(record)
                        if shape is not None:
                            tokens = _bind_partition(record, shape, group)
                    if shape is None:
                        frame = enter_general(state, record, group)
                    else:
                        usual = None
                        if record._moose_trace is None:
                            usual = usual_trace_ids(record[shape.headers])
                        if usual is not None:  # the common case, in line
                            set_offset(record[shape.offset])
                            frame = enter_record(*usual)
                        else:
                            trace_id, parent, incoming = record_trace(record, shape)
                            set_offset(record[shape.offset])
                            frame = enter_record(trace_id, parent)
                            if incoming is not None:
                                bind_incoming_or_warn(incoming)
                        state.record_object = record
                        state.record = frame
                except Exception as exc:
                    guard.failed(exc)
                    frame = None
            yield record
            if frame is not None:
                if shape is None:
                    exit_context(frame)
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


def _leave(frame: trace_context, shape: RecordShape | None) -> None:
    """Leave a record: undo what its handling bound (a frame of ``enter_record``), or exit
    its context (``enter_general``'s)."""
    if shape is None:
        exit_context(frame)
    else:
        leave_record(frame)


def _bind_partition(
    record: Any, shape: RecordShape, group: str | None
) -> list[contextvars.Token[Any]]:
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
            leave_entered_on_use(state)
            if state.record is None:
                # A new batch: outputs of the last one that were never sent are not coming.
                state.pending.clear()
                if state.sent:
                    report_sent()
            if not batches:
                return batches
            group = state.group = _group_of(self)
            return {
                partition: TracedRecords(traced_records(records, enter_on_use), group)
                for partition, records in batches.items()
            }
        except Exception as exc:
            guard.failed(exc)
            return batches

    return poll
