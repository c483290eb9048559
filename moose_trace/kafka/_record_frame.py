"""The frame of a consume loop's records: one per loop, pointed at each record in turn.

``traced_messages`` sets this frame (and no trace id) once per fetched batch; per record it
only assigns the message to ``message``. Nothing is parsed or bound until something needs the
record's trace: the first log line, ``current_trace_id()``/``current_span_id()``, a child
``trace_context`` or decorated call, a produce (its headers), a span. That reader finds no
trace id bound and calls ``bind_pending()``, which lands in ``bind``: the record's headers are
read (once per record, whatever the number of readers), and its trace id, its own frame (own
span, the sender's span as parent), ``kafka_topic``, ``kafka_partition``, ``kafka_offset``,
``consumer_group`` and what its carrier said beyond the id (flags, ``tracestate``, baggage) are
bound in the reader's context, until the loop moves on (``leave``). The batch's topic,
partition and group are bound with the frame, once per batch. A bound record's variables are
set without tokens and set back to pending by ``leave`` (two sets, no resets); the batch's
tokens restore the caller's state when the batch ends.

So a record whose handling logs nothing costs an attribute store; one that logs pays the same
binding as before, once.
"""

from __future__ import annotations

from typing import Any

import structlog

from moose_trace._fastpath import FRAME_VAR, TRACE_ID_VAR, field_var
from moose_trace.kafka.headers import incoming_trace, usual_trace_ids
from moose_trace.tracing.context import PendingFrame, leave_record, record_frame, trace_context
from moose_trace.tracing.ids import new_trace_id
from moose_trace.tracing.incoming import bind_incoming

__all__ = ["REJECTED_EVENT", "ConsumedRecords", "chain_binds_lazily"]

REJECTED_EVENT = "rejected incoming trace id"
"""The ``event`` of the warning for a message whose trace header held an invalid id."""

_log = structlog.get_logger("moose_trace.kafka")

# The very ContextVars that trace_context and structlog's merge_contextvars use for these keys.
_TOPIC = field_var("kafka_topic")
_PARTITION = field_var("kafka_partition")
_OFFSET = field_var("kafka_offset")
_GROUP = field_var("consumer_group")


def chain_binds_lazily() -> bool:
    """Whether the configured structlog chain can leave each record's trace unbound.

    Our ``merge_context`` binds a pending record when a line needs it; structlog's stock
    ``merge_contextvars`` (its default chain, or a user's own) only copies what is bound. With
    that one in the chain, ``traced_messages`` binds every record as it yields it, so those lines
    still carry the record's ``trace_id`` and ``kafka_offset``.
    """
    processors = structlog.get_config().get("processors", ())
    return not any(p is structlog.contextvars.merge_contextvars for p in processors)


class ConsumedRecords(PendingFrame):
    """The pending frame of ``traced_messages``' records (see the module's docstring).

    ``message`` is the record being handled (``None`` between batches). ``_record`` is its own
    frame once made (kept for every reader of the same record, so its span id is one);
    ``_record_of`` the message it was made for.
    """

    __slots__ = (
        "_group",
        "_incoming",
        "_moved",
        "_partition",
        "_record",
        "_record_of",
        "_rejected",
        "_topic",
        "message",
    )

    def __init__(self, consumer_group: str | None) -> None:
        self._group = consumer_group
        self._given = None
        self._span_id = None
        self._parent = None
        self._fields = {}
        self._tokens = []
        self.message: Any = None
        self._record: trace_context | None = None
        self._record_of: Any = None
        self._incoming: Any = None
        self._rejected: str | None = None
        self._topic: str | None = None
        self._partition: int | None = None
        self._moved = False  # a bound record of another partition than the batch's

    def enter_batch(self, first: Any) -> list[Any]:
        """Make this frame current for a batch starting with ``first``; the tokens undo it.

        No trace id is bound (a record's first reader binds it); the topic, partition and group
        are, as the batch's: most batches come from one partition.
        """
        topic, partition = first.topic(), first.partition()
        self._topic, self._partition = topic, partition
        tokens = [
            TRACE_ID_VAR.set(Ellipsis),
            FRAME_VAR.set(self),
            _TOPIC.set(topic),
            _PARTITION.set(partition),
            _OFFSET.set(Ellipsis),
        ]
        if self._group is not None:
            tokens.append(_GROUP.set(self._group))
        return tokens

    def _frame(self) -> trace_context:
        """The current record's own frame, read from its headers on the first call."""
        message = self.message
        record = self._record
        if record is not None and self._record_of is message:
            return record
        # No current record (a context copied inside the loop, read after it moved on): a trace
        # of its own rather than another record's.
        headers = None if message is None else message.headers()
        usual = usual_trace_ids(headers)
        if usual is not None:  # the producers' shape: the ids, nothing more to carry
            trace_id, parent = usual
            self._incoming = None
        else:
            incoming = incoming_trace(headers)
            if incoming.trace_id is None:
                trace_id, parent = new_trace_id(), None
                self._rejected = incoming.rejected
            else:
                trace_id, parent = incoming.trace_id, incoming.parent_span_id
            self._incoming = incoming if incoming.carries_more else None
        record = self._record = record_frame(trace_id, parent)
        self._record_of = message
        return record

    def bind(self) -> Any:
        """Bind the current record's trace and fields in this context; return its trace id."""
        message = self.message
        if message is None:
            return Ellipsis
        record = self._frame()
        trace_id = record.trace_id
        TRACE_ID_VAR.set(trace_id)
        FRAME_VAR.set(record)
        _OFFSET.set(message.offset())
        topic, partition = message.topic(), message.partition()
        if partition != self._partition or topic != self._topic:  # not the batch's
            _TOPIC.set(topic)
            _PARTITION.set(partition)
            self._moved = True
        if self._incoming is not None:
            bind_incoming(self._incoming)  # kept by the record's frame, undone with it
        rejected = self._rejected
        if rejected is not None:  # once per record, inside its context
            self._rejected = None
            _log.warning(REJECTED_EVENT, rejected_trace_id=rejected)
        return trace_id

    def end(self) -> None:
        """Undo what the bound record's body bound (the batch's tokens reset the rest)."""
        record = self._record
        if record is not None:
            leave_record(record)
            self._record = self._record_of = None

    def leave(self) -> None:
        """Set the record's variables back to pending and undo what its body bound.

        Called by the loop before the next record of the batch, when this one was bound.
        """
        self.end()
        TRACE_ID_VAR.set(Ellipsis)
        FRAME_VAR.set(self)
        if self._moved:
            _TOPIC.set(self._topic)
            _PARTITION.set(self._partition)
            self._moved = False

    def _bound(self) -> trace_context:
        """The current record's frame, its trace bound (a reader asked for its ids)."""
        self.bind()
        return self._frame()

    @property
    def trace_id(self) -> str:  # type: ignore[override]
        """The current record's trace id."""
        return self._bound().trace_id

    @property
    def span_id(self) -> str:
        """The current record's own span id."""
        return self._bound().span_id

    @property
    def parent_span_id(self) -> str | None:
        """The span that sent the current record (its ``traceparent``), else ``None``."""
        return self._bound().parent_span_id

    def _remember(self, token: Any) -> None:
        # Fields bound while the record is pending: bind it, so they end with its own frame.
        self.bind()
        self._frame()._remember(token)
