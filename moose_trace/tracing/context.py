"""The current trace context: trace id and fields in contextvars, visible to structlog.

Every key lives in the very ContextVar that ``structlog.contextvars`` uses for it, so a plain
``merge_contextvars`` processor (ours or the user's own chain) sees ``trace_id``, ``span_id`` and
every bound field with no extra step. Entering a context sets those variables; leaving resets them
with their tokens, which restores exactly the previous state, exceptions included. Threads and
asyncio tasks each have their own contextvars, so concurrent requests never see each other's ids.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog.contextvars as _structlog_cv
from opentelemetry import trace as otel_trace

from moose_trace._fastpath import (
    FIELD_VARS,
    FRAME_VAR,
    OTEL_CONTEXT_VAR,
    OTEL_SPAN_KEY,
    TRACE_ID_VAR,
    field_var,
)
from moose_trace.tracing.ids import new_trace_id, parse_trace_id, trace_id_from_int

if TYPE_CHECKING:
    from moose_trace.tracing.propagation import IncomingTrace

__all__ = [
    "bind_fields",
    "current_fields",
    "current_parent_span_id",
    "current_span_id",
    "current_trace_id",
    "new_span_id",
    "trace_context",
]

# What the incoming carrier said beyond the id (parent, flags, tracestate, baggage): set by
# ``propagation.bind_incoming`` inside the incoming trace's context, reset with it.
_INCOMING: contextvars.ContextVar[IncomingTrace | None] = contextvars.ContextVar(
    "moose_trace_incoming", default=None
)
_last_valid: Any = None
_current_span = otel_trace.get_current_span
_Span = otel_trace.Span
_otel_context_var = OTEL_CONTEXT_VAR if OTEL_SPAN_KEY else None
_otel_span_key: str = OTEL_SPAN_KEY or ""


# Span ids made ahead, 512 at a time from one ``os.urandom`` call: a new context's first line
# takes one with a ``list.pop`` instead of drawing and formatting 64 random bits.
_SPAN_BATCH_BYTES = 8 * 512
_ZERO_SPAN_ID = "0" * 16
_span_ids: list[str] = []
_take_span_id = _span_ids.pop


def _make_span_ids() -> None:
    text = os.urandom(_SPAN_BATCH_BYTES).hex()
    made = [text[at : at + 16] for at in range(0, len(text), 16)]
    _span_ids.extend(span for span in made if span != _ZERO_SPAN_ID)


def new_span_id() -> str:
    """Return a random 64-bit span id as 16 lowercase hex digits (never all zeros)."""
    try:
        return _take_span_id()
    except IndexError:  # (also when another thread took the last one meanwhile)
        _make_span_ids()
        return new_span_id()


# A forked child must not hand out the parent's ids made ahead (no fork: nothing to do).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_span_ids.clear)


def _otel_trace_id() -> str | None:
    """The active OpenTelemetry span's trace id (canonical), or ``None`` without a valid span."""
    if _otel_context_var is not None:
        # What ``get_current_span()`` reads, minus its Python frames: this runs for every new
        # root context (a request, a record without an id), nearly always with no span at all.
        span = _otel_context_var.get().get(_otel_span_key)
        if span is None:
            return None
        if not isinstance(span, _Span):
            span = _current_span()
    else:
        span = _current_span()
    span_context = span.get_span_context()
    return trace_id_from_int(span_context.trace_id) if span_context.is_valid else None


def current_trace_id() -> str | None:
    """Return the trace id of the current context, or ``None`` outside any trace.

    Outside any ``trace_context`` but inside a valid OpenTelemetry span (a span started by
    OpenTelemetry's own instrumentation), that span's trace id: the one its log lines carry.
    """
    value = TRACE_ID_VAR.get()
    if value is Ellipsis:
        value = bind_pending()
        if value is Ellipsis:
            return _otel_trace_id()
    return value  # type: ignore[no-any-return]


def current_span_id() -> str | None:
    """Return the span id of the innermost trace context (16 hex digits), or ``None``.

    Outside any ``trace_context`` but inside a valid local OpenTelemetry span, that span's id.
    """
    frame = FRAME_VAR.get()
    if frame is not None:
        return frame.span_id
    span_context = _current_span().get_span_context()
    if span_context.is_valid and not span_context.is_remote:
        return f"{span_context.span_id:016x}"
    return None


def current_incoming() -> IncomingTrace | None:
    """Return what the incoming carrier of this context said beyond its id (internal).

    Set by ``moose_trace.tracing.propagation.bind_incoming``; ``None`` when nothing was kept.
    """
    if TRACE_ID_VAR.get() is Ellipsis:
        bind_pending()
    return _INCOMING.get()


def set_incoming(
    incoming: IncomingTrace | None, *, remember: bool = True
) -> contextvars.Token[IncomingTrace | None]:
    """Keep ``incoming`` until the current trace context exits (internal: ``bind_incoming``).

    ``remember=False``: the caller resets the returned token itself (a consume loop that binds
    records without a ``trace_context`` frame of their own).
    """
    token = _INCOMING.set(incoming)
    if remember:
        frame = FRAME_VAR.get()
        if frame is not None:
            frame._remember(token)
    return token


def current_parent_span_id() -> str | None:
    """Return the span id of the trace context enclosing the innermost one, or ``None``."""
    frame = FRAME_VAR.get()
    return None if frame is None else frame.parent_span_id


def current_fields() -> dict[str, Any]:
    """Return a copy of everything bound for logging in this context (trace id and fields)."""
    if TRACE_ID_VAR.get() is Ellipsis:
        bind_pending()
    return _structlog_cv.get_contextvars()


def _inherited(current: Any) -> str:
    """The trace id a context inside ``current``'s trace takes: ``current`` itself when the
    enclosing frame bound it (canonical already), else validated like a given id.

    So every frame's ``trace_id`` is canonical by construction (the log line passes it through
    redaction unread): a trace id bound by other means (``bind_contextvars(trace_id=…)``) is
    checked once here; an invalid one is replaced by a new id, as a given one is.
    """
    frame = FRAME_VAR.get()
    # (A pending frame's ``trace_id`` would bind its record: never asked here.)
    if frame is not None and not isinstance(frame, PendingFrame) and frame.trace_id is current:
        return current
    return parse_trace_id(current) or new_trace_id()


class trace_context:
    """Bind a trace id and fields for the code inside ``with`` (or ``async with``).

    ``trace_id`` is validated: a valid id in any accepted form is normalized; ``None`` keeps the
    current context's id, else the active OpenTelemetry span's trace id, else makes a new UUIDv7;
    an invalid id is replaced by a new one (it never reaches a log line). Each context has its
    own ``span_id`` (pass one to use an OpenTelemetry span's; otherwise a random one is made the
    first time it is asked for). Its ``parent_span_id`` is the one given (the span that sent the
    request or record this context handles), else the enclosing context's span, else, at the
    root, the incoming ``traceparent``'s span kept by ``bind_incoming``. On exit every variable
    is reset to what it was, so nothing leaks, even when the body raises.
    """

    __slots__ = ("_fields", "_given", "_parent", "_span_id", "_tokens", "trace_id")

    trace_id: str
    """The canonical trace id bound by this context (set on enter): made, validated or taken
    from the enclosing frame, never an unchecked text."""
    _tokens: list[contextvars.Token[Any]]
    _fields: Mapping[str, Any]

    def __init__(
        self,
        trace_id: str | bytes | None = None,
        *,
        span_id: str | None = None,
        parent_span_id: str | None = None,
        **fields: Any,
    ) -> None:
        self._given = trace_id
        self._span_id = span_id
        self._parent = parent_span_id
        self._fields = fields

    @property
    def span_id(self) -> str:
        """This context's span id: the one given, else a random 64-bit id made on first use."""
        span_id = self._span_id
        if span_id is None:
            span_id = self._span_id = new_span_id()
        return span_id

    @property
    def parent_span_id(self) -> str | None:
        """The parent given (the sender of the request or record), else the enclosing context's
        span id, else, at the root, the incoming trace's caller span (``traceparent``, kept by
        ``bind_incoming``), else ``None``."""
        given = self._parent
        if given is not None:
            return given
        enclosing = self._tokens[1].old_value
        if isinstance(enclosing, trace_context):
            return enclosing.span_id
        incoming = _INCOMING.get()
        if incoming is not None and incoming.trace_id == self.trace_id:
            return incoming.parent_span_id
        return None

    def __enter__(self) -> trace_context:
        global _last_valid  # noqa: PLW0603 - a one-entry cache shared by all contexts
        given = self._given
        if given is None:
            tid = TRACE_ID_VAR.get()
            if tid is Ellipsis:
                tid = bind_pending()
            tid = (_otel_trace_id() or new_trace_id()) if tid is Ellipsis else _inherited(tid)
        elif given is _last_valid:
            # The very string object validated last time (an id handed from the middleware to the
            # decorators, or reused in a loop): it is immutable, so it is still valid.
            tid = given
        else:
            tid = parse_trace_id(given) or new_trace_id()
            _last_valid = tid
        self.trace_id = tid
        tokens = [TRACE_ID_VAR.set(tid), FRAME_VAR.set(self)]
        fields = self._fields
        if fields:
            append = tokens.append
            known = FIELD_VARS
            try:
                for key, value in fields.items():
                    append(known[key].set(value))
            except KeyError:  # a key never bound before: make its variable, go on from there
                for key, value in list(fields.items())[len(tokens) - 2 :]:
                    append(field_var(key).set(value))
        self._tokens = tokens
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tokens = self._tokens
        try:
            for token in reversed(tokens):
                token.var.reset(token)
        except ValueError:
            reset_tokens(tokens)

    async def __aenter__(self) -> trace_context:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _remember(self, token: contextvars.Token[Any]) -> None:
        self._tokens.append(token)


def reset_tokens(tokens: list[contextvars.Token[Any]]) -> None:
    """Reset each token not used yet, newest first; one that cannot be reset is skipped.

    For bindings that may be undone from another context (a generator closed by a finalizer)
    or after one of them was already reset (internal: the consume loops).
    """
    for token in reversed(tokens):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            # ValueError: a field bound from a child task, whose value lives in that task's
            # Context (nothing of ours to undo); RuntimeError: a token reset before the failure.
            continue


def bound_pairs(fields: Mapping[str, Any]) -> tuple[tuple[contextvars.ContextVar[Any], Any], ...]:
    """Return ``fields`` as ``(ContextVar, value)`` pairs, for ``enter_prepared`` (internal)."""
    found = FIELD_VARS
    return tuple((found.get(key) or field_var(key), value) for key, value in fields.items())


def enter_prepared(
    trace_id: str | None,
    fields: tuple[tuple[contextvars.ContextVar[Any], Any], ...],
    span_id: str | None = None,
    parent_span_id: str | None = None,
) -> trace_context:
    """Build and enter a ``trace_context`` from prepared parts (internal: the decorators' path).

    ``trace_id`` must be canonical already (from ``parse_trace_id``) or ``None``; ``fields``
    come from ``bound_pairs``; ``parent_span_id``, when given, is the parent instead of the
    enclosing context (the input record's sender). Leave it with ``__exit__`` like any
    ``trace_context``.
    """
    context = _new_context(trace_context)
    context._given = None
    context._span_id = span_id
    context._parent = parent_span_id
    context._fields = _NO_FIELDS  # already bound below; a prepared context is entered once
    if trace_id is None:
        trace_id = TRACE_ID_VAR.get()
        if trace_id is Ellipsis:
            trace_id = bind_pending()
        trace_id = (
            _otel_trace_id() or new_trace_id() if trace_id is Ellipsis else _inherited(trace_id)
        )
    context.trace_id = trace_id
    context._tokens = tokens = [TRACE_ID_VAR.set(trace_id), FRAME_VAR.set(context)]
    append = tokens.append
    for var, value in fields:
        append(var.set(value))
    return context


_new_context = object.__new__
_NO_FIELDS: Mapping[str, Any] = {}


class _RecordFrame(trace_context):
    """The frame of one consumed record: its own span, its sender's span as parent (or none).

    A consume loop's records follow one another in one context, not nested: the parent is what
    the record says, never the loop's enclosing context.
    """

    __slots__ = ()

    @property
    def parent_span_id(self) -> str | None:
        """The span that sent the record (its ``traceparent``), else ``None``."""
        return self._parent

    def _remember(self, token: contextvars.Token[Any]) -> None:
        # Most records' bodies bind nothing: their token list is made on the first binding.
        tokens = self._tokens
        if tokens is _NO_TOKENS:
            self._tokens = [token]
        else:
            tokens.append(token)


# A record frame's tokens until its body binds a field (never appended to: see _remember).
_NO_TOKENS: list[contextvars.Token[Any]] = []


def record_frame(trace_id: str, parent_span_id: str | None = None) -> trace_context:
    """Make (not enter) the frame of one consumed record: its own span, its sender's as parent.

    ``trace_id`` must be canonical already. Bind it with ``TRACE_ID_VAR`` and ``FRAME_VAR``;
    ``leave_record`` undoes what its body bound with ``bind_fields`` (internal).
    """
    frame = _new_context(_RecordFrame)
    frame._span_id = None
    frame._parent = parent_span_id
    frame._tokens = _NO_TOKENS
    frame.trace_id = trace_id
    return frame


def enter_record(trace_id: str, parent_span_id: str | None = None) -> trace_context:
    """Make a consumed record's trace current in a consume loop (internal: ``traced_messages``).

    Sets the trace id and a frame of the record's own, so ``current_span_id()`` in the loop's
    body is the record's span and a ``trace_context`` entered there is its child. No tokens: the
    loop saves the trace id and the frame before its first record and restores them after its
    last; ``leave_record`` undoes what the body bound with ``bind_fields`` before the next one.
    ``trace_id`` must be canonical already.
    """
    frame = record_frame(trace_id, parent_span_id)
    TRACE_ID_VAR.set(trace_id)
    FRAME_VAR.set(frame)
    return frame


def leave_record(frame: trace_context) -> None:
    """Undo what was bound with ``bind_fields`` inside a record's frame (see ``enter_record``)."""
    tokens = frame._tokens
    if tokens:
        reset_tokens(tokens)
        frame._tokens = _NO_TOKENS


class PendingFrame(trace_context):
    """A frame whose trace is read only when something needs it (internal: consume loops).

    A consume loop sets one such frame, and no trace id, for a whole batch of records; per
    record it only points the frame at the next one. The first reader that finds no trace id
    bound but this frame current (a log line, ``current_trace_id()``, a child context, a
    produce, a span) calls ``bind_pending()``, and the frame binds the record's trace id and
    fields for real, in the reader's context, until the loop moves on. A record whose handling
    needs nothing of its trace costs no header parsing and no ContextVar set.
    """

    __slots__ = ()

    def bind(self) -> Any:
        """Bind the current record's trace id, frame and fields; return the trace id.

        ``Ellipsis`` when there is no current record (then nothing is bound).
        """
        raise NotImplementedError


def bind_pending() -> Any:
    """Bind the pending record's trace, when a ``PendingFrame`` is current (internal).

    For readers that found no trace id bound: returns the trace id now bound, or ``Ellipsis``
    when no record is pending (the reader goes on as outside any trace context).
    """
    frame = FRAME_VAR.get()
    if frame is not None and isinstance(frame, PendingFrame):
        return frame.bind()
    return Ellipsis


def context_snapshot() -> contextvars.Context:
    """A copy of the current context for work that may outlive it (another thread, a task).

    A consumed record whose trace is still pending is bound first, so the copy keeps that
    record's trace after the loop has moved on to the next one.
    """
    if TRACE_ID_VAR.get() is Ellipsis:
        bind_pending()
    return contextvars.copy_context()


def bind_fields(**fields: Any) -> None:
    """Add fields to the current trace context; they are removed when that context exits.

    Use it for facts learned mid-request (the authenticated ``principal``, a record count).
    Outside any trace context it binds like ``structlog.contextvars.bind_contextvars``.
    """
    frame = FRAME_VAR.get()
    for key, value in fields.items():
        token = field_var(key).set(value)
        if frame is not None:
            frame._remember(token)
