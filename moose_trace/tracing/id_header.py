"""The moose-trace id header: ``X-Trace-Id`` on HTTP, ``trace_id`` on Kafka.

Its value is the trace id as text (any case, hex or UUID form on the way in — ``ids`` parses
it; canonical UUID text on the way out). A value that is no id counts as absent and is reported,
escaped and cut, so the caller can warn without echoing what a client sent.
"""

from __future__ import annotations

from typing import Any

from moose_trace.tracing.carriers import escape_header_value, header_text
from moose_trace.tracing.ids import parse_trace_id

__all__ = ["HTTP_TRACE_HEADER", "ID_HEADERS", "KAFKA_TRACE_HEADER", "first_valid_id"]

HTTP_TRACE_HEADER = "x-trace-id"
"""The HTTP header (any case on the wire) that carries the trace id in and out."""
KAFKA_TRACE_HEADER = "trace_id"
"""The Kafka message header that carries the trace id (UTF-8 bytes, canonical text)."""
ID_HEADERS = (HTTP_TRACE_HEADER, KAFKA_TRACE_HEADER)
"""The id header names read when the caller names none, in priority order."""


def first_valid_id(values: list[Any]) -> tuple[str | None, str | None]:
    """The first valid id, and the first invalid value escaped (text rejects before bytes)."""
    rejected_text = rejected_raw = None
    for raw in values:
        if raw is None:
            continue
        text = header_text(raw)
        if text is None:
            if rejected_raw is None:
                rejected_raw = escape_header_value(raw)
            continue
        trace_id = parse_trace_id(text)
        if trace_id is not None:
            break
        if rejected_text is None:
            rejected_text = escape_header_value(raw)
    else:
        trace_id = None
    return trace_id, rejected_text if rejected_text is not None else rejected_raw
