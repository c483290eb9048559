"""The OpenTelemetry side of a traced call: one span whose trace id is the call's ``trace_id``.

No span at all while no tracer provider is set (OpenTelemetry's default proxy): the call then
costs nothing here. With one, the span is a child of the active span when that span is in the
call's trace, else a child of the record's ``traceparent`` span, else a root span; a root span
gets the trace id from moose-trace's ``TraceIdGenerator`` (``configure_tracing``), or from a
remote parent context when the provider makes its own ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span

from moose_trace._fastpath import OTEL_CONTEXT_VAR, OTEL_SPAN_KEY, TRACER_PROVIDER_FROM_ENV
from moose_trace._fastpath import global_tracer_provider as _global_tracer_provider
from moose_trace._version import __version__
from moose_trace.tracing.ids import trace_id_to_int
from moose_trace.tracing.otel import otel_context_for, record_span_error, sdk_available

__all__ = [
    "INSTRUMENTATION_NAME",
    "attach_record_context",
    "detach",
    "end_span",
    "link_for",
    "start_span",
]

INSTRUMENTATION_NAME = "moose_trace.decorators"
"""The instrumentation scope of the decorators' spans."""

_get_provider = otel_trace.get_tracer_provider
# While no provider is set, ``get_tracer_provider`` looks at the environment on every call; the
# API's module global says the same for free (unless a provider is to come from the environment).
_PROVIDER_FROM_ENV = TRACER_PROVIDER_FROM_ENV
_get_current_span = otel_trace.get_current_span
_set_span_in_context = otel_trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach
_PROXY = otel_trace.ProxyTracerProvider
_NOOP = otel_trace.NoOpTracerProvider
_ROOT = Context()
_context_var = OTEL_CONTEXT_VAR if OTEL_SPAN_KEY else None
_span_key: str = OTEL_SPAN_KEY or ""
# (provider, its tracer, whether it makes moose-trace ids, the id generator it had then)
_tracer_cache: tuple[object, otel_trace.Tracer, bool, object] | None = None
_generator_class: type | None = None
_trace_int_cache: tuple[str, int] = ("", 0)


def _tracer(provider: otel_trace.TracerProvider) -> tuple[otel_trace.Tracer, bool]:
    """Return the provider's tracer, and whether its root spans take moose-trace ids."""
    global _tracer_cache  # noqa: PLW0603 - a one-entry cache, replaced atomically
    cached = _tracer_cache
    generator = getattr(provider, "id_generator", None)
    if cached is None or cached[0] is not provider or cached[3] is not generator:
        tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)
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
    if _context_var is None or _context_var.get().get(_span_key) is not None:
        active = _get_current_span().get_span_context()
        if active.is_valid and active.trace_id == _trace_int(trace_id):
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
    """Start the call's span and make it current; ``None`` when no tracer provider is set.

    ``linked`` holds ``(trace_id, parent_span_id)`` of records the span links to (a batch).
    Returns the span and the token ``end_span`` needs. Call it inside the call's
    ``trace_context``, so a root span takes that context's trace id.
    """
    if not _PROVIDER_FROM_ENV and _global_tracer_provider() is None:
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
    if _context_var is None:
        return span, _attach(_set_span_in_context(span))
    # What ``attach(set_span_in_context(span))`` does, without the API's Python frames.
    return span, _context_var.set(Context({**_context_var.get(), _span_key: span}))


def end_span(started: tuple[Span, object], error: BaseException | None = None) -> None:
    """Record ``error`` (if any) on the span, end it, and restore the previous current span."""
    span, token = started
    try:
        if error is not None:
            record_span_error(span, error)
        span.end()
    finally:
        if _context_var is None:
            _detach(token)  # type: ignore[arg-type]
        else:
            try:
                _context_var.reset(token)  # type: ignore[arg-type]
            except (ValueError, RuntimeError):
                _detach(token)  # type: ignore[arg-type] # the API logs what went wrong


def link_for(trace_id: str, parent_span_id: str | None) -> Link:
    """Return a span link to a record's context (its ``traceparent`` span, when known)."""
    context = otel_context_for(trace_id, parent_span_id)
    return Link(_get_current_span(context).get_span_context())


def attach_record_context(trace_id: str, parent_span_id: str | None) -> object:
    """Make a record's context the current OpenTelemetry context; returns the token to detach."""
    return _attach(otel_context_for(trace_id, parent_span_id))


def detach(token: object) -> None:
    """Undo ``attach_record_context``."""
    _detach(token)  # type: ignore[arg-type]
