"""ASGI integration: the trace id of each HTTP request, from its header to every log line.

``app.add_middleware(TraceMiddleware)`` (Starlette, FastAPI) or ``TraceMiddleware(app)`` around
any ASGI app. Importing this module imports no web framework or server.
"""

from __future__ import annotations

from moose_trace.asgi.client import TrustedProxies
from moose_trace.asgi.middleware import (
    ACCESS_EVENT,
    ACCESS_FAILED_EVENT,
    CANCELLED_EVENT,
    DEFAULT_CONTEXT_FIELDS,
    LOGGER_NAME,
    OUTER_SPAN_EVENT,
    REJECTED_EVENT,
    REQUEST_FIELDS,
    STACKING_EVENT,
    TraceMiddleware,
)
from moose_trace.asgi.naming import PathClassifier, PathRule
from moose_trace.asgi.principal import scope_principal

__all__ = [
    "ACCESS_EVENT",
    "ACCESS_FAILED_EVENT",
    "CANCELLED_EVENT",
    "DEFAULT_CONTEXT_FIELDS",
    "LOGGER_NAME",
    "OUTER_SPAN_EVENT",
    "REJECTED_EVENT",
    "REQUEST_FIELDS",
    "STACKING_EVENT",
    "PathClassifier",
    "PathRule",
    "TraceMiddleware",
    "TrustedProxies",
    "scope_principal",
]
