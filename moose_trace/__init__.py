"""moose-trace: one trace id from HTTP ingest through Kafka and transforms to ClickHouse.

The public API is what this module re-exports; each name is documented in docs/api.md.
Names load on first use (PEP 562), so ``import moose_trace`` is cheap for the command line, and
importing it loads no optional dependency (no confluent_kafka, duckdb, uvicorn or starlette).
It loads no standard-library module either (not ``typing``, not ``importlib``): it is on the
way to every ``moose-trace`` answer, whose budget is a fraction of ``rg``'s time.
"""

from __future__ import annotations

from moose_trace._moved import MOVED_MODULES
from moose_trace._moved import install as _install_moved_modules
from moose_trace._version import __version__

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)

# The public API: each name and the module that defines it. This is the one list: ``__all__``,
# ``dir()`` and the lazy loading below come from it. The ``TYPE_CHECKING`` block at the end says
# the same to type checkers, and tests/test_public_api.py checks that it says exactly this.
_EXPORTS: dict[str, str] = {
    # ids
    "new_trace_id": "moose_trace.tracing.ids",
    "parse_trace_id": "moose_trace.tracing.ids",
    "trace_id_from_hex": "moose_trace.tracing.ids",
    "trace_id_from_int": "moose_trace.tracing.ids",
    "trace_id_to_hex": "moose_trace.tracing.ids",
    "trace_id_to_int": "moose_trace.tracing.ids",
    # context
    "bind_fields": "moose_trace.tracing.context",
    "current_fields": "moose_trace.tracing.context",
    "current_parent_span_id": "moose_trace.tracing.context",
    "current_span_id": "moose_trace.tracing.context",
    "current_trace_id": "moose_trace.tracing.context",
    "new_span_id": "moose_trace.tracing.context",
    "trace_context": "moose_trace.tracing.context",
    # propagation
    "TraceIdPropagator": "moose_trace.tracing.propagation",
    "extract_incoming": "moose_trace.tracing.propagation",
    "extract_trace_id": "moose_trace.tracing.propagation",
    "parse_traceparent": "moose_trace.tracing.propagation",
    # setup, logging, tracing
    "Configuration": "moose_trace.configuration",
    "configure": "moose_trace.configuration",
    "LoggingSetup": "moose_trace.logging.config",
    "configure_logging": "moose_trace.logging.config",
    "shutdown_logging": "moose_trace.logging.config",
    "configure_tracing": "moose_trace.tracing.otel",
    "current_otel_ids": "moose_trace.tracing.otel",
    "otel_context_for": "moose_trace.tracing.otel",
    "default_log_dir": "moose_trace.logging.paths",
    "merge_context": "moose_trace.logging.processors",
    # errors and redaction
    "categorize_error": "moose_trace.errors.categories",
    "error_fields": "moose_trace.errors.categories",
    "register_error_category": "moose_trace.errors.categories",
    "unregister_error_category": "moose_trace.errors.categories",
    "error_signature": "moose_trace.errors.signature",
    "Redactor": "moose_trace.logging.redaction",
    # decorators and dead letters
    "traced": "moose_trace.decorators",
    "traced_api": "moose_trace.decorators",
    "traced_sync": "moose_trace.decorators",
    "traced_task": "moose_trace.decorators",
    "traced_transform": "moose_trace.decorators",
    "traced_workflow": "moose_trace.decorators",
    "DeadLetterSink": "moose_trace.decorators.dead_letters",
    # ASGI (pure ASGI: loads no web framework)
    "TraceMiddleware": "moose_trace.asgi",
}

# Subpackages reachable as attributes after a plain ``import moose_trace``
# (``moose_trace.asgi.TraceMiddleware``); none loads an optional dependency on import.
_SUBMODULES = frozenset(
    {
        "asgi",
        "clickhouse",
        "commands",
        "decorators",
        "demo",
        "errors",
        "http",
        "kafka",
        "logging",
        "query",
        "store",
        "testing",
        "tracing",
    }
)

__all__ = ["__version__", *_EXPORTS]  # noqa: PLE0604 - derived from the one list above


def __getattr__(name: str) -> object:
    from importlib import import_module  # noqa: PLC0415 (on first use: see the module doc)

    if name in _SUBMODULES or f"moose_trace.{name}" in MOVED_MODULES:
        return import_module(f"moose_trace.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'moose_trace' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


_install_moved_modules()


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


# isort: off
if TYPE_CHECKING:  # the same names, for type checkers (``as``: an explicit re-export)
    from moose_trace.asgi import TraceMiddleware as TraceMiddleware
    from moose_trace.configuration import (
        Configuration as Configuration,
        configure as configure,
    )
    from moose_trace.decorators import (
        traced as traced,
        traced_api as traced_api,
        traced_sync as traced_sync,
        traced_task as traced_task,
        traced_transform as traced_transform,
        traced_workflow as traced_workflow,
    )
    from moose_trace.decorators.dead_letters import DeadLetterSink as DeadLetterSink
    from moose_trace.errors.categories import (
        categorize_error as categorize_error,
        error_fields as error_fields,
        register_error_category as register_error_category,
        unregister_error_category as unregister_error_category,
    )
    from moose_trace.errors.signature import error_signature as error_signature
    from moose_trace.logging.config import (
        LoggingSetup as LoggingSetup,
        configure_logging as configure_logging,
        shutdown_logging as shutdown_logging,
    )
    from moose_trace.logging.paths import default_log_dir as default_log_dir
    from moose_trace.logging.processors import merge_context as merge_context
    from moose_trace.logging.redaction import Redactor as Redactor
    from moose_trace.tracing.context import (
        bind_fields as bind_fields,
        current_fields as current_fields,
        current_parent_span_id as current_parent_span_id,
        current_span_id as current_span_id,
        current_trace_id as current_trace_id,
        new_span_id as new_span_id,
        trace_context as trace_context,
    )
    from moose_trace.tracing.ids import (
        new_trace_id as new_trace_id,
        parse_trace_id as parse_trace_id,
        trace_id_from_hex as trace_id_from_hex,
        trace_id_from_int as trace_id_from_int,
        trace_id_to_hex as trace_id_to_hex,
        trace_id_to_int as trace_id_to_int,
    )
    from moose_trace.tracing.otel import (
        configure_tracing as configure_tracing,
        current_otel_ids as current_otel_ids,
        otel_context_for as otel_context_for,
    )
    from moose_trace.tracing.propagation import (
        TraceIdPropagator as TraceIdPropagator,
        extract_incoming as extract_incoming,
        extract_trace_id as extract_trace_id,
        parse_traceparent as parse_traceparent,
    )
# isort: on
