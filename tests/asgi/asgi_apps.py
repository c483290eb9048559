"""The apps the ASGI tests serve: a Starlette app and a FastAPI app, both with TraceMiddleware.

Their handlers log, stream, fail and authenticate the way real endpoints do, so the tests can
check what each situation leaves in the logs and in the response.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi import HTTPException as FastAPIHTTPException
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from moose_trace.asgi import TraceMiddleware
from moose_trace.tracing.context import bind_fields, current_trace_id

log = structlog.get_logger("tests.asgi.app")


class HeaderAuth(AuthenticationBackend):
    """Authenticates whoever the ``x-user`` header names (a stand-in for a real token check)."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        user = conn.headers.get("x-user")
        if not user:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(user)


async def echo(request: Request) -> JSONResponse:
    log.info("handler ran", marker=request.query_params.get("n"))
    return JSONResponse({"trace_id": current_trace_id()})


def sync_echo(request: Request) -> JSONResponse:
    """A plain function endpoint: Starlette runs it in its thread pool."""
    log.info("sync handler ran")
    return JSONResponse({"trace_id": current_trace_id()})


async def ingest(request: Request) -> JSONResponse:
    records = await request.json()
    log.info("records accepted", records=len(records))
    return JSONResponse({"accepted": len(records)})


async def leaderboard(request: Request) -> Response:
    log.info("querying leaderboard")
    raise TimeoutError("ClickHouse query timeout after 5000ms")


async def missing(request: Request) -> Response:
    raise HTTPException(status_code=404, detail="no such item")


async def unavailable(request: Request) -> Response:
    """Answers 503 without raising, as an app does when a dependency is down."""
    if request.query_params.get("own") == "1":
        bind_fields(error_category="rate_limit_error")  # the app knows better than the status
    return JSONResponse({"error": "clickhouse unavailable"}, status_code=503)


async def streamed(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(3):
            await asyncio.sleep(0)
            log.info("chunk sent", chunk=index)
            yield f"chunk {index}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def stream_breaks(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first chunk\n"
        await asyncio.sleep(0)
        raise ConnectionResetError("upstream went away")

    return StreamingResponse(chunks(), media_type="text/plain")


async def slow(request: Request) -> JSONResponse:
    marker = request.query_params["n"]
    log.info("step one", marker=marker)
    await asyncio.sleep(random.uniform(0, 0.02))
    log.info("step two", marker=marker)
    await asyncio.sleep(random.uniform(0, 0.01))
    return JSONResponse({"marker": marker, "trace_id": current_trace_id()})


async def with_background_task(request: Request) -> JSONResponse:
    async def cleanup() -> None:
        await asyncio.sleep(0.3)
        log.info("background task done")

    return JSONResponse({"ok": True}, background=BackgroundTask(cleanup))


async def whoami(request: Request) -> JSONResponse:
    user = request.user.display_name if request.user.is_authenticated else None
    return JSONResponse({"user": user})


async def lifespan_state(request: Request) -> JSONResponse:
    return JSONResponse({"started": getattr(request.app.state, "started", False)})


async def websocket_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    log.info("websocket message", text=text)
    await websocket.send_json({"trace_id": current_trace_id(), "text": text})
    await websocket.close()


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    app.state.started = True
    yield


def starlette_app(**options: Any) -> Starlette:
    """The Starlette app: TraceMiddleware (with ``options``) outermost, then authentication."""
    return Starlette(
        routes=[
            Route("/api/echo", echo),
            Route("/api/sync", sync_echo),
            Route("/ingest/UserEvent", ingest, methods=["POST"]),
            Route("/consumption/leaderboard", leaderboard),
            Route("/api/missing", missing),
            Route("/api/unavailable", unavailable),
            Route("/api/stream", streamed),
            Route("/api/stream-breaks", stream_breaks),
            Route("/api/slow", slow),
            Route("/api/background", with_background_task),
            Route("/consumption/user-pii", whoami),
            Route("/api/lifespan", lifespan_state),
            WebSocketRoute("/ws", websocket_echo),
        ],
        middleware=[
            Middleware(TraceMiddleware, **options),
            Middleware(AuthenticationMiddleware, backend=HeaderAuth()),
        ],
        lifespan=lifespan,
    )


def fastapi_app(**options: Any) -> FastAPI:
    """The FastAPI app, set up as its users do: ``app.add_middleware(TraceMiddleware)``."""
    app = FastAPI(lifespan=lifespan)

    @app.get("/api/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, Any]:
        log.info("item read", item_id=item_id)
        return {"item_id": item_id, "trace_id": current_trace_id()}

    @app.get("/consumption/leaderboard")
    async def failing_leaderboard() -> dict[str, Any]:
        raise TimeoutError("ClickHouse query timeout after 5000ms")

    @app.get("/consumption/user-pii")
    async def user_pii(request: Request) -> dict[str, Any]:
        token = request.headers.get("x-token")
        if token != "valid":
            log.warning("access denied", auth="failure", reason="expired_token")
            raise FastAPIHTTPException(status_code=401, detail="expired token")
        request.state.principal = "user@example.com"
        log.info("access granted", auth="success")
        return {"rows": 3}

    @app.get("/api/bound")
    async def bound() -> dict[str, Any]:
        bind_fields(principal="service-account-7")
        return {"ok": True}

    @app.post("/ingest/{model}")
    async def ingest_model(model: str, request: Request) -> dict[str, Any]:
        records = await request.json()
        log.info("records accepted", records=len(records), model=model)
        return {"accepted": len(records)}

    app.add_middleware(TraceMiddleware, **options)
    return app
