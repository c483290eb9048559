"""Carry the trace across process boundaries: HTTP headers, Kafka headers, any text carrier.

Incoming (``extract_incoming``, the one parser every integration uses): the id header
(``X-Trace-Id`` on HTTP, ``trace_id`` on Kafka), W3C ``traceparent`` with its ``tracestate``,
and W3C ``baggage``. The rule when they disagree:

1. a valid ``traceparent`` decides the trace (its trace id, parent span and flags), so a W3C
   peer's trace is never orphaned; a valid id header naming another trace is kept as
   ``linked_trace_id`` (logged on the access line, a link on the server span);
2. else the id header's id; 3. else no trace (the caller starts one).

``traceparent`` sent more than once with different values is invalid (W3C: restart the trace),
and so is its ``tracestate``. Invalid id values count as absent and are reported (escaped, cut to
64 characters) so the caller can warn. ``tracestate`` and ``baggage`` are parsed only when present.

Outgoing (``outgoing_context``): the id header, ``traceparent`` with the trace flags as received
(sampled, random), the received ``tracestate`` and ``baggage``, from the active OpenTelemetry
span when there is one, else from the moose-trace context. ``TraceIdPropagator`` offers the same
as an OpenTelemetry ``TextMapPropagator``; ``outgoing_headers`` as a plain dict.

This module is the public face; the machinery is split as OpenTelemetry splits it, carriers
apart from formats: ``carriers`` (reading any header collection), the formats ``id_header``,
``traceparent``, ``tracestate`` and ``baggage`` (each one's parse and serialization),
``incoming`` (the rules above), ``outgoing`` and ``propagator``.
"""

from __future__ import annotations

from moose_trace.tracing.baggage import BAGGAGE_HEADER
from moose_trace.tracing.carriers import HeaderGetter, escape_header_value, header_getter
from moose_trace.tracing.id_header import HTTP_TRACE_HEADER, KAFKA_TRACE_HEADER
from moose_trace.tracing.incoming import (
    IncomingTrace,
    bind_incoming,
    extract_incoming,
    extract_trace_id,
    otel_context_of,
)
from moose_trace.tracing.outgoing import (
    OutgoingTrace,
    outgoing_context,
    outgoing_headers,
    outgoing_trace,
)
from moose_trace.tracing.propagator import TraceIdPropagator
from moose_trace.tracing.traceparent import (
    RANDOM_FLAG,
    SAMPLED_FLAG,
    TRACEPARENT_HEADER,
    Traceparent,
    parse_traceparent,
    traceparent_for,
)
from moose_trace.tracing.tracestate import TRACESTATE_HEADER

__all__ = [
    "BAGGAGE_HEADER",
    "HTTP_TRACE_HEADER",
    "KAFKA_TRACE_HEADER",
    "RANDOM_FLAG",
    "SAMPLED_FLAG",
    "TRACEPARENT_HEADER",
    "TRACESTATE_HEADER",
    "HeaderGetter",
    "IncomingTrace",
    "OutgoingTrace",
    "TraceIdPropagator",
    "Traceparent",
    "bind_incoming",
    "escape_header_value",
    "extract_incoming",
    "extract_trace_id",
    "header_getter",
    "otel_context_of",
    "outgoing_context",
    "outgoing_headers",
    "outgoing_trace",
    "parse_traceparent",
    "traceparent_for",
]
