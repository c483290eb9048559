"""TraceMiddleware's options: bad ones are refused clearly; broken callables never fail requests."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from asgi_logs import Logs

from moose_trace.asgi import TraceMiddleware


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def call(app: Any, path: str = "/api/thing") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "client": None}
    await app(scope, receive, send)
    return sent


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="not request fields"):
        TraceMiddleware(ok_app, context_fields=["type", "http_body"])


async def test_a_broken_rule_or_principal_lookup_does_not_fail_the_request(logs: Logs) -> None:
    def rule(path: str) -> tuple[str, str]:
        raise RuntimeError("bug in the rule")

    def principal(scope: Any) -> str | None:
        raise RuntimeError("bug in the lookup")

    sent = await call(TraceMiddleware(ok_app, rule=rule, principal=principal))
    assert sent[0]["status"] == 204
    (line,) = logs.wait_for(lambda e: e["event"] == "request handled")
    assert (line["type"], line["name"], line["http_status"]) == ("api", "thing", 204)
    assert "principal" not in line
    assert "client_ip" not in line  # a unix-socket peer has no address


def test_importing_the_middleware_loads_no_framework_server_or_sdk() -> None:
    code = (
        "import sys, moose_trace.asgi\n"
        "heavy = ('starlette', 'fastapi', 'uvicorn', 'opentelemetry.sdk')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or "
        "m.startswith('opentelemetry.sdk')))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
