"""Scopes other than plain requests: lifespan passes through, WebSocket sessions are traced."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from asgi_apps import starlette_app
from asgi_logs import Logs

from moose_trace.asgi import TraceMiddleware
from moose_trace.tracing.context import current_trace_id


def test_lifespan_reaches_the_app_under_uvicorn(starlette_url: str, logs: Logs) -> None:
    response = httpx.get(f"{starlette_url}/api/lifespan")
    assert response.json() == {"started": True}
    logs.access(response.headers["x-trace-id"])


async def test_lifespan_and_unknown_scopes_pass_through_untouched() -> None:
    seen: list[tuple[str, str | None]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((scope["type"], current_trace_id()))
        message = await receive()
        await send({"type": f"{message['type']}.complete", "echo": message})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = TraceMiddleware(app)
    await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    await middleware({"type": "custom.protocol"}, receive, send)
    assert seen == [("lifespan", None), ("custom.protocol", None)]  # no trace context opened
    assert sent[0] == {"type": "lifespan.startup.complete", "echo": {"type": "lifespan.startup"}}


async def test_a_websocket_session_runs_in_its_own_trace_context(logs: Logs) -> None:
    # uvicorn here has no WebSocket library installed, so the session is driven in process: the
    # real Starlette app and WebSocket route, the ASGI messages a server would exchange.
    client_id = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
    incoming: list[dict[str, Any]] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hello"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"x-trace-id", client_id.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "state": {},
    }
    await starlette_app()(scope, receive, send)
    accept, reply, close = sent
    assert accept["type"] == "websocket.accept"
    assert dict(accept["headers"])[b"x-trace-id"] == client_id.encode()
    assert orjson.loads(reply["text"]) == {"trace_id": client_id, "text": "hello"}
    assert close["type"] == "websocket.close"
    (message_line,) = logs.wait_for(lambda e: e["event"] == "websocket message")
    assert (message_line["trace_id"], message_line["name"]) == (client_id, "ws")
    line = logs.access(client_id)
    assert (line["event"], line["http_method"], line["http_status"], line["http_path"]) == (
        "request handled",
        "GET",
        101,
        "/ws",
    )


async def test_the_accept_message_carries_the_trace_id_header() -> None:
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "headers": [(b"x-app", b"1")]})
        await receive()

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "client": ("127.0.0.1", 1)}
    await TraceMiddleware(app, access_log=False)(scope, receive, send)
    headers = dict(sent[0]["headers"])
    assert headers[b"x-app"] == b"1"
    assert len(headers[b"x-trace-id"]) == 36
