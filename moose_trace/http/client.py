"""``client_span``: one outgoing call in the trace — its headers, and its CLIENT span.

The span is OpenTelemetry's (a no-op without a configured SDK, and then the headers name the
current span or trace context as parent, as ``outgoing_headers`` does). Its parent is the active
span, else the moose-trace context (so a call made inside ``trace_context`` without any span is
still a child in that trace); its ``traceparent`` carries the trace's flags and ``tracestate``.
Attributes follow OpenTelemetry's HTTP client conventions; the URL is recorded without user
info, query or fragment (they may hold secrets).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind

from moose_trace.tracing.otel import record_span_error
from moose_trace.tracing.outgoing import headers_of
from moose_trace.tracing.propagation import outgoing_context
from moose_trace.tracing.spans import ERROR_STATUS, context_parent

__all__ = ["CLIENT_TRACER", "ClientCall", "client_span"]

CLIENT_TRACER = "moose_trace.http"
"""The OpenTelemetry tracer (instrumentation scope) name of the client spans."""


class ClientCall:
    """What ``client_span`` yields: the headers to send, and the outcome to record."""

    __slots__ = ("headers", "span")

    def __init__(self, headers: dict[str, str], span: otel_trace.Span) -> None:
        self.headers = headers
        """The trace headers to add to the request."""
        self.span = span
        """The CLIENT span (a no-op span when tracing is off)."""

    def set_status(self, status: int) -> None:
        """Record the response status (4xx and 5xx mark the client span as an error)."""
        span = self.span
        if span.is_recording():
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_status(ERROR_STATUS)
                span.set_attribute("error.type", str(status))


def _attributes(method: str, url: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {"http.request.method": method}
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return attributes
    if host:
        netloc = f"{host}:{port}" if port else host
        attributes["url.full"] = f"{parts.scheme}://{netloc}{parts.path}"
        attributes["server.address"] = host
        if port:
            attributes["server.port"] = port
    return attributes


@contextmanager
def client_span(
    method: str,
    url: str,
    *,
    id_header: str = "X-Trace-Id",
    tracer_provider: otel_trace.TracerProvider | None = None,
) -> Iterator[ClientCall]:
    """Run one outgoing call in the trace: ``with client_span("GET", url) as call: ...``.

    ``call.headers`` are the headers to send; ``call.set_status(status)`` records the answer.
    An exception leaving the block marks the span as failed (and is re-raised). Outside any
    trace the headers are empty and the span (when tracing is on) starts a new trace, whose
    headers are then sent.
    """
    method = method.upper()
    tracer = otel_trace.get_tracer(CLIENT_TRACER, tracer_provider=tracer_provider)
    span = tracer.start_span(method, context_parent(), SpanKind.CLIENT, _attributes(method, url))
    try:
        outgoing = outgoing_context(otel_trace.set_span_in_context(span))
        headers = headers_of(outgoing, id_header) if outgoing is not None else {}
        with otel_trace.use_span(span, end_on_exit=False, record_exception=False):
            yield ClientCall(headers, span)
    except BaseException as error:
        record_span_error(span, error)
        raise
    finally:
        span.end()
