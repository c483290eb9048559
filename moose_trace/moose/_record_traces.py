"""Entering and leaving a consumed record's trace (the consumer and producer hooks share it).

A record's trace comes from its headers (``trace_id``, else ``traceparent``, else a new UUIDv7).
The usual header shapes are read without the general parser (``usual_trace_ids``); any other
goes by the general rules, and what the headers said beyond the id (flags, tracestate,
baggage) is bound inside the trace, to be sent on with the record's outputs. A record entered
when first used (copied out of a poll's lists before iterating) is a context of its own, fields
and all; it ends at the next record, the next poll, or the first send of the batch's outputs.
"""

from __future__ import annotations

from typing import Any

import structlog

from moose_trace.kafka.consumer import REJECTED_EVENT
from moose_trace.kafka.headers import incoming_trace, message_fields, usual_trace_ids
from moose_trace.moose._record_classes import RecordShape, shape_of
from moose_trace.moose._state import ThreadState, guard, thread_state
from moose_trace.tracing.context import bound_pairs, enter_prepared, trace_context
from moose_trace.tracing.ids import new_trace_id
from moose_trace.tracing.propagation import IncomingTrace, bind_incoming

__all__ = [
    "MISSING_TRACE_EVENT",
    "bind_incoming_or_warn",
    "enter_general",
    "enter_on_use",
    "exit_context",
    "leave_entered_on_use",
    "record_trace",
]

MISSING_TRACE_EVENT = "kafka records arrive without a trace id; each starts a new trace here"
"""The ``event`` of the one warning logged the first time a record has no trace headers."""

_log = structlog.get_logger("moose_trace.moose")
_missing_reported = False


def record_trace(record: Any, shape: RecordShape) -> tuple[str, str | None, IncomingTrace | None]:
    """``(trace_id, parent span id, what else the headers said)`` of a traced-class record.

    The usual header shapes are read directly; any other goes by the general rules. A record
    with no valid id gets a new one, kept on the record: entered again (copied while iterated,
    then used), it gets the same trace and no second warning. ``bind_incoming_or_warn`` takes the
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


def bind_incoming_or_warn(incoming: IncomingTrace) -> None:
    """Inside the record's trace: bind what its headers said beyond the id (flags, tracestate,
    baggage, sent on with its outputs), or warn that it had no valid id."""
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


def enter_general(state: ThreadState, record: Any, group: str | None) -> trace_context | None:
    """Enter ``record``'s trace as a context of its own, fields and all (records of a class the
    hooks do not know, and records entered when first used). ``None`` if the hook failed."""
    state.record_object = record  # first: reading its fields below must not enter it again
    try:
        shape = shape_of(record)
        if shape is not None:
            trace_id, parent, incoming = record_trace(record, shape)
        else:
            incoming = incoming_trace(record)
            trace_id, parent = incoming.trace_id or new_trace_id(), incoming.parent_span_id
        fields = message_fields(record)
        if group is not None:
            fields["consumer_group"] = group
        context = enter_prepared(trace_id, bound_pairs(fields), None, parent)
        if incoming is not None:
            bind_incoming_or_warn(incoming)
    except Exception as exc:
        guard.failed(exc)
        state.record_object = None
        return None
    state.record = context
    return context


def exit_context(context: trace_context) -> None:
    """Exit a record's own context (``enter_general``'s); a failure turns the hooks off."""
    try:
        context.__exit__(None, None, None)
    except Exception as exc:
        guard.failed(exc)


def leave_entered_on_use(state: ThreadState) -> None:
    """End the trace of a record entered when first used, if one is in."""
    context = state.record
    if state.entered_on_use and context is not None:
        state.entered_on_use = False
        state.record = None
        state.record_object = None
        exit_context(context)


def enter_on_use(record: Any) -> None:
    """Enter ``record``'s trace on its first use (a record copied out of a poll's lists)."""
    state = thread_state
    if not guard.on or state.in_function:
        return
    leave_entered_on_use(state)
    if state.record is None and enter_general(state, record, state.group) is not None:
        state.entered_on_use = True
