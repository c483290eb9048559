"""Spans in moose-trace's trace: start, make current, end — one home for every integration.

The decorators' spans, the middleware's SERVER span and the HTTP clients' CLIENT span all need
the same few steps: is a tracer provider set at all (no span, and no cost, while none is), which
parent a span takes inside a ``trace_context`` (the active span when it is in the context's
trace, else the context or record as a remote parent), making a span current and undoing it,
and reading its ids. Each integration keeps only what is its own (the SERVER span's attributes,
the CLIENT span's URL); the steps are here.

A root span takes the ``trace_context``'s trace id: from moose-trace's ``TraceIdGenerator``
(``configure_tracing``), or from a remote parent context when the provider makes its own ids.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, Status, StatusCode

from moose_trace._fastpath import (
    OTEL_CONTEXT_VAR,
    OTEL_SPAN_KEY,
    TRACER_PROVIDER_FROM_ENV,
    global_tracer_provider,
)
from moose_trace._version import __version__
from moose_trace.tracing.context import (
    current_incoming,
    current_span_id,
    current_trace_id,
)
from moose_trace.tracing.ids import trace_id_from_int, trace_id_to_int
from moose_trace.tracing.incoming import IncomingTrace, otel_context_of
from moose_trace.tracing.otel import (
    active_span,
    attach_context,
    detach_context,
    otel_context_for,
    record_span_error,
    sdk_available,
)

__all__ = [
    "DECORATORS_SCOPE",
    "ERROR_STATUS",
    "activate",
    "attach_record_context",
    "context_parent",
    "deactivate",
    "end_span",
    "link_for",
    "span_ids",
    "start_span",
    "tracer_provider_set",
]

DECORATORS_SCOPE = "moose_trace.decorators"
"""The instrumentation scope of the decorators' spans."""
ERROR_STATUS = Status(StatusCode.ERROR)
"""The status of a span that ended in an error without an exception (a 5xx, a 4xx answer)."""

_get_provider = otel_trace.get_tracer_provider
_PROXY = otel_trace.ProxyTracerProvider
_NOOP = otel_trace.NoOpTracerProvider
_ROOT = Context()
_PROVIDER_FROM_ENV = TRACER_PROVIDER_FROM_ENV
_context_var = OTEL_CONTEXT_VAR if OTEL_SPAN_KEY else None
_span_key: str = OTEL_SPAN_KEY or ""
# (provider, its tracer, whether it makes moose-trace ids, the id generator it had then)
_tracer_cache: tuple[object, otel_trace.Tracer, bool, object] | None = None
_generator_class: type | None = None
_trace_int_cache: tuple[str, int] = ("", 0)


def tracer_provider_set() -> bool:
    """Whether a tracer provider is (or may be, from the environment) set: spans are real.

    While it is false every ``start_span`` answers ``None``; callers test it first to skip
    building what a span would need.
    """
    return _PROVIDER_FROM_ENV or global_tracer_provider() is not None


def _tracer(provider: otel_trace.TracerProvider) -> tuple[otel_trace.Tracer, bool]:
    """Return the provider's tracer, and whether its root spans take moose-trace ids."""
    global _tracer_cache  # noqa: PLW0603 - a one-entry cache, replaced atomically
    cached = _tracer_cache
    generator = getattr(provider, "id_generator", None)
    if cached is None or cached[0] is not provider or cached[3] is not generator:
        tracer = provider.get_tracer(DECORATORS_SCOPE, __version__)
        cached = _tracer_cache = (provider, tracer, _makes_moose_ids(provider), generator)
    return cached[1], cached[2]


def _trace_int(trace_id: str) -> int:
    global _trace_int_cache  # noqa: PLW0603 - a one-entry cache, replaced atomically
    cached = _trace_int_cache
    if cached[0] is not trace_id:
        cached = _trace_int_cache = (trace_id, trace_id_to_int(trace_id))
    return cached[1]


def _makes_moose_ids(provider: object) -> bool:
    global _generator_class  # noqa: PLW0603 - imported once, on first use
    generator = getattr(provider, "id_generator", None)
    if generator is None:
        return False
    if _generator_class is None:
        if not sdk_available():
            return False
        from moose_trace.tracing._otel_sdk import TraceIdGenerator  # noqa: PLC0415 - SDK only on use

        _generator_class = TraceIdGenerator
    return isinstance(generator, _generator_class)


def _parent(moose_ids: bool, trace_id: str, parent_span_id: str | None) -> Context | None:
    active = active_span()
    if active is not None:
        span_context = active.get_span_context()
        if span_context.is_valid and span_context.trace_id == _trace_int(trace_id):
            return None  # the active span (a server span, an enclosing traced call) is the parent
    if parent_span_id is None and moose_ids:
        return _ROOT
    return otel_context_for(trace_id, parent_span_id)


def start_span(
    name: str,
    attributes: Mapping[str, Any],
    trace_id: str,
    parent_span_id: str | None = None,
    linked: Iterable[tuple[str, str | None]] = (),
) -> tuple[Span, object] | None:
    """Start a traced call's span in trace ``trace_id``, make it current; ``None`` without a
    tracer provider (instrumentation scope ``moose_trace.decorators``).

    Its parent is the active span when that span is in the same trace, else ``parent_span_id``
    (the sender of the input) as a remote parent, else none (a root span). ``linked`` holds
    ``(trace_id, parent_span_id)`` of records the span links to (a batch). Returns the span and
    the token ``end_span`` needs. Call it inside the ``trace_context`` of ``trace_id``, so a
    root span takes that id.
    """
    if not tracer_provider_set():
        return None
    provider = _get_provider()
    if type(provider) is _PROXY or isinstance(provider, _NOOP):
        return None
    links = [link_for(tid, parent) for tid, parent in linked] if linked else None
    tracer, moose_ids = _tracer(provider)
    span = tracer.start_span(
        name,
        context=_parent(moose_ids, trace_id, parent_span_id),
        attributes=attributes,
        links=links or None,
    )
    return span, activate(span)


def end_span(started: tuple[Span, object], error: BaseException | None = None) -> None:
    """Record ``error`` (if any) on a span of ``start_span``, end it, restore the current span."""
    span, token = started
    try:
        if error is not None:
            record_span_error(span, error)
        span.end()
    finally:
        deactivate(token)  # type: ignore[arg-type]


def activate(span: Span, parent: Context | None = None) -> contextvars.Token[Context]:
    """Make ``span`` the current span; return the token for ``deactivate``.

    ``parent``: the context it was started in, whose other entries (the incoming baggage) stay
    current with it; default the current context.
    """
    if parent is None and _context_var is not None:
        # What ``attach(set_span_in_context(span))`` does, without the API's Python frames.
        return _context_var.set(Context({**_context_var.get(), _span_key: span}))
    return attach_context(otel_trace.set_span_in_context(span, parent))


def deactivate(token: contextvars.Token[Context]) -> None:
    """Undo ``activate`` (or ``attach_record_context``)."""
    detach_context(token)


def link_for(trace_id: str, parent_span_id: str | None) -> Link:
    """Return a span link to a record's context (its ``traceparent`` span, when known)."""
    context = otel_context_for(trace_id, parent_span_id)
    return Link(otel_trace.get_current_span(context).get_span_context())


def attach_record_context(trace_id: str, parent_span_id: str | None) -> contextvars.Token[Context]:
    """Make a record's context the current OpenTelemetry context; undo with ``deactivate``."""
    return attach_context(otel_context_for(trace_id, parent_span_id))


def context_parent() -> Context | None:
    """The context to start an outgoing call's span in: ``None`` (the current one) when a span
    is active, else the moose-trace context as a remote parent (trace id, span id, flags,
    ``tracestate``), else ``None`` outside any trace."""
    if otel_trace.get_current_span().get_span_context().is_valid:
        return None
    trace_id = current_trace_id()
    if trace_id is None:
        return None
    incoming = current_incoming()
    same = incoming is not None and incoming.trace_id == trace_id
    return otel_context_of(
        IncomingTrace(
            trace_id,
            current_span_id(),
            trace_flags=incoming.trace_flags if same and incoming else 1,
            tracestate=incoming.tracestate if same and incoming else None,
        )
    )


def span_ids(span: Span) -> tuple[str, str, int] | None:
    """Return ``(trace_id, span_id, trace_flags)`` of a span, or ``None`` for a no-op one."""
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return None
    return (
        trace_id_from_int(span_context.trace_id),
        f"{span_context.span_id:016x}",
        int(span_context.trace_flags),
    )
