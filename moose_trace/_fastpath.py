"""The state the per-call fast paths read directly: our context variables, two libraries' internals.

A log line, a decorated call, a consumed Kafka record and a span's start all run once per event,
where the public APIs' layers (``get_contextvars()``, ``get_current_span()``, a configuration
lookup) cost more than the work itself. Those paths read the variables below instead. This is
the one module that names them, with plain names; everything else imports them from here.

Our own state: ``field_var(key)`` is the ContextVar of one bound log field (the very variable
``structlog.contextvars`` uses for that key, so either side's binding is seen by the other);
``TRACE_ID_VAR`` is the trace id's; ``FRAME_VAR`` holds the innermost ``trace_context``.

Other libraries' private state, read here and nowhere else
(``tests/core/test_third_party_internals.py`` pins each against the supported versions and fails
loudly when one moves; each read has a fallback to the public API, so a moved name costs speed,
never correctness):

- structlog: ``structlog.contextvars._CONTEXT_VARS`` (its registry of one ContextVar per key)
  and ``structlog._config._CONFIG`` (the live configuration, to know it is still ours);
- OpenTelemetry: the default runtime context's ContextVar
  (``opentelemetry.context._RUNTIME_CONTEXT._current_context``), the current span's key in a
  ``Context`` (``opentelemetry.trace.propagation._SPAN_KEY``), the global tracer provider
  (``opentelemetry.trace._TRACER_PROVIDER``) and meter provider
  (``opentelemetry.metrics._internal._METER_PROVIDER``), a ``CompositePropagator``'s members
  (``_propagators``), a metric exporter's preferences (``_preferred_temporality``,
  ``_preferred_aggregation``).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog.contextvars as structlog_contextvars
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import propagation as otel_trace_propagation

if TYPE_CHECKING:
    from moose_trace.tracing.context import trace_context

__all__ = [
    "FIELD_VARS",
    "FRAME_VAR",
    "OTEL_CONTEXT_VAR",
    "OTEL_SPAN_KEY",
    "SHARES_STRUCTLOG_REGISTRY",
    "STRUCTLOG_KEY_PREFIX",
    "STRUCTLOG_VARS",
    "TRACER_PROVIDER_FROM_ENV",
    "TRACE_ID_VAR",
    "composite_members",
    "exporter_preferences",
    "field_var",
    "global_tracer_provider",
    "meter_provider_reader",
    "structlog_config",
]

# --- structlog ---------------------------------------------------------------------------------

STRUCTLOG_KEY_PREFIX: str = structlog_contextvars.STRUCTLOG_KEY_PREFIX
"""The prefix of structlog's ContextVar names (``structlog_``): a bound key is the rest."""

SHARES_STRUCTLOG_REGISTRY: bool = isinstance(
    getattr(structlog_contextvars, "_CONTEXT_VARS", None), dict
)
"""Whether ``STRUCTLOG_VARS`` is structlog's own registry (else only structlog's merge sees
everything bound with ``bind_contextvars``)."""

STRUCTLOG_VARS: dict[str, contextvars.ContextVar[Any]] = (
    structlog_contextvars._CONTEXT_VARS if SHARES_STRUCTLOG_REGISTRY else {}
)
"""structlog's ContextVar of each bound key, by prefixed name; shared, so ``bind_contextvars()``
and ``trace_context()`` address the same variable and neither can shadow the other."""

FIELD_VARS: dict[str, contextvars.ContextVar[Any]] = {}
"""The ContextVar of each log field bound so far, by key (a cache in front of ``field_var``)."""


def field_var(key: str) -> contextvars.ContextVar[Any]:
    """Return the ContextVar holding log field ``key`` (structlog's own, made if missing)."""
    try:
        return FIELD_VARS[key]
    except KeyError:
        name = STRUCTLOG_KEY_PREFIX + key
        var = STRUCTLOG_VARS.get(name)
        if var is None:
            var = contextvars.ContextVar(name, default=Ellipsis)
            STRUCTLOG_VARS[name] = var
        FIELD_VARS[key] = var
        return var


TRACE_ID_VAR: contextvars.ContextVar[Any] = field_var("trace_id")
"""The current trace id (canonical text), ``Ellipsis`` outside any trace context."""

FRAME_VAR: contextvars.ContextVar[trace_context | None] = contextvars.ContextVar(
    "moose_trace_frame", default=None
)
"""The innermost ``trace_context`` (its span ids), ``None`` outside any."""


def structlog_config() -> Any:
    """structlog's live configuration object (``_CONFIG``), or ``None`` when it moved."""
    try:
        from structlog import _config  # noqa: PLC0415 - read once, by the logger's set-up
    except ImportError:  # pragma: no cover - pinned by the third-party test
        return None
    return getattr(_config, "_CONFIG", None)


# --- OpenTelemetry ---------------------------------------------------------------------------


def _runtime_context_var() -> contextvars.ContextVar[Context] | None:
    """OpenTelemetry's current-context ContextVar, when it runs its default runtime.

    Reading or setting it directly is what ``get_current``/``attach``/``detach`` do, minus their
    Python frames; ``None`` under any other runtime context, and callers then use the API.
    """
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    if type(runtime).__name__ != "ContextVarsRuntimeContext":
        return None
    return variable if isinstance(variable, contextvars.ContextVar) else None


OTEL_CONTEXT_VAR: contextvars.ContextVar[Context] | None = _runtime_context_var()
"""OpenTelemetry's current-context ContextVar, or ``None`` (use ``otel_context.get_current``)."""

OTEL_SPAN_KEY: str | None = getattr(otel_trace_propagation, "_SPAN_KEY", None)
"""The key of the current span in an OpenTelemetry ``Context``, or ``None`` when it moved."""

TRACER_PROVIDER_FROM_ENV: bool = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
"""A tracer provider named by the environment is made on first use: never assume none is set."""

_UNKNOWN = object()

if hasattr(otel_trace, "_TRACER_PROVIDER"):

    def global_tracer_provider() -> object:
        """The tracer provider set globally: ``None`` while none is (spans are no-ops then)."""
        return otel_trace._TRACER_PROVIDER

else:  # pragma: no cover - pinned by the third-party test

    def global_tracer_provider() -> object:
        """Unknown here (this OpenTelemetry keeps it elsewhere): assume one is set."""
        return _UNKNOWN


def composite_members(propagator: object) -> tuple[object, ...]:
    """The propagators a ``CompositePropagator`` runs (its ``_propagators``); ``()`` for others.

    OpenTelemetry has no public way to ask; without the name, a composite counts as empty (then
    ``install_propagator`` adds ``TraceIdPropagator`` once more, which is harmless).
    """
    return tuple(getattr(propagator, "_propagators", ()))


def exporter_preferences(exporter: object) -> tuple[Any, Any]:
    """A metric exporter's preferred temporality and aggregation (``MetricExporter``'s
    ``_preferred_temporality`` / ``_preferred_aggregation``: what the SDK's periodic reader
    reads), ``(None, None)`` when unknown, for an exporter that wraps it to prefer the same."""
    return (
        getattr(exporter, "_preferred_temporality", None),
        getattr(exporter, "_preferred_aggregation", None),
    )


def meter_provider_reader() -> Callable[[], object]:
    """Return a function giving the meter provider set globally, ``None`` while none is.

    A factory, so that the metrics API is imported by the metrics module only; without the
    internal global, the function asks the API and counts its proxy as none.
    """
    from opentelemetry import metrics as otel_metrics  # noqa: PLC0415
    from opentelemetry.metrics import _internal as state  # noqa: PLC0415

    if hasattr(state, "_METER_PROVIDER"):

        def read() -> object:
            return state._METER_PROVIDER

        return read

    def ask() -> object:  # pragma: no cover - pinned by the third-party test
        provider = otel_metrics.get_meter_provider()
        return None if "Proxy" in type(provider).__name__ else provider

    return ask
