"""Which trace a request continues: its headers read in one pass, and the outer span's say.

``read_headers`` collects the trace headers (``X-Trace-Id``, ``traceparent``, ``tracestate``,
``baggage``) and hands them to ``moose_trace.tracing.propagation.extract_incoming``, the one
parser, plus ``X-Forwarded-For`` and ``X-Request-Id``: a ``RequestHeaders``. ``choose_trace``
applies the stacking rule: when an outer middleware (OpenTelemetry's) already runs a span, that
span's trace is the request's trace, and a different incoming id is kept as
``linked_trace_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.context import Context

from moose_trace.tracing.baggage import BAGGAGE_HEADER
from moose_trace.tracing.ids import parse_trace_id, trace_id_from_int
from moose_trace.tracing.otel import active_span
from moose_trace.tracing.propagation import (
    HTTP_TRACE_HEADER,
    TRACEPARENT_HEADER,
    IncomingTrace,
    extract_incoming,
    otel_context_of,
    traceparent_for,
)
from moose_trace.tracing.tracestate import TRACESTATE_HEADER

__all__ = ["NO_TRACE", "RequestHeaders", "TraceChoice", "choose_trace", "read_headers"]

_TRACE_ID = 0
_TRACEPARENT = 1
_TRACESTATE = 2
_BAGGAGE = 3
_FORWARDED = 4
_REQUEST_ID = 5
# ASGI servers lower-case header names (the spec requires it), so exact bytes are matched.
_HEADER_SLOTS = {
    HTTP_TRACE_HEADER.encode(): _TRACE_ID,
    TRACEPARENT_HEADER.encode(): _TRACEPARENT,
    TRACESTATE_HEADER.encode(): _TRACESTATE,
    BAGGAGE_HEADER.encode(): _BAGGAGE,
    b"x-forwarded-for": _FORWARDED,
    b"x-request-id": _REQUEST_ID,
}
_ID_HEADERS = (HTTP_TRACE_HEADER,)
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,64}").fullmatch
NO_TRACE = IncomingTrace(None)
"""``read_headers``' answer for a request without trace headers (always this object)."""
_NO_TRACE = NO_TRACE
_last_lone_id: tuple[bytes, IncomingTrace] = (b"", _NO_TRACE)


class RequestHeaders:
    """What the middleware reads from a request's headers."""

    __slots__ = ("forwarded", "incoming", "request_id")

    def __init__(
        self, incoming: IncomingTrace, forwarded: list[bytes] | None, request_id: str | None
    ) -> None:
        self.incoming = incoming
        """The incoming trace (``extract_incoming``'s answer; ``NO_TRACE`` without headers)."""
        self.forwarded = forwarded
        """The ``X-Forwarded-For`` values, in order, when any were sent."""
        self.request_id = request_id
        """A valid ``X-Request-Id`` (1-64 safe characters), else ``None``."""

    def forwarded_text(self) -> str | None:
        """The ``X-Forwarded-For`` values as one comma-separated text, or ``None``."""
        if self.forwarded is None:
            return None
        return ",".join(value.decode("latin-1") for value in self.forwarded)


def read_headers(headers: Iterable[Iterable[bytes]]) -> RequestHeaders:
    """Read what the middleware needs from the raw headers, in one pass."""
    global _last_lone_id  # noqa: PLW0603 - a one-entry cache, replaced atomically
    trace_headers: list[tuple[bytes, bytes]] | None = None
    sent_id: bytes | None = None
    forwarded: list[bytes] | None = None
    request_id: str | None = None
    slots = _HEADER_SLOTS
    for header, value in headers:
        slot = slots.get(header)
        if slot is None:
            continue
        if slot <= _BAGGAGE:
            if trace_headers is None:
                trace_headers = []
            trace_headers.append((header, value))
            if slot == _TRACE_ID and sent_id is None:
                sent_id = value
        elif slot == _FORWARDED:
            if forwarded is None:
                forwarded = []
            forwarded.append(value)
        elif request_id is None and _VALID_REQUEST_ID(value) is not None:
            request_id = value.decode("ascii")
    if trace_headers is None:
        return RequestHeaders(_NO_TRACE, forwarded, request_id)
    if len(trace_headers) == 1 and sent_id is not None:
        # The common case, a lone X-Trace-Id: extract_incoming's answer for it is
        # IncomingTrace(parse_trace_id(value)) when valid; taken straight from the bytes.
        last = _last_lone_id
        if last[0] == sent_id:
            return RequestHeaders(last[1], forwarded, request_id)
        trace_id = parse_trace_id(sent_id)
        if trace_id is not None:
            incoming = IncomingTrace(trace_id)
            _last_lone_id = (sent_id, incoming)
            return RequestHeaders(incoming, forwarded, request_id)
    incoming = extract_incoming(trace_headers, id_headers=_ID_HEADERS)
    return RequestHeaders(incoming, forwarded, request_id)


@dataclass(frozen=True, slots=True)
class TraceChoice:
    """The request's trace as decided before the app runs."""

    trace_id: str | None
    """The trace to continue; ``None``: start a new one."""
    parent: Context | None
    """The OpenTelemetry context to start the server span in (``None``: the current one)."""
    linked_trace_id: str | None
    """An incoming id that names another trace than the one chosen."""
    outer_traceparent: str | None
    """The outer span's ``traceparent`` (for the response), when an outer span runs."""
    outer_disagrees: bool
    """Whether an outer span overruled a valid incoming id (worth one warning)."""


_NEW_TRACE = TraceChoice(None, None, None, None, False)


def choose_trace(incoming: IncomingTrace, *, with_parent: bool = True) -> TraceChoice:
    """Apply the rules: an outer span's trace, else the incoming trace, else a new one.

    ``with_parent=False``: leave ``TraceChoice.parent`` out (``None``), for a caller that starts
    no span in it (building an OpenTelemetry context costs more than the rest together).
    """
    span = active_span()
    if span is None:
        outer = None
        if incoming is _NO_TRACE:  # the usual request: no outer span, no trace headers
            return _NEW_TRACE
    else:
        outer = span.get_span_context()
    if outer is None or not outer.is_valid:
        needs_parent = with_parent and (incoming.trace_id is not None or bool(incoming.baggage))
        return TraceChoice(
            incoming.trace_id,
            otel_context_of(incoming) if needs_parent else None,
            incoming.linked_trace_id,
            None,
            False,
        )
    outer_trace_id = trace_id_from_int(outer.trace_id)
    linked = incoming.linked_trace_id
    disagrees = incoming.trace_id is not None and incoming.trace_id != outer_trace_id
    if disagrees:
        linked = incoming.trace_id
    traceparent = traceparent_for(
        outer_trace_id, f"{outer.span_id:016x}", flags=int(outer.trace_flags)
    )
    return TraceChoice(outer_trace_id, None, linked, traceparent, disagrees)
