"""``TraceIdPropagator``: the moose-trace rules as an OpenTelemetry ``TextMapPropagator``."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter, TextMapPropagator, default_setter

from moose_trace.tracing.baggage import BAGGAGE_HEADER
from moose_trace.tracing.carriers import header_getter
from moose_trace.tracing.id_header import HTTP_TRACE_HEADER, ID_HEADERS
from moose_trace.tracing.incoming import extract_incoming, otel_context_of
from moose_trace.tracing.outgoing import headers_of, outgoing_context
from moose_trace.tracing.traceparent import TRACEPARENT_HEADER
from moose_trace.tracing.tracestate import TRACESTATE_HEADER

__all__ = ["TraceIdPropagator"]


class TraceIdPropagator(TextMapPropagator):
    """An OpenTelemetry propagator for the moose-trace id header, W3C trace context and baggage.

    ``extract`` reads a carrier by ``extract_incoming``'s rules into a remote parent span
    (flags and ``tracestate`` included) and OpenTelemetry baggage; ``inject`` writes the id
    header (``X-Trace-Id`` by default, or ``trace_id`` for Kafka), ``traceparent`` with the
    flags of the context (``-00`` when it is not sampled), and ``tracestate`` and ``baggage``
    when there are any. Register it after OpenTelemetry's own in a ``CompositePropagator``
    (``moose_trace.tracing.otel.install_propagator`` does): it then has the last word on which
    trace a carrier continues, so OpenTelemetry's spans and the log lines agree.
    """

    def __init__(self, id_header: str = HTTP_TRACE_HEADER) -> None:
        self._id_header = id_header

    def extract(
        self,
        carrier: Any,
        context: Context | None = None,
        getter: Getter[Any] = header_getter,
    ) -> Context:
        """Return ``context`` with the carrier's trace as the remote parent span (if any).

        When the carrier held ``traceparent`` headers that the W3C rules refuse (duplicates,
        malformed) and no id header, the context gets no parent at all, also when a
        propagator before this one accepted one: a new trace starts.
        """
        incoming = extract_incoming(carrier, getter, (self._id_header, *ID_HEADERS))
        base = context if context is not None else Context()
        if incoming.trace_id is None:
            if getter.get(carrier, TRACEPARENT_HEADER):
                base = otel_trace.set_span_in_context(otel_trace.INVALID_SPAN, base)
            return otel_context_of(incoming, base) if incoming.baggage else base
        return otel_context_of(incoming, base)

    def inject(
        self,
        carrier: Any,
        context: Context | None = None,
        setter: Setter[Any] = default_setter,
    ) -> None:
        """Write the id header, ``traceparent``, ``tracestate`` and ``baggage`` of the context."""
        outgoing = outgoing_context(context)
        if outgoing is None:
            return
        for name, value in headers_of(outgoing, self._id_header).items():
            setter.set(carrier, name, value)

    @property
    def fields(self) -> set[str]:
        """The header names ``inject`` writes."""
        return {self._id_header, TRACEPARENT_HEADER, TRACESTATE_HEADER, BAGGAGE_HEADER}
