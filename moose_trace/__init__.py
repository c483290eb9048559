"""moose-trace: one trace id from HTTP ingest through Kafka and transforms to ClickHouse.

The public API is what this module re-exports; each name is documented in docs/api.md.
Names load on first use (PEP 562), so ``import moose_trace`` is cheap for the command line, and
importing it loads no optional dependency (no confluent_kafka, duckdb, uvicorn or starlette).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # ids
    "new_trace_id": "moose_trace.ids",
    "parse_trace_id": "moose_trace.ids",
    "trace_id_from_hex": "moose_trace.ids",
    "trace_id_from_int": "moose_trace.ids",
    "trace_id_to_hex": "moose_trace.ids",
    "trace_id_to_int": "moose_trace.ids",
    # context
    "bind_fields": "moose_trace.context",
    "current_fields": "moose_trace.context",
    "current_parent_span_id": "moose_trace.context",
    "current_span_id": "moose_trace.context",
    "current_trace_id": "moose_trace.context",
    "new_span_id": "moose_trace.context",
    "trace_context": "moose_trace.context",
    # propagation
    "TraceIdPropagator": "moose_trace.propagation",
    "extract_incoming": "moose_trace.propagation",
    "extract_trace_id": "moose_trace.propagation",
    "parse_traceparent": "moose_trace.propagation",
    # setup, logging, tracing
    "Configuration": "moose_trace.setup",
    "configure": "moose_trace.setup",
    "LoggingSetup": "moose_trace.log_config",
    "configure_logging": "moose_trace.log_config",
    "shutdown_logging": "moose_trace.log_config",
    "configure_tracing": "moose_trace.otel",
    "current_otel_ids": "moose_trace.otel",
    "otel_context_for": "moose_trace.otel",
    "default_log_dir": "moose_trace.paths",
    "merge_context": "moose_trace.processors",
    # errors and redaction
    "categorize_error": "moose_trace.errors",
    "error_fields": "moose_trace.errors",
    "register_error_category": "moose_trace.errors",
    "unregister_error_category": "moose_trace.errors",
    "error_signature": "moose_trace.signature",
    "Redactor": "moose_trace.redaction",
    # decorators and dead letters
    "traced": "moose_trace.decorators",
    "traced_api": "moose_trace.decorators",
    "traced_sync": "moose_trace.decorators",
    "traced_task": "moose_trace.decorators",
    "traced_transform": "moose_trace.decorators",
    "traced_workflow": "moose_trace.decorators",
    "DeadLetterSink": "moose_trace.dlq",
    # ASGI (pure ASGI: loads no web framework)
    "TraceMiddleware": "moose_trace.asgi",
}

# Subpackages reachable as attributes after a plain ``import moose_trace``
# (``moose_trace.asgi.TraceMiddleware``); none loads an optional dependency on import.
_SUBMODULES = frozenset(
    {"asgi", "broker", "clickhouse", "decorators", "demo", "dlq", "kafka", "query"}
)

__all__ = [
    "Configuration",
    "DeadLetterSink",
    "LoggingSetup",
    "Redactor",
    "TraceIdPropagator",
    "TraceMiddleware",
    "__version__",
    "bind_fields",
    "categorize_error",
    "configure",
    "configure_logging",
    "configure_tracing",
    "current_fields",
    "current_otel_ids",
    "current_parent_span_id",
    "current_span_id",
    "current_trace_id",
    "default_log_dir",
    "error_fields",
    "error_signature",
    "extract_incoming",
    "extract_trace_id",
    "merge_context",
    "new_span_id",
    "new_trace_id",
    "otel_context_for",
    "parse_trace_id",
    "parse_traceparent",
    "register_error_category",
    "shutdown_logging",
    "trace_context",
    "trace_id_from_hex",
    "trace_id_from_int",
    "trace_id_to_hex",
    "trace_id_to_int",
    "traced",
    "traced_api",
    "traced_sync",
    "traced_task",
    "traced_transform",
    "traced_workflow",
    "unregister_error_category",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"moose_trace.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'moose_trace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from moose_trace.asgi import TraceMiddleware
    from moose_trace.context import (
        bind_fields,
        current_fields,
        current_parent_span_id,
        current_span_id,
        current_trace_id,
        new_span_id,
        trace_context,
    )
    from moose_trace.decorators import (
        traced,
        traced_api,
        traced_sync,
        traced_task,
        traced_transform,
        traced_workflow,
    )
    from moose_trace.dlq import DeadLetterSink
    from moose_trace.errors import (
        categorize_error,
        error_fields,
        register_error_category,
        unregister_error_category,
    )
    from moose_trace.ids import (
        new_trace_id,
        parse_trace_id,
        trace_id_from_hex,
        trace_id_from_int,
        trace_id_to_hex,
        trace_id_to_int,
    )
    from moose_trace.log_config import LoggingSetup, configure_logging, shutdown_logging
    from moose_trace.otel import configure_tracing, current_otel_ids, otel_context_for
    from moose_trace.paths import default_log_dir
    from moose_trace.processors import merge_context
    from moose_trace.propagation import (
        TraceIdPropagator,
        extract_incoming,
        extract_trace_id,
        parse_traceparent,
    )
    from moose_trace.redaction import Redactor
    from moose_trace.setup import Configuration, configure
    from moose_trace.signature import error_signature
