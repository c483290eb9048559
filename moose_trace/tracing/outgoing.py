"""Outgoing: what a call or a record sends onward from the running code.

The ids come from the active OpenTelemetry span when it speaks for the trace the moose-trace
context binds, else from that context; the trace flags, ``tracestate`` and baggage are the
incoming ones of the same trace (``incoming.bind_incoming`` kept them). ``headers_of`` writes
them as headers (the id header, ``traceparent``, ``tracestate``, ``baggage``).
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context

from moose_trace._fastpath import TRACE_ID_VAR
from moose_trace.tracing.baggage import BAGGAGE_HEADER, Baggage, BaggageMember, format_baggage
from moose_trace.tracing.context import (
    bind_pending,
    current_incoming,
    current_span_id,
    current_trace_id,
    new_span_id,
)
from moose_trace.tracing.ids import trace_id_from_int, trace_id_to_int
from moose_trace.tracing.incoming import IncomingTrace
from moose_trace.tracing.traceparent import (
    KNOWN_FLAGS,
    RANDOM_FLAG,
    SAMPLED_FLAG,
    TRACEPARENT_HEADER,
)
from moose_trace.tracing.tracestate import TRACESTATE_HEADER

__all__ = ["OutgoingTrace", "headers_of", "outgoing_context", "outgoing_headers", "outgoing_trace"]


@dataclass(frozen=True, slots=True)
class OutgoingTrace:
    """What goes out with a call or a record: ids, flags, ``tracestate`` and baggage."""

    trace_id: str
    span_id: str
    """The span the receiver will name as its parent."""
    trace_flags: int = SAMPLED_FLAG
    tracestate: str | None = None
    baggage: Baggage = ()

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` value."""
        return f"00-{self.trace_id.replace('-', '')}-{self.span_id}-{self.trace_flags:02x}"

    @property
    def baggage_header(self) -> str | None:
        """The W3C ``baggage`` value, or ``None`` without baggage."""
        return _baggage_text(self.baggage) or None if self.baggage else None


_last_baggage: tuple[Baggage, str] = ((), "")


def _baggage_text(baggage: Baggage) -> str:
    """``format_baggage`` behind a one-entry cache: a trace's records share one baggage tuple."""
    global _last_baggage  # noqa: PLW0603 - a one-entry cache, replaced atomically
    last = _last_baggage
    if last[0] is baggage:
        return last[1]
    text = format_baggage(baggage)
    _last_baggage = (baggage, text)
    return text


def _otel_baggage(context: Context | None) -> Baggage:
    entries = otel_baggage.get_all(context)
    if not entries:
        return ()
    return tuple(BaggageMember(str(key), str(value)) for key, value in entries.items())


def _merged_baggage(incoming: Baggage, context: Context | None) -> Baggage:
    """The incoming members, with OpenTelemetry baggage set in this context added or replacing."""
    extra = _otel_baggage(context)
    if not extra:
        return incoming
    keys = {member.key for member in extra}
    return (*(member for member in incoming if member.key not in keys), *extra)


def _bound_to_span(span_trace_id: int) -> bool:
    """Whether the active span may speak for this context: no moose-trace id is bound, or the
    bound id is the span's trace."""
    bound = TRACE_ID_VAR.get()
    if bound is Ellipsis:
        bound = bind_pending()  # a consumed record's, read only now
    if bound is Ellipsis or bound is None:
        return True
    try:
        return bool(trace_id_to_int(bound) == span_trace_id)
    except (TypeError, ValueError):  # a trace_id bound by hand that is not an id
        return True


def outgoing_context(context: Context | None = None) -> OutgoingTrace | None:
    """Return what to send onward from here, or ``None`` outside any trace.

    The active OpenTelemetry span wins when it is valid and of the trace the moose-trace context
    binds (its trace id is the trace id when the SDK is configured by moose-trace); otherwise
    the moose-trace context's ids are used — also when a span of another trace is active (an
    instrumentation's span around a consume loop: OpenTelemetry's confluent-kafka ``process``
    span is a trace of its own), so what is sent always names the trace the log lines carry. Trace
    flags, ``tracestate`` and baggage are the incoming ones of the same trace (the span's own
    ``tracestate`` when it has one; OpenTelemetry baggage set in the context is added).
    """
    incoming: IncomingTrace | None = current_incoming()
    span_context = otel_trace.get_current_span(context).get_span_context()
    if span_context.is_valid and _bound_to_span(span_context.trace_id):
        trace_id = trace_id_from_int(span_context.trace_id)
        span_id = f"{span_context.span_id:016x}"
        same = incoming is not None and incoming.trace_id == trace_id
        flags = int(span_context.trace_flags) & KNOWN_FLAGS
        if same and incoming is not None:
            flags |= incoming.trace_flags & RANDOM_FLAG  # the id's property: the SDK drops it
        state = span_context.trace_state
        tracestate = (
            state.to_header() if state else (incoming.tracestate if same and incoming else None)
        )
    else:
        current = current_trace_id()
        if current is None:
            return None
        trace_id, span_id = current, current_span_id() or new_span_id()
        same = incoming is not None and incoming.trace_id == trace_id
        flags = incoming.trace_flags if same and incoming is not None else SAMPLED_FLAG
        tracestate = incoming.tracestate if same and incoming is not None else None
    baggage = _merged_baggage(incoming.baggage if incoming is not None else (), context)
    return OutgoingTrace(trace_id, span_id, flags, tracestate, baggage)


def outgoing_trace(context: Context | None = None) -> tuple[str, str] | None:
    """Return ``(trace_id, span_id)`` to send onward, or ``None`` outside any trace.

    The ids of ``outgoing_context``.
    """
    span_context = otel_trace.get_current_span(context).get_span_context()
    if span_context.is_valid and _bound_to_span(span_context.trace_id):
        return trace_id_from_int(span_context.trace_id), f"{span_context.span_id:016x}"
    trace_id = current_trace_id()
    if trace_id is None:
        return None
    return trace_id, current_span_id() or new_span_id()


def outgoing_headers(id_header: str = "X-Trace-Id") -> dict[str, str]:
    """Return the headers to send with a call from here: id, ``traceparent``, ``tracestate``,
    ``baggage`` (the last two when there are any). ``{}`` outside any trace.

    For any client without a hook of its own (``urllib``, gRPC metadata, a queue's
    attributes): ``client.send(..., headers={**headers, **outgoing_headers()})``. It opens no
    span; ``moose_trace.http.client_span`` does, for a call of its own in the trace.
    """
    outgoing = outgoing_context()
    if outgoing is None:
        return {}
    return headers_of(outgoing, id_header)


def headers_of(outgoing: OutgoingTrace, id_header: str = "X-Trace-Id") -> dict[str, str]:
    """The header dict for ``outgoing`` (see ``outgoing_headers``)."""
    headers = {id_header: outgoing.trace_id, TRACEPARENT_HEADER: outgoing.traceparent}
    if outgoing.tracestate:
        headers[TRACESTATE_HEADER] = outgoing.tracestate
    baggage = outgoing.baggage_header
    if baggage:
        headers[BAGGAGE_HEADER] = baggage
    return headers
