"""The one OpenTelemetry SERVER span per request, with the request's trace id as its trace id.

Uses only ``opentelemetry-api``: the spans are whatever the tracer provider makes (the SDK's when
one is configured, no-ops otherwise). Making a span current and reading its ids are the steps
every integration shares (``moose_trace.tracing.spans``); what is here is the SERVER span's own.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from moose_trace.tracing.otel import record_span_error
from moose_trace.tracing.spans import ERROR_STATUS

__all__ = ["ServerSpans"]

_SERVER = SpanKind.SERVER


class ServerSpans:
    """Start and finish the request's SERVER span on one tracer."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer_provider: otel_trace.TracerProvider | None) -> None:
        # A proxy tracer when no provider is set yet: it follows one configured later.
        self._tracer = otel_trace.get_tracer("moose_trace.asgi", tracer_provider=tracer_provider)

    def start(
        self,
        method: str,
        attributes: dict[str, Any],
        parent: Context | None,
        linked_trace_id: str | None = None,
    ) -> otel_trace.Span:
        """Start the span in ``parent`` (the incoming trace's remote parent), else in the current
        context (a child of an outer middleware's span, or a new trace).

        ``linked_trace_id``: an incoming id of another trace, kept as the ``linked_trace_id``
        attribute (as on the access line).
        """
        if linked_trace_id is not None:
            attributes = {**attributes, "linked_trace_id": linked_trace_id}
        return self._tracer.start_span(method, parent, _SERVER, attributes)

    @staticmethod
    def finish(
        span: otel_trace.Span,
        method: str,
        status: int,
        route: str | None,
        error: BaseException | None,
        *,
        category: str | None = None,
    ) -> None:
        """Record the outcome on the span and end it.

        ``category``: the access line's ``error_category`` of an error status sent without raising.
        """
        if span.is_recording():
            if route is None:
                span.set_attribute("http.response.status_code", status)
            else:
                span.set_attributes({"http.response.status_code": status, "http.route": route})
                span.update_name(f"{method} {route}")
            if error is not None:
                record_span_error(span, error)
            elif status >= 500:
                span.set_status(ERROR_STATUS)
                if category is not None:  # as on the access line
                    span.set_attribute("error.category", category)
        span.end()
