"""moose-trace: one trace id from HTTP ingest through Kafka and transforms to ClickHouse.

The public API is what this module re-exports; each name is documented in docs/api.md.
Importing it loads no optional dependency (no confluent_kafka, duckdb, uvicorn or starlette).
"""

from __future__ import annotations

from moose_trace.context import (
    bind_fields,
    current_fields,
    current_parent_span_id,
    current_span_id,
    current_trace_id,
    new_span_id,
    trace_context,
)
from moose_trace.ids import (
    new_trace_id,
    parse_trace_id,
    trace_id_from_hex,
    trace_id_from_int,
    trace_id_to_hex,
    trace_id_to_int,
)
from moose_trace.paths import default_log_dir
from moose_trace.propagation import (
    TraceIdPropagator,
    extract_incoming,
    extract_trace_id,
    parse_traceparent,
)

__version__ = "0.1.0"

__all__ = [
    "TraceIdPropagator",
    "__version__",
    "bind_fields",
    "current_fields",
    "current_parent_span_id",
    "current_span_id",
    "current_trace_id",
    "default_log_dir",
    "extract_incoming",
    "extract_trace_id",
    "new_span_id",
    "new_trace_id",
    "parse_trace_id",
    "parse_traceparent",
    "trace_context",
    "trace_id_from_hex",
    "trace_id_from_int",
    "trace_id_to_hex",
    "trace_id_to_int",
]
