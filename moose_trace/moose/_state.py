"""What the hooks share: the record being handled on this thread, queued output headers, and
the guard that turns the hooks off after their first failure."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import structlog

from moose_trace.kafka.headers import KafkaHeaders
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import TraceIdList

__all__ = ["HOOK_FAILED_EVENT", "Guard", "ThreadState", "guard", "thread_state"]

HOOK_FAILED_EVENT = "moose-trace hook failed; continuing untraced"
"""The ``event`` of the one error line logged when a hook raised: tracing stops there."""

_log = structlog.get_logger("moose_trace.moose")


class ThreadState(threading.local):
    """Per thread: the record being handled, and the trace of outputs not yet sent/reported.

    Moose's runner handles a poll batch record by record, then sends every output of the batch
    in the order the functions returned them: ``pending`` holds each output's headers in that
    order, taken one per send.
    """

    record: trace_context | None
    pending: deque[tuple[str, KafkaHeaders]]
    """``(trace_id, headers)`` of each output queued, in the order the runner sends them."""
    sent: dict[str, TraceIdList]
    """Topic → trace ids of the queued outputs sent since the last report (``flush``)."""
    failure: tuple[trace_context, str, str] | None
    """``(record, error_category, error_type)``: the record on which a user function raised
    last (an entry of another record than ``record`` is stale, never read)."""
    record_object: Any
    """The consumer record whose trace ``record`` is (identity, to spot a record already in)."""
    entered_on_use: bool
    """``record`` was entered when the record was first used, not by iterating the poll's lists
    (the runner copied them first): it ends at the next record, poll, or batch output send."""
    in_function: bool
    """Inside ``StructuredLogContext.run``: a send there is the user function's own."""
    dead_letter_for: trace_context | None
    """The record a user function just raised on: while it is ``record``, the next send is its
    dead letter."""
    group: str | None
    """The consumer group of the consumer this thread polled last."""

    def __init__(self) -> None:
        self.record = None
        self.pending = deque()
        self.sent = {}
        self.failure = None
        self.record_object = None
        self.entered_on_use = False
        self.in_function = False
        self.dead_letter_for = None
        self.group = None


thread_state = ThreadState()


class Guard:
    """On until a hook fails: then one error line, and every hook passes straight through."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False

    def failed(self, exc: BaseException) -> None:
        """Turn the hooks off and log why, once (later failures cannot happen: they are off)."""
        if not self.on:
            return
        self.on = False
        try:
            _log.error(HOOK_FAILED_EVENT, error=exc)
        except Exception:
            return  # logging itself is broken: stay silent rather than disturb the runner

    def arm(self) -> None:
        """Turn the hooks on (``instrument()``)."""
        self.on = True

    def disarm(self) -> None:
        """Turn the hooks off without a log line (``uninstrument()``)."""
        self.on = False


guard = Guard()
