"""The other libraries' private state the fast paths read is still where moose_trace._fastpath
looks for it, and still means what it meant.

``moose_trace._fastpath`` is the one module that reads structlog's and OpenTelemetry's
internals (``tests/test_architecture.py`` keeps it so). Each read falls back to the public API
when the name is gone, so a move would cost speed silently; these tests make it loud instead,
naming the internal that moved and the installed version. Supported: what pyproject.toml
requires (structlog >= 24.1, opentelemetry-api >= 1.25), checked here with the installed one.
"""

from __future__ import annotations

import contextvars
from importlib.metadata import version

import pytest
import structlog
import structlog.contextvars
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.metrics import _internal as otel_metrics_state

from moose_trace import _fastpath
from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.tracing.context import current_fields, trace_context

STRUCTLOG = f"structlog {version('structlog')}"
OTEL = f"opentelemetry-api {version('opentelemetry-api')}"
MINIMUM = {"structlog": (24, 1), "opentelemetry-api": (1, 25)}


def moved(name: str, library: str) -> str:
    return (
        f"{name} moved in {library}: moose_trace._fastpath falls back to the public API (slower)."
        " Update _fastpath for this version, or pin the version in pyproject.toml."
    )


@pytest.mark.parametrize("distribution", sorted(MINIMUM))
def test_the_installed_versions_are_supported(distribution: str) -> None:
    installed = tuple(int(part) for part in version(distribution).split(".")[:2])
    assert installed >= MINIMUM[distribution], f"{distribution} {version(distribution)}"


def test_structlog_keeps_one_contextvar_per_key_in_the_registry_we_share() -> None:
    assert _fastpath.SHARES_STRUCTLOG_REGISTRY, moved(
        "structlog.contextvars._CONTEXT_VARS", STRUCTLOG
    )
    assert _fastpath.STRUCTLOG_VARS is structlog.contextvars._CONTEXT_VARS, STRUCTLOG
    structlog.contextvars.bind_contextvars(pinned_key="from structlog")
    try:
        variable = _fastpath.STRUCTLOG_VARS[_fastpath.STRUCTLOG_KEY_PREFIX + "pinned_key"]
        assert isinstance(variable, contextvars.ContextVar), moved(
            "_CONTEXT_VARS values", STRUCTLOG
        )
        assert variable is _fastpath.field_var("pinned_key"), STRUCTLOG
        assert variable.get() == "from structlog", STRUCTLOG
        with trace_context(pinned_key="from moose_trace"):  # one variable, seen by both sides
            assert structlog.contextvars.get_contextvars()["pinned_key"] == "from moose_trace"
    finally:
        structlog.contextvars.unbind_contextvars("pinned_key")
    assert "pinned_key" not in current_fields()


def test_structlog_config_is_the_live_configuration_with_the_fields_we_compare() -> None:
    config = _fastpath.structlog_config()
    assert config is not None, moved("structlog._config._CONFIG", STRUCTLOG)
    setup = configure_logging(service="pinned", stdout=False)
    try:
        for field in ("default_processors", "default_wrapper_class", "logger_factory"):
            assert hasattr(config, field), moved(f"structlog._config._CONFIG.{field}", STRUCTLOG)
        assert config.default_processors is structlog.get_config()["processors"], STRUCTLOG
        assert config.default_wrapper_class is structlog.get_config()["wrapper_class"], STRUCTLOG
        assert config.default_context_class is structlog.get_config()["context_class"], STRUCTLOG
        assert setup is not None
    finally:
        shutdown_logging()


def test_opentelemetry_keeps_the_current_context_in_the_contextvar_we_read() -> None:
    variable = _fastpath.OTEL_CONTEXT_VAR
    assert variable is not None, moved("opentelemetry.context._RUNTIME_CONTEXT", OTEL)
    context = otel_context.set_value("pinned", 1)
    token = otel_context.attach(context)
    try:
        assert variable.get() is context, moved("_RUNTIME_CONTEXT._current_context", OTEL)
    finally:
        otel_context.detach(token)
    assert variable.get() is otel_context.get_current(), OTEL


def test_opentelemetry_keeps_the_current_span_under_the_key_we_read() -> None:
    key = _fastpath.OTEL_SPAN_KEY
    assert key is not None, moved("opentelemetry.trace.propagation._SPAN_KEY", OTEL)
    span = otel_trace.NonRecordingSpan(
        otel_trace.SpanContext(1, 2, is_remote=False, trace_flags=otel_trace.TraceFlags(1))
    )
    context = otel_trace.set_span_in_context(span)
    assert context.get(key) is span, moved("_SPAN_KEY", OTEL)
    assert otel_trace.get_current_span(context) is span, OTEL


def test_the_global_providers_read_are_the_ones_the_api_hands_out() -> None:
    assert hasattr(otel_trace, "_TRACER_PROVIDER"), moved(
        "opentelemetry.trace._TRACER_PROVIDER", OTEL
    )
    tracer_provider = _fastpath.global_tracer_provider()
    if tracer_provider is None:  # none set yet in this process: the API hands out its proxy
        assert isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider), OTEL
    else:
        assert tracer_provider is otel_trace.get_tracer_provider(), OTEL
    assert hasattr(otel_metrics_state, "_METER_PROVIDER"), moved(
        "opentelemetry.metrics._internal._METER_PROVIDER", OTEL
    )
    meter_provider = _fastpath.meter_provider_reader()()
    if meter_provider is not None:
        assert meter_provider is otel_metrics.get_meter_provider(), OTEL
    else:
        assert "Proxy" in type(otel_metrics.get_meter_provider()).__name__, OTEL


def test_a_composite_propagator_keeps_its_members_where_we_read_them() -> None:
    from opentelemetry.propagators.composite import CompositePropagator  # noqa: PLC0415
    from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
        TraceContextTextMapPropagator,
    )

    member = TraceContextTextMapPropagator()
    composite = CompositePropagator([member])
    assert _fastpath.composite_members(composite) == (member,), moved(
        "opentelemetry.propagators.composite.CompositePropagator._propagators", OTEL
    )
    assert _fastpath.composite_members(member) == ()
