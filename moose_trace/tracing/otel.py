"""The OpenTelemetry bridge: a span's trace id is the log lines' ``trace_id``.

``configure_tracing`` installs an SDK ``TracerProvider`` whose ``TraceIdGenerator`` makes UUIDv7
trace ids, and takes the id of the current ``trace_context`` for new root spans: a search for one
id finds the logs and the spans (Jaeger, Tempo) alike. Without the SDK nothing breaks: spans are
OpenTelemetry's no-op spans and log lines still carry the moose-trace ids. The SDK is imported
only when ``configure_tracing`` (or ``TraceIdGenerator``) is used.
"""

from __future__ import annotations

import contextvars
import importlib.util
import re
import sys
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate as otel_propagate
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator

from moose_trace._fastpath import OTEL_CONTEXT_VAR, OTEL_SPAN_KEY, composite_members
from moose_trace.errors.categories import categorize_error, error_message, error_type_name
from moose_trace.tracing.context import new_span_id, trace_context
from moose_trace.tracing.ids import parse_trace_id, trace_id_from_int, trace_id_to_int
from moose_trace.tracing.propagation import TraceIdPropagator
from moose_trace.tracing.tracestate import parse_tracestate

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler

    from moose_trace.tracing._otel_sdk import TraceIdGenerator

__all__ = [
    "LAYER_ATTRIBUTE",
    "ContextParent",
    "TraceIdGenerator",
    "active_span",
    "attach_context",
    "configure_tracing",
    "context_with_span",
    "current_otel_ids",
    "detach_context",
    "install_propagator",
    "otel_context_for",
    "otel_in_use",
    "propagator_installed",
    "record_span_error",
    "sdk_available",
]

LAYER_ATTRIBUTE = "moose.layer"
"""The attribute of moose-trace's spans holding the log lines' ``layer`` (``streaming``, …)."""

_lock = threading.Lock()
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")


def __getattr__(name: str) -> Any:
    # ``TraceIdGenerator`` subclasses the SDK's ``IdGenerator``: import the SDK only on use.
    if name == "TraceIdGenerator":
        from moose_trace.tracing import _otel_sdk  # noqa: PLC0415 - the SDK is optional: import it on use

        return _otel_sdk.TraceIdGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ROOT_CONTEXT = Context()


def active_span() -> otel_trace.Span | None:
    """Return OpenTelemetry's current span object, or ``None`` when no span was made current.

    What ``opentelemetry.trace.get_current_span()`` answers, minus its Python frames (it runs on
    every request and traced call); ``None`` where that function answers ``INVALID_SPAN``
    because nothing was set.
    """
    if OTEL_CONTEXT_VAR is not None and OTEL_SPAN_KEY is not None:
        span = OTEL_CONTEXT_VAR.get().get(OTEL_SPAN_KEY)
        return None if span is None or not isinstance(span, otel_trace.Span) else span
    span = otel_trace.get_current_span()
    return None if span is otel_trace.INVALID_SPAN else span


def context_with_span(span: otel_trace.Span) -> Context:
    """Return a new OpenTelemetry ``Context`` holding ``span`` as the current span, nothing else."""
    if OTEL_SPAN_KEY is not None:
        return Context({OTEL_SPAN_KEY: span})
    return otel_trace.set_span_in_context(span, _ROOT_CONTEXT)


def attach_context(context: Context) -> contextvars.Token[Context]:
    """Make ``context`` OpenTelemetry's current context: ``opentelemetry.context.attach``, cheaper.

    Undo with ``detach_context`` (in the same task), like ``attach``/``detach``.
    """
    if OTEL_CONTEXT_VAR is not None:
        return OTEL_CONTEXT_VAR.set(context)
    return otel_context.attach(context)


def detach_context(token: contextvars.Token[Context]) -> None:
    """Undo ``attach_context`` (a token from ``opentelemetry.context.attach`` works too)."""
    if OTEL_CONTEXT_VAR is not None and isinstance(token, contextvars.Token):
        try:
            OTEL_CONTEXT_VAR.reset(token)
            return
        except (ValueError, RuntimeError):  # another context's, or used: the API logs it
            pass
    otel_context.detach(token)


def sdk_available() -> bool:
    """Return whether ``opentelemetry-sdk`` is installed (the ``otel`` extra)."""
    try:
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as missing
        return False


def configure_tracing(
    service: str | None = None,
    *,
    exporter: SpanExporter | None = None,
    batch: bool = True,
    sampler: Sampler | None = None,
    set_global: bool = True,
    propagator: bool = True,
) -> TracerProvider | None:
    """Install an SDK ``TracerProvider`` with moose-trace ids; ``None`` when the SDK is missing.

    ``service`` becomes the ``service.name`` resource attribute. ``exporter`` (an OTLP, console
    or in-memory ``SpanExporter``) gets the finished spans, through a ``BatchSpanProcessor``
    (``batch=False``: a ``SimpleSpanProcessor``, exporting each span as it ends). With
    ``set_global`` (the default) the provider becomes OpenTelemetry's global one; OpenTelemetry
    allows that once per process, so a later call, or a global SDK provider you set up yourself,
    is reused: it gets the moose-trace ``TraceIdGenerator`` (for tracers created from then on)
    and ``exporter`` is added to it, once. With ``set_global`` and ``propagator`` (the
    default) ``install_propagator()`` runs too, so OpenTelemetry's own instrumentation reads and
    writes ``X-Trace-Id`` alongside W3C trace context.
    """
    if set_global and propagator:
        install_propagator()
    if not sdk_available():
        return None
    from moose_trace.tracing import _otel_sdk  # noqa: PLC0415 - the SDK is optional: import it on use

    with _lock:
        return _otel_sdk.install_provider(
            service, exporter=exporter, batch=batch, sampler=sampler, set_global=set_global
        )


def _has_trace_id_propagator(propagator: object) -> bool:
    if isinstance(propagator, TraceIdPropagator):
        return True
    members = composite_members(propagator)
    return any(_has_trace_id_propagator(member) for member in members)


def propagator_installed() -> bool:
    """Return whether OpenTelemetry's global propagator reads ``X-Trace-Id`` (see below)."""
    return _has_trace_id_propagator(otel_propagate.get_global_textmap())


def install_propagator() -> TextMapPropagator:
    """Add ``TraceIdPropagator`` after OpenTelemetry's global propagators; return the result.

    OpenTelemetry's instrumentation (its ASGI middleware, HTTP clients, Kafka) then reads
    ``X-Trace-Id`` and the W3C headers by moose-trace's rules, so a server span it starts is in
    the same trace as the log lines, and writes ``X-Trace-Id`` next to ``traceparent``. The
    propagators already set (``OTEL_PROPAGATORS``: W3C trace context and baggage by default, B3,
    Jaeger…) stay, in front. Idempotent.
    """
    with _lock:
        current = otel_propagate.get_global_textmap()
        if _has_trace_id_propagator(current):
            return current
        combined = CompositePropagator([current, TraceIdPropagator()])
        otel_propagate.set_global_textmap(combined)
        return combined


_instrumentation_loaded = False


def otel_in_use() -> bool:
    """Return whether OpenTelemetry may start spans here (worth handing it the trace context).

    True once a tracer provider is set globally or an OpenTelemetry instrumentation package is
    imported; false in a process that uses moose-trace alone (then nothing is attached).
    """
    global _instrumentation_loaded  # noqa: PLW0603 - becomes true once, never false again
    if _instrumentation_loaded:
        return True
    if not isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider) or (
        "opentelemetry.instrumentation" in sys.modules
    ):
        _instrumentation_loaded = True
        return True
    return False


def otel_context_for(
    trace_id: str | bytes | None,
    span_id: str | None = None,
    *,
    sampled: bool = True,
    context: Context | None = None,
) -> Context:
    """Return an OpenTelemetry ``Context`` whose remote parent span is in trace ``trace_id``.

    Spans started with it (``tracer.start_as_current_span(name, context=ctx)``) get that trace
    id, and ``span_id`` (16 hex digits, e.g. a ``traceparent``'s) as their parent; without one a
    random parent span id is used. An invalid ``trace_id`` or ``span_id`` is ignored (the
    context is returned as it was), so incoming header values can be passed as they are.
    """
    base = context if context is not None else Context()
    canonical = parse_trace_id(trace_id)
    if canonical is None:
        return base
    valid_parent = isinstance(span_id, str) and _SPAN_ID.fullmatch(span_id) is not None
    parent = int(span_id, 16) if valid_parent and span_id is not None else 0
    span_context = otel_trace.SpanContext(
        trace_id=trace_id_to_int(canonical),
        span_id=parent or int(new_span_id(), 16),
        is_remote=True,
        trace_flags=otel_trace.TraceFlags(
            otel_trace.TraceFlags.SAMPLED if sampled else otel_trace.TraceFlags.DEFAULT
        ),
    )
    return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(span_context), base)


def current_otel_ids() -> tuple[str, str] | None:
    """Return ``(trace_id, span_id)`` of the active OpenTelemetry span, or ``None``.

    ``trace_id`` is canonical text (as in log lines), ``span_id`` 16 hex digits. ``None`` when
    no valid span is active (no SDK configured, or outside any span).
    """
    span_context = otel_trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return trace_id_from_int(span_context.trace_id), f"{span_context.span_id:016x}"


def record_span_error(span: otel_trace.Span, error: BaseException) -> None:
    """Mark ``span`` as failed by ``error``, the same way wherever moose-trace ends a span.

    Records the exception (an ``exception`` event with its stack), sets the status to ERROR
    with ``"<type>: <message>"`` (cut to 256 characters) and the attributes ``error.type`` (the
    exception's class name, as in OpenTelemetry's conventions) and ``error.category`` (the
    log lines' ``error_category``). Does nothing on a span that is not recording.
    """
    if not span.is_recording():
        return
    kind = error_type_name(error)
    span.record_exception(error)
    span.set_attributes({"error.type": kind, "error.category": categorize_error(error)})
    span.set_status(
        otel_trace.Status(otel_trace.StatusCode.ERROR, f"{kind}: {error_message(error)}"[:256])
    )


class ContextParent(otel_trace.NonRecordingSpan):
    """A ``trace_context`` as OpenTelemetry's remote parent span (internal: ``TraceMiddleware``).

    Made current for every request while OpenTelemetry is in use, so instrumentation inside the
    app (an inner ``OpenTelemetryMiddleware``, an HTTP client's) continues the request's trace.
    Most requests never ask for it, so its ``SpanContext`` (trace id as an integer, the
    context's span id, flags, ``tracestate``) is built only when someone asks; log lines know
    it is remote by its type and never ask.
    """

    __slots__ = ("_flags", "_trace", "_tracestate")

    def __init__(self, context: trace_context, flags: int, tracestate: str | None) -> None:
        self._context: otel_trace.SpanContext | None = None  # type: ignore[assignment]
        self._trace = context
        self._flags = flags
        self._tracestate = tracestate

    def get_span_context(self) -> otel_trace.SpanContext:
        """The remote parent: the request's trace id and span id, flags and ``tracestate``."""
        made = self._context
        if made is None:
            state = otel_trace.DEFAULT_TRACE_STATE
            if self._tracestate:
                state = otel_trace.TraceState(list(parse_tracestate(self._tracestate) or ()))
            made = self._context = otel_trace.SpanContext(
                trace_id=trace_id_to_int(self._trace.trace_id),
                span_id=int(self._trace.span_id, 16),
                is_remote=True,
                trace_flags=otel_trace.TraceFlags(self._flags),
                trace_state=state,
            )
        return made

    def __repr__(self) -> str:
        return f"ContextParent({self.get_span_context()!r})"
