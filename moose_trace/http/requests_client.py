"""requests in the trace: a transport adapter that runs each request in a CLIENT span.

``session.mount("http://", TracedAdapter())`` and ``"https://"`` (``traced_session()`` returns a
``Session`` with both mounted): each request gets the trace headers (``X-Trace-Id``,
``traceparent``, ``tracestate``, ``baggage``) and, when OpenTelemetry tracing is on, its own
CLIENT span (see ``moose_trace.http.client_span``). Pass the adapter's usual options
(``max_retries``, pool sizes) through.
"""

from __future__ import annotations

from typing import Any

import requests
from opentelemetry import trace as otel_trace
from requests.adapters import HTTPAdapter

from moose_trace.http.client import client_span

__all__ = ["TracedAdapter", "traced_session"]


class TracedAdapter(HTTPAdapter):
    """A requests ``HTTPAdapter``: each request in its own CLIENT span, with the trace headers."""

    def __init__(
        self,
        *args: Any,
        id_header: str = "X-Trace-Id",
        tracer_provider: otel_trace.TracerProvider | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._id_header = id_header
        self._provider = tracer_provider

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send ``request`` in a CLIENT span, its headers carrying the trace."""
        method = request.method or "GET"
        with client_span(
            method, request.url or "", id_header=self._id_header, tracer_provider=self._provider
        ) as call:
            request.headers.update(call.headers)
            response = super().send(request, *args, **kwargs)
            call.set_status(response.status_code)
            return response


def traced_session(
    id_header: str = "X-Trace-Id", tracer_provider: otel_trace.TracerProvider | None = None
) -> requests.Session:
    """Return a ``requests.Session`` with ``TracedAdapter`` mounted for http and https."""
    session = requests.Session()
    adapter = TracedAdapter(id_header=id_header, tracer_provider=tracer_provider)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
