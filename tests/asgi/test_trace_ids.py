"""Incoming trace ids over real HTTP: valid ones continue, bad ones are replaced and reported."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from asgi_apps import starlette_app
from asgi_logs import Logs

from moose_trace.asgi.middleware import REJECTED_EVENT
from moose_trace.tracing.propagation import escape_header_value

CLIENT_ID = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"


def is_uuid7(value: str) -> bool:
    parsed = uuid.UUID(value)
    return parsed.version == 7 and str(parsed) == value


@pytest.mark.parametrize(
    "sent",
    [
        CLIENT_ID,
        CLIENT_ID.upper(),
        CLIENT_ID.replace("-", ""),
        CLIENT_ID.replace("-", "").upper(),
    ],
)
def test_a_valid_x_trace_id_is_continued_and_echoed_canonical(
    starlette_url: str, logs: Logs, sent: str
) -> None:
    response = httpx.get(f"{starlette_url}/api/echo", headers={"X-Trace-Id": sent})
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == CLIENT_ID
    assert response.json() == {"trace_id": CLIENT_ID}
    (handler_line,) = logs.wait_for(lambda e: e["event"] == "handler ran")
    assert handler_line["trace_id"] == CLIENT_ID
    assert logs.access(CLIENT_ID)["http_status"] == 200
    assert not [line for line in logs.lines() if line["event"] == REJECTED_EVENT]


def test_a_traceparent_is_accepted_when_there_is_no_x_trace_id(
    starlette_url: str, logs: Logs
) -> None:
    traceparent = f"00-{CLIENT_ID.replace('-', '')}-00f067aa0ba902b7-01"
    response = httpx.get(f"{starlette_url}/api/echo", headers={"traceparent": traceparent})
    assert response.headers["x-trace-id"] == CLIENT_ID
    assert logs.access(CLIENT_ID)["event"] == "request handled"


def test_a_traceparent_of_another_trace_wins_and_x_trace_id_is_linked(
    starlette_url: str, logs: Logs
) -> None:
    other_hex = "ab" * 16
    other = (
        f"{other_hex[:8]}-{other_hex[8:12]}-{other_hex[12:16]}-{other_hex[16:20]}-{other_hex[20:]}"
    )
    traceparent = f"00-{other_hex}-00f067aa0ba902b7-01"
    response = httpx.get(
        f"{starlette_url}/api/echo", headers={"X-Trace-Id": CLIENT_ID, "traceparent": traceparent}
    )
    # The W3C peer's trace is continued; the client's own id is on the access line, not lost.
    assert response.headers["x-trace-id"] == other
    line = logs.access(other)
    assert line["http_status"] == 200
    assert line["linked_trace_id"] == CLIENT_ID
    assert line["parent_span_id"] == "00f067aa0ba902b7"


def test_without_an_incoming_id_each_request_gets_a_fresh_uuid7(
    starlette_url: str, logs: Logs
) -> None:
    ids = [httpx.get(f"{starlette_url}/api/echo").headers["x-trace-id"] for _ in range(3)]
    assert all(is_uuid7(trace_id) for trace_id in ids)
    assert len(set(ids)) == 3
    assert ids == sorted(ids)  # time-ordered: sorting ids sorts requests
    for trace_id in ids:
        assert logs.access(trace_id)["trace_id"] == trace_id


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"a" * 10_240, id="10KB"),
        pytest.param("café-☕".encode(), id="non-ascii"),
        pytest.param(b"\xff\xfe\xfd-not-utf8", id="not-utf8"),
        pytest.param(b"00000000-0000-0000-0000-000000000000", id="all-zeros"),
        pytest.param(b"not-a-trace-id; DROP TABLE logs", id="junk"),
        pytest.param(CLIENT_ID.encode() + b"0", id="one-char-too-long"),
        pytest.param(b"", id="empty"),
    ],
)
def test_a_malformed_x_trace_id_is_replaced_reported_once_and_never_echoed(
    starlette_url: str, logs: Logs, sent: bytes
) -> None:
    response = httpx.get(f"{starlette_url}/api/echo", headers=[(b"X-Trace-Id", sent)])
    assert response.status_code == 200
    trace_id = response.headers["x-trace-id"]
    assert is_uuid7(trace_id)
    if sent:
        assert all(sent[:16] not in value for _, value in response.headers.raw)
    (warning,) = logs.wait_for(lambda e: e["event"] == REJECTED_EVENT)
    assert warning["level"] == "warning"
    assert warning["trace_id"] == trace_id  # the warning belongs to the request it is about
    reported = warning["rejected_trace_id"]
    assert len(reported) <= 64
    assert reported.isascii()
    assert reported.isprintable()
    assert reported == escape_header_value(_text(sent))
    assert logs.access(trace_id)["http_status"] == 200


def _text(sent: bytes) -> str | bytes:
    try:
        return sent.decode("utf-8")
    except UnicodeDecodeError:
        return sent


async def test_cr_lf_in_a_trace_header_is_replaced_and_never_reaches_a_header() -> None:
    # No HTTP/1.1 server hands CR/LF to the app (the parser refuses it), so the scope is made
    # by hand: the middleware must be safe on whatever a server or another middleware passes.
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/echo",
        "raw_path": b"/api/echo",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "http_version": "1.1",
        "headers": [
            (b"x-trace-id", CLIENT_ID.encode() + b"\r\nSet-Cookie: evil=1"),
            (b"traceparent", b"00-" + b"ab" * 16 + b"-00f067aa0ba902b7-01\r\nX-Evil: 1"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await starlette_app()(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    values = dict(start["headers"])
    assert is_uuid7(values[b"x-trace-id"].decode())
    assert all(b"\r" not in value and b"\n" not in value for value in values.values())
    await asyncio.sleep(0)
