"""Outgoing HTTP calls in the trace: the ecosystem's hooks, each sending the W3C headers.

- ``client_span(method, url)``: the generic one. A ``with`` block around any call; it yields
  the headers to send (``X-Trace-Id``, ``traceparent``, ``tracestate``, ``baggage``) and, when
  OpenTelemetry tracing is on, runs a CLIENT span whose id is the ``traceparent`` parent, so
  several calls from one request each get their own parent id.
- httpx: ``TracedTransport`` / ``AsyncTracedTransport`` (a span per call) and
  ``httpx_event_hooks()`` (headers only), in ``moose_trace.http.httpx_client``.
- requests: ``TracedAdapter`` (mount it on a ``Session``) and ``traced_session()``, in
  ``moose_trace.http.requests_client``.
- ``outgoing_headers()`` (no span) for anything else.

Importing this package imports neither httpx nor requests; their names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from moose_trace.http.client import CLIENT_TRACER, client_span
from moose_trace.tracing.propagation import outgoing_headers

__all__ = [
    "CLIENT_TRACER",
    "AsyncTracedTransport",
    "TracedAdapter",
    "TracedTransport",
    "client_span",
    "httpx_event_hooks",
    "outgoing_headers",
    "traced_session",
]

_LAZY = {
    "AsyncTracedTransport": "moose_trace.http.httpx_client",
    "TracedTransport": "moose_trace.http.httpx_client",
    "httpx_event_hooks": "moose_trace.http.httpx_client",
    "TracedAdapter": "moose_trace.http.requests_client",
    "traced_session": "moose_trace.http.requests_client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from moose_trace.http.httpx_client import (
        AsyncTracedTransport,
        TracedTransport,
        httpx_event_hooks,
    )
    from moose_trace.http.requests_client import TracedAdapter, traced_session
