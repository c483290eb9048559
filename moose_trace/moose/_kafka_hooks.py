"""kafka-python hooks: each consumed record is handled inside its trace, each sent record
carries one.

The same conventions as OpenTelemetry's kafka-python instrumentation, on the same seams:

- ``KafkaConsumer.poll`` returns its batch with each partition's list replaced by a
  ``TracedRecords`` list. Iterating it enters each record's trace (header ``trace_id``, else
  ``traceparent``, else a new UUIDv7) with ``kafka_topic``, ``kafka_partition``,
  ``kafka_offset`` and ``consumer_group`` bound, and leaves it when the loop moves on, ends or
  breaks. ``for record in consumer`` goes through ``poll`` too, so it is covered alike.
- ``KafkaProducer.send`` without trace headers gets ``trace_id`` + ``traceparent``: of the
  record being handled when there is one; else, when outputs of a handled batch are waiting
  (Moose sends a batch's outputs after the whole batch), of the next such output; else of the
  current context, or of a new trace. A caller's own trace headers are kept as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog

from moose_trace.context import bound_pairs, enter_prepared, trace_context
from moose_trace.ids import new_trace_id
from moose_trace.kafka.consumer import REJECTED_EVENT
from moose_trace.kafka.headers import incoming_trace, inject_headers, message_fields, traced_headers
from moose_trace.moose._state import guard, thread_state
from moose_trace.propagation import KAFKA_TRACE_HEADER, TRACEPARENT_HEADER

__all__ = ["MISSING_TRACE_EVENT", "TracedRecords", "traced_poll", "traced_send"]

MISSING_TRACE_EVENT = "kafka records arrive without a trace id; each starts a new trace here"
"""The ``event`` of the one warning logged the first time a record has no trace headers."""

_log = structlog.get_logger("moose_trace.moose")
_TRACE_HEADERS = frozenset({KAFKA_TRACE_HEADER, TRACEPARENT_HEADER})
_missing_reported = False


def _enter_record(record: Any, group: str | None) -> trace_context:
    global _missing_reported  # noqa: PLW0603 - one warning per process, not one per record
    incoming = incoming_trace(record)
    fields = message_fields(record)
    if group is not None:
        fields["consumer_group"] = group
    context = enter_prepared(incoming.trace_id or new_trace_id(), bound_pairs(fields))
    if incoming.trace_id is None:
        if incoming.rejected is not None:
            _log.warning(REJECTED_EVENT, rejected_trace_id=incoming.rejected)
        elif not _missing_reported:
            _missing_reported = True
            _log.warning(MISSING_TRACE_EVENT)
    return context


def _leave(context: trace_context) -> None:
    try:
        context.__exit__(None, None, None)
    except Exception as exc:
        guard.failed(exc)


def _one_by_one(records: Iterable[Any], group: str | None) -> Iterator[Any]:
    state = thread_state
    outer = state.record
    context: trace_context | None = None
    try:
        for record in records:
            if guard.on:
                try:
                    context = _enter_record(record, group)
                except Exception as exc:
                    guard.failed(exc)
                else:
                    state.record = context
                    state.failure = None
            yield record
            if context is not None:
                _leave(context)
                context = None
                state.record = outer
    finally:
        if context is not None:
            _leave(context)
        state.record = outer


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
    """``KafkaConsumer.poll`` whose batches enter each record's trace as they are iterated."""

    def poll(self: Any, *args: Any, **kwargs: Any) -> Any:
        batches = original(self, *args, **kwargs)
        if not guard.on:
            return batches
        try:
            state = thread_state
            if state.record is None:
                # A new batch: outputs of the last one that were never sent are not coming.
                state.pending.clear()
            if not batches:
                return batches
            group = _group_of(self)
            return {
                partition: TracedRecords(records, group) for partition, records in batches.items()
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


def outgoing_headers(headers: Any) -> Any:
    """The headers to send a record with (see the module docstring for whose trace)."""
    if headers and _has_trace_headers(headers):
        return headers
    state = thread_state
    if state.record is None and state.pending:
        carrier = state.pending.popleft()
        return [*carrier, *headers] if headers else list(carrier)
    if state.record is not None:
        return inject_headers(headers)
    return traced_headers(headers)[0]


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
                headers = outgoing_headers(headers)
            except Exception as exc:
                guard.failed(exc)
        return original(self, topic, value, key, headers, *args, **kwargs)

    return send
