"""kafka-python's ``KafkaProducer.send`` and ``flush`` hooked: each sent record carries a trace.

- ``KafkaProducer.send`` without trace headers gets ``trace_id`` + ``traceparent``: of the
  record being handled when there is one; else, when outputs of a handled batch are waiting
  (Moose sends a batch's outputs after the whole batch), of the next such output; else of the
  current context, or of a new trace. A caller's own trace headers are kept as they are.
- ``KafkaProducer.flush`` (the runner flushes after sending a batch's outputs) then logs one
  line per topic, ``sent output records``, with ``records`` and the outputs' ``trace_ids``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from moose_trace.kafka.headers import inject_headers, traced_headers
from moose_trace.moose._record_traces import leave_entered_on_use
from moose_trace.moose._state import ThreadState, guard, thread_state
from moose_trace.tracing.ids import TraceIdList
from moose_trace.tracing.propagation import KAFKA_TRACE_HEADER, TRACEPARENT_HEADER

__all__ = [
    "OUTPUTS_SENT_EVENT",
    "outgoing_headers",
    "report_sent",
    "traced_flush",
    "traced_send",
]

OUTPUTS_SENT_EVENT = "sent output records"
"""The ``event`` of the info line per topic and batch: ``records`` sent, their ``trace_ids``."""

_log = structlog.get_logger("moose_trace.moose")
_TRACE_HEADERS = frozenset({KAFKA_TRACE_HEADER, TRACEPARENT_HEADER})


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
        leave_entered_on_use(state)  # the batch's outputs are going out: that record is done
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
