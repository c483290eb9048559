"""The stacking with OpenTelemetry's ASGI middleware where no agreement is possible, found early.

``OpenTelemetryMiddleware`` outside ``TraceMiddleware`` starts its span before anything reads
``X-Trace-Id``; unless moose-trace's propagator is installed, a client's ``X-Trace-Id`` then
cannot be continued (docs/standards.md). ``TraceMiddleware`` checks at ASGI lifespan startup,
once the app's own startup ran: OpenTelemetry's ASGI instrumentation loaded, the propagator not
installed, and no ``OpenTelemetryMiddleware`` inside ``TraceMiddleware`` (where it would be
fine). Servers without lifespan get the same warning at the first request that shows it.
"""

from __future__ import annotations

import sys
from typing import Any

from moose_trace.tracing.otel import propagator_installed

__all__ = ["STACKING_HINT", "stacking_risk"]

STACKING_HINT = (
    "an OpenTelemetry middleware outside TraceMiddleware starts its span without reading "
    "X-Trace-Id; the request follows that span's trace and keeps the client's id as "
    "linked_trace_id. Call moose_trace.tracing.otel.install_propagator() (configure() does) so "
    "OpenTelemetry reads X-Trace-Id too, or add TraceMiddleware outside it."
)
_OTEL_ASGI = "opentelemetry.instrumentation.asgi"
_MAX_DEPTH = 64


def _otel_inside(app: Any) -> bool:
    """Whether an ``OpenTelemetryMiddleware`` wraps the app inside ``app`` (middleware chain)."""
    module = sys.modules.get(_OTEL_ASGI)
    middleware = getattr(module, "OpenTelemetryMiddleware", None)
    if middleware is None:
        return False
    seen = 0
    while app is not None and seen < _MAX_DEPTH:
        if isinstance(app, middleware):
            return True
        # ASGI middleware keep the wrapped app as ``app``; Starlette and FastAPI build their
        # middleware stack at startup, in ``middleware_stack``.
        app = getattr(app, "middleware_stack", None) or getattr(app, "app", None)
        seen += 1
    return False


def stacking_risk(inner_app: Any) -> bool:
    """Whether an ``OpenTelemetryMiddleware`` may run outside ``TraceMiddleware`` unheard.

    True when OpenTelemetry's ASGI instrumentation is loaded, its global propagator does not
    read ``X-Trace-Id`` and none of its middleware sits inside (around ``inner_app``).
    """
    if _OTEL_ASGI not in sys.modules:
        return False
    if propagator_installed():
        return False
    return not _otel_inside(inner_app)
