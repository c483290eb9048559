"""The console's ASGI application: the JSON API, the live stream and the page.

``create_app(source)`` wires the routes of ``moose_trace.console.api`` and
``moose_trace.console.stream`` over one ``ConsoleSource`` behind the ``ConsoleGuard``, and
serves the page's static files (shipped in the wheel, no build step). Every route is read-only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from moose_trace.console.api import ConsoleApi, json_response
from moose_trace.console.assets import ConsolePage, VersionedAssets, asset_versions
from moose_trace.console.security import ConsoleGuard
from moose_trace.console.source import ConsoleSource
from moose_trace.console.stream import stream_events
from moose_trace.query.exceptions import EngineError, QueryError

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
"""The page: ``index.html`` and its script and style sheet."""


async def _bad_request(_request: Request, error: Exception) -> Response:
    return json_response({"error": str(error)}, 400)


async def _engine_failed(_request: Request, error: Exception) -> Response:
    return json_response({"error": f"the logs could not be read: {error}"}, 503)


async def _unexpected(_request: Request, error: Exception) -> Response:
    return json_response({"error": f"internal error: {type(error).__name__}: {error}"}, 500)


async def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return json_response({"error": error.detail}, error.status_code)


def create_app(
    source: ConsoleSource, *, token: str | None = None, hosts: Iterable[str] | None = None
) -> Starlette:
    """Return the console app serving ``source``.

    ``token``: required on every request and WebSocket when set. ``hosts``: the ``Host``
    header values accepted (``moose_trace.console.security.loopback_hosts`` for a loopback
    console; ``None`` accepts any, for a console behind its token).
    """
    api = ConsoleApi(source)
    versions = asset_versions(STATIC_DIR)

    async def stream(websocket: WebSocket) -> None:
        await stream_events(websocket, source)

    async def about(_request: Request) -> Response:
        loaded, total = source.progress()
        return json_response(
            {
                "source": source.describe(),
                "ready": source.ready,
                "loaded_bytes": loaded,
                "total_bytes": total,
            }
        )

    routes = [
        Route("/", ConsolePage(STATIC_DIR, versions).respond),
        Route("/api/source", about),
        Route("/api/events", api.events),
        Route("/api/traces/{trace_id}", api.trace),
        Route("/api/errors", api.errors),
        Route("/api/stats", api.stats),
        Route("/api/histogram", api.histogram),
        Route("/api/export", api.export),
        WebSocketRoute("/api/stream", stream),
        Mount("/static", VersionedAssets(STATIC_DIR, versions), name="static"),
    ]
    handlers = {
        QueryError: _bad_request,
        EngineError: _engine_failed,
        OSError: _engine_failed,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    return Starlette(
        routes=routes,
        middleware=[Middleware(ConsoleGuard, token=token, hosts=hosts)],
        exception_handlers=handlers,
        lifespan=_closing(source),
    )


def _closing(source: ConsoleSource) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        source.warm()  # the table loads while the page opens; questions meanwhile: partial
        try:
            yield
        finally:
            source.close()

    return lifespan
