"""httpx in the trace: a transport that runs each request in a CLIENT span, and event hooks.

``httpx.Client(transport=TracedTransport())`` (``AsyncTracedTransport`` for ``AsyncClient``)
wraps the default transport, or the one you pass; ``tracer_provider`` defaults to the global
one. Each request gets the trace headers and, when OpenTelemetry tracing is on, its own CLIENT
span (see ``moose_trace.http.client_span``). ``httpx.Client(event_hooks=httpx_event_hooks())``
only adds the headers (hooks cannot time a call or see its failure);
``httpx_event_hooks(asynchronous=True)`` for ``AsyncClient``. Trace headers the caller set on
the request are replaced by the trace's (one trace per call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from opentelemetry import trace as otel_trace

from moose_trace.http.client import client_span
from moose_trace.tracing.propagation import outgoing_headers

__all__ = ["AsyncTracedTransport", "TracedTransport", "httpx_event_hooks"]


class TracedTransport(httpx.BaseTransport):
    """An httpx transport: each request in its own CLIENT span, with the trace headers."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        id_header: str = "X-Trace-Id",
        tracer_provider: otel_trace.TracerProvider | None = None,
    ) -> None:
        self.transport = transport if transport is not None else httpx.HTTPTransport()
        """The wrapped transport that sends the requests."""
        self._id_header = id_header
        self._provider = tracer_provider

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` in a CLIENT span, its headers carrying the trace."""
        with client_span(
            request.method,
            str(request.url),
            id_header=self._id_header,
            tracer_provider=self._provider,
        ) as call:
            request.headers.update(call.headers)
            response = self.transport.handle_request(request)
            call.set_status(response.status_code)
            return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self.transport.close()


class AsyncTracedTransport(httpx.AsyncBaseTransport):
    """An async httpx transport: each request in its own CLIENT span, with the trace headers."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        id_header: str = "X-Trace-Id",
        tracer_provider: otel_trace.TracerProvider | None = None,
    ) -> None:
        self.transport = transport if transport is not None else httpx.AsyncHTTPTransport()
        """The wrapped transport that sends the requests."""
        self._id_header = id_header
        self._provider = tracer_provider

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` in a CLIENT span, its headers carrying the trace."""
        with client_span(
            request.method,
            str(request.url),
            id_header=self._id_header,
            tracer_provider=self._provider,
        ) as call:
            request.headers.update(call.headers)
            response = await self.transport.handle_async_request(request)
            call.set_status(response.status_code)
            return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.transport.aclose()


def httpx_event_hooks(
    *, asynchronous: bool = False, id_header: str = "X-Trace-Id"
) -> dict[str, list[Any]]:
    """Return ``event_hooks`` for an httpx client that add the trace headers to each request.

    No span is opened (``TracedTransport`` does that); the headers name the current span.
    """

    def add_headers(request: httpx.Request) -> None:
        request.headers.update(outgoing_headers(id_header))

    async def add_headers_async(request: httpx.Request) -> None:
        add_headers(request)

    hook: Callable[[httpx.Request], None] | Callable[[httpx.Request], Awaitable[None]]
    hook = add_headers_async if asynchronous else add_headers
    return {"request": [hook]}
