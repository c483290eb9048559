"""``RequestTrace``: the trace a request runs in, entered before the app and left after it.

Entering binds the request's ``trace_context`` (the chosen trace id, the prepared context
fields, the SERVER span's id when there is one), keeps what the incoming carrier said beyond
the id, starts and activates the SERVER span when tracing is on, and — while OpenTelemetry is in
use without a span of ours or an outer one — makes the context OpenTelemetry's remote parent, so
instrumentation inside the app continues the request's trace. ``headers`` are what the response
carries: ``X-Trace-Id`` and, when a span is active, ``traceparent``. Leaving undoes each step in
reverse and ends the span with the outcome.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context

from moose_trace.asgi._incoming import NO_TRACE, TraceChoice
from moose_trace.asgi._span import ServerSpans
from moose_trace.asgi.naming import route_template
from moose_trace.tracing.context import enter_prepared, trace_context
from moose_trace.tracing.otel import (
    ContextParent,
    attach_context,
    context_with_span,
    detach_context,
    otel_in_use,
)
from moose_trace.tracing.propagation import (
    HTTP_TRACE_HEADER,
    IncomingTrace,
    bind_incoming,
    otel_context_of,
    traceparent_for,
)
from moose_trace.tracing.spans import activate, deactivate, span_ids

__all__ = ["RequestTrace"]

_TRACE_ID_HEADER = HTTP_TRACE_HEADER.encode("ascii")
_TRACEPARENT_HEADER = b"traceparent"


class RequestTrace:
    """The trace context (and SERVER span) one request runs in."""

    __slots__ = ("_remote_token", "_span", "_span_token", "_spans", "context", "headers")

    context: trace_context
    """The request's trace context (``.trace_id``, ``.span_id``)."""
    headers: list[tuple[bytes, bytes]]
    """The trace headers the response carries."""
    _span: otel_trace.Span | None
    _span_token: contextvars.Token[Context] | None
    _remote_token: contextvars.Token[Context] | None

    def __init__(
        self,
        choice: TraceChoice,
        incoming: IncomingTrace,
        pairs: tuple[tuple[contextvars.ContextVar[Any], Any], ...],
        spans: ServerSpans | None,
        span_start: tuple[str, dict[str, Any]] | None,
    ) -> None:
        """Enter the request's trace. ``span_start``: the SERVER span's name and attributes."""
        self._spans = spans
        trace_id = choice.trace_id
        traceparent = choice.outer_traceparent
        span_id = self._span = self._span_token = self._remote_token = None
        if spans is not None and span_start is not None:
            span = self._span = spans.start(*span_start, choice.parent, choice.linked_trace_id)
            ids = span_ids(span)
            if ids is not None:
                span_trace_id, span_id, span_flags = ids
                trace_id = trace_id or span_trace_id
                traceparent = traceparent_for(span_trace_id, span_id, flags=span_flags)
            self._span_token = activate(span, choice.parent)
        context = self.context = enter_prepared(trace_id, pairs, span_id)
        if incoming is not NO_TRACE and incoming.carries_more:
            bind_incoming(incoming)
        if self._span_token is None and traceparent is None and otel_in_use():
            # No span of ours or an outer one: OpenTelemetry instrumentation inside the app
            # (an inner OpenTelemetryMiddleware, an HTTP client's) continues this trace.
            self._remote_token = attach_context(_remote_parent(context, incoming))
        self.headers = [(_TRACE_ID_HEADER, context.trace_id.encode("ascii"))]
        if traceparent is not None:
            self.headers.append((_TRACEPARENT_HEADER, traceparent.encode("ascii")))

    def leave(
        self,
        scope: Mapping[str, Any],
        status: int,
        error: BaseException | None,
        category: str | None,
    ) -> None:
        """Leave the trace: context, remote parent, span (ended with this outcome).

        ``category``: the ``error_category`` of an error status sent without raising.
        """
        self.context.__exit__(None, None, None)
        if self._remote_token is not None:
            detach_context(self._remote_token)
        if self._span_token is not None:
            deactivate(self._span_token)
        if self._spans is not None and self._span is not None:
            method = scope.get("method") or "GET"
            route = route_template(scope)
            self._spans.finish(self._span, method, status, route, error, category=category)


def _remote_parent(context: trace_context, incoming: IncomingTrace) -> Any:
    """An OpenTelemetry context whose remote parent is this request's trace context span."""
    same = incoming.trace_id == context.trace_id
    if not incoming.baggage:
        if same:
            parent = ContextParent(context, incoming.trace_flags, incoming.tracestate)
        else:
            parent = ContextParent(context, 1, None)
        return context_with_span(parent)
    return otel_context_of(
        IncomingTrace(
            context.trace_id,
            context.span_id,
            incoming.sampled if same else True,
            trace_flags=incoming.trace_flags if same else 1,
            tracestate=incoming.tracestate if same else None,
            baggage=incoming.baggage,
        )
    )
