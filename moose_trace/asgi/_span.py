"""The one OpenTelemetry SERVER span per request, with the request's trace id as its trace id.

Uses only ``opentelemetry-api``: the spans are whatever the tracer provider makes (the SDK's when
one is configured, no-ops otherwise).
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from moose_trace.tracing.ids import trace_id_from_int
from moose_trace.tracing.otel import record_span_error

__all__ = ["ServerSpans", "span_ids"]

_SERVER = SpanKind.SERVER
_ERROR = Status(StatusCode.ERROR)


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
    def activate(span: otel_trace.Span, parent: Context | None = None) -> Token[Context]:
        """Make ``span`` the current span; return the token for ``deactivate``.

        ``parent``: the context it was started in, whose other entries (the incoming baggage)
        stay current with it; default the current context.
        """
        return otel_context.attach(otel_trace.set_span_in_context(span, parent))

    @staticmethod
    def activate_context(context: Context) -> Token[Context]:
        """Make ``context`` OpenTelemetry's current context; return the token for ``deactivate``."""
        return otel_context.attach(context)

    @staticmethod
    def deactivate(token: Token[Context]) -> None:
        """Undo ``activate``."""
        otel_context.detach(token)

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
                span.set_status(_ERROR)
                if category is not None:  # as on the access line
                    span.set_attribute("error.category", category)
        span.end()


def span_ids(span: otel_trace.Span) -> tuple[str, str, int] | None:
    """Return ``(trace_id, span_id, trace_flags)`` of a span, or ``None`` for a no-op one."""
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return None
    return (
        trace_id_from_int(span_context.trace_id),
        f"{span_context.span_id:016x}",
        int(span_context.trace_flags),
    )
