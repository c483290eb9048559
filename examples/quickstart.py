"""Quickstart: one trace id, carried into every log line and onward in headers.

Run: .venv/bin/python examples/quickstart.py
"""

from __future__ import annotations

import structlog

import moose_trace
from moose_trace.tracing.propagation import TraceIdPropagator

structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.JSONRenderer(),
    ]
)
log = structlog.get_logger()

incoming = {"X-Trace-Id": "0193F0C27B1E7C3A9D2F0123456789AB"}  # what a client sent
with moose_trace.trace_context(
    moose_trace.extract_trace_id(incoming), type="ingest", name="UserEvent"
):
    log.info("ingested", records=5)
    outgoing: dict[str, str] = {}
    TraceIdPropagator(id_header="trace_id").inject(outgoing)  # Kafka headers for the next hop
    log.info("produced", kafka_topic="UserEvent", headers=outgoing)

with moose_trace.trace_context(type="transform", name="user_event_to_session") as ctx:
    log.info("new request gets a fresh UUIDv7", trace_id_made=ctx.trace_id)
