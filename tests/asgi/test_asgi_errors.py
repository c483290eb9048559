"""Failures: an endpoint that raises gets a 500 with the trace id and an error line saying why."""

from __future__ import annotations

import httpx
import pytest
from asgi_logs import Logs


def test_an_endpoint_that_raises_answers_500_with_the_trace_id(
    starlette_url: str, logs: Logs
) -> None:
    response = httpx.get(f"{starlette_url}/consumption/leaderboard")
    assert response.status_code == 500
    trace_id = response.headers["x-trace-id"]
    assert response.json() == {"error": "Internal Server Error", "trace_id": trace_id}
    line = logs.access(trace_id)
    assert line["event"] == "request failed"
    assert line["level"] == "error"
    assert (line["type"], line["name"], line["http_status"]) == ("api", "leaderboard", 500)
    assert line["error_category"] == "timeout_error"
    assert line["error_type"] == "TimeoutError"
    assert line["error_message"] == "ClickHouse query timeout after 5000ms"
    assert "Traceback" in line["stack"]
    assert "leaderboard" in line["stack"]  # the handler's frame is in it
    # US-3: the handler's own line before the failure is in the same trace.
    (before,) = logs.wait_for(lambda e: e["event"] == "querying leaderboard")
    assert before["trace_id"] == trace_id
    # One error line for one failure: no second report from the framework or the server.
    errors = [e for e in logs.lines() if e["level"] == "error"]
    assert errors == [line]


def test_fastapi_unhandled_error_is_the_same(fastapi_url: str, logs: Logs) -> None:
    response = httpx.get(f"{fastapi_url}/consumption/leaderboard")
    assert response.status_code == 500
    trace_id = response.headers["x-trace-id"]
    assert response.json()["trace_id"] == trace_id
    line = logs.access(trace_id)
    assert (line["level"], line["error_category"], line["http_route"]) == (
        "error",
        "timeout_error",
        "/consumption/leaderboard",
    )


def test_a_streaming_response_carries_the_header_and_its_lines_the_trace(
    starlette_url: str, logs: Logs
) -> None:
    with httpx.stream("GET", f"{starlette_url}/api/stream") as response:
        trace_id = response.headers["x-trace-id"]
        body = response.read()
    assert body == b"chunk 0\nchunk 1\nchunk 2\n"
    chunks = logs.wait_for(lambda e: e["event"] == "chunk sent", count=3)
    assert {line["trace_id"] for line in chunks} == {trace_id}
    line = logs.access(trace_id)
    assert (line["http_status"], line["level"]) == (200, "info")
    # The access line is written when the last chunk has gone: it comes after them.
    events = [e["event"] for e in logs.lines() if e.get("trace_id") == trace_id]
    assert events == ["chunk sent", "chunk sent", "chunk sent", "request handled"]


def test_a_stream_that_breaks_after_the_start_is_logged_and_the_connection_ends(
    starlette_url: str, logs: Logs
) -> None:
    with httpx.stream("GET", f"{starlette_url}/api/stream-breaks") as response:
        trace_id = response.headers["x-trace-id"]
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):  # the body ends short: no clean end
            response.read()
    line = logs.access(trace_id)
    assert line["event"] == "request failed"
    assert line["level"] == "error"
    assert line["http_status"] == 200  # what the client was told before the failure
    assert line["error_category"] == "connection_error"
    assert line["error_type"] == "ConnectionResetError"
    # Re-raised so that the server ends the connection; uvicorn reports it too.
    logs.wait_for(lambda e: e["event"].startswith("Exception in ASGI application"))
