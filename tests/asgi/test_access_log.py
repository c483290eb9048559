"""The access line: one per request, with the fields the user stories filter on."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
from asgi_apps import starlette_app
from asgi_logs import Logs

from moose_trace.asgi import PathRule
from moose_trace.errors._rules import category_of_error_status

Serve = Callable[[Any], str]


def test_an_ingest_request_leaves_one_info_line_with_the_us1_fields(
    starlette_url: str, logs: Logs
) -> None:
    started = time.perf_counter()
    response = httpx.post(f"{starlette_url}/ingest/UserEvent", json=[{"user_id": 1}, {"id": 2}])
    round_trip_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    trace_id = response.headers["x-trace-id"]
    line = logs.access(trace_id)
    assert line["event"] == "request handled"
    assert line["level"] == "info"
    assert line["type"] == "ingest"
    assert line["name"] == "UserEvent"
    assert line["layer"] == "webserver"
    assert line["http_method"] == "POST"
    assert line["http_path"] == "/ingest/UserEvent"
    assert line["http_status"] == 200
    assert line["client_ip"] == "127.0.0.1"
    assert line["http_route"] == "/ingest/UserEvent"
    assert isinstance(line["latency_ms"], float)
    # Within the client's own round trip, however slow the machine (no fixed limit).
    assert 0 < line["latency_ms"] <= round_trip_ms
    assert line["service"] == "asgi-test"
    assert "principal" not in line
    # The handler's own line carries the request's primitive too: `--filter name=UserEvent`.
    (accepted,) = logs.wait_for(lambda e: e["event"] == "records accepted")
    assert (accepted["trace_id"], accepted["type"], accepted["name"], accepted["layer"]) == (
        trace_id,
        "ingest",
        "UserEvent",
        "webserver",
    )
    access_lines = [e for e in logs.lines() if e.get("http_path") == "/ingest/UserEvent"]
    assert len(access_lines) == 1


def test_latency_ends_with_the_response_not_with_background_tasks(
    starlette_url: str, logs: Logs
) -> None:
    sent = datetime.now(timezone.utc)
    response = httpx.get(f"{starlette_url}/api/background")
    trace_id = response.headers["x-trace-id"]
    (done,) = logs.wait_for(lambda e: e["event"] == "background task done")
    assert done["trace_id"] == trace_id  # background work still belongs to the request
    line = logs.access(trace_id)
    # The task sleeps 300 ms after the response went out, so a latency that ends with the
    # response is at least 300 ms shorter than request-to-task-done, however slow the machine.
    done_at = datetime.fromisoformat(done["timestamp"].replace("Z", "+00:00"))
    request_to_done_ms = (done_at - sent).total_seconds() * 1000
    assert line["latency_ms"] <= request_to_done_ms - 300 + 1  # 1 ms: timestamp rounding
    events = [e["event"] for e in logs.lines() if e.get("trace_id") == trace_id]
    assert events == ["background task done", "request handled"]


def test_the_lines_also_reach_the_daily_file(starlette_url: str, logs: Logs) -> None:
    trace_id = httpx.get(f"{starlette_url}/api/echo").headers["x-trace-id"]
    logs.access(trace_id)
    # The emitter appends to the file just after stdout: wait for the line there too.
    in_file = logs.wait_for(lambda e: e.get("trace_id") == trace_id, count=2, in_file=True)
    assert [line["event"] for line in in_file] == ["handler ran", "request handled"]


def test_a_sync_endpoint_in_the_thread_pool_sees_the_trace(starlette_url: str, logs: Logs) -> None:
    response = httpx.get(f"{starlette_url}/api/sync")
    trace_id = response.headers["x-trace-id"]
    assert response.json() == {"trace_id": trace_id}
    (line,) = logs.wait_for(lambda e: e["event"] == "sync handler ran")
    assert (line["trace_id"], line["name"]) == (trace_id, "sync")
    logs.access(trace_id)


def test_an_http_exception_4xx_is_a_warning(starlette_url: str, logs: Logs) -> None:
    response = httpx.get(f"{starlette_url}/api/missing")
    assert response.status_code == 404
    line = logs.access(response.headers["x-trace-id"])
    assert (line["level"], line["event"], line["http_status"]) == (
        "warning",
        "request handled",
        404,
    )
    assert (line["type"], line["name"]) == ("api", "missing")
    assert line["error_category"] == "not_found_error"


def test_an_error_status_sent_without_raising_is_categorized(
    starlette_url: str, logs: Logs
) -> None:
    response = httpx.get(f"{starlette_url}/api/unavailable")
    assert response.status_code == 503
    line = logs.access(response.headers["x-trace-id"])
    assert (line["level"], line["event"], line["http_status"]) == ("error", "request failed", 503)
    assert line["error_category"] == "connection_error"
    assert "error_type" not in line  # nothing was raised: no made-up exception fields
    # A category the app bound itself is the one that stays.
    own = httpx.get(f"{starlette_url}/api/unavailable", params={"own": "1"})
    assert logs.access(own.headers["x-trace-id"])["error_category"] == "rate_limit_error"


def test_an_error_status_category_comes_from_the_shared_status_rules() -> None:
    assert [category_of_error_status(status) for status in (401, 422, 503, 500, 599, 418, 302)] == [
        "authentication_error",
        "validation_error",
        "connection_error",
        "unknown_error",
        "unknown_error",
        None,  # a 4xx the rules do not know is the client's request, not a fault
        None,
    ]


def test_an_unknown_path_is_still_traced(starlette_url: str, logs: Logs) -> None:
    response = httpx.get(f"{starlette_url}/no/such/page")
    assert response.status_code == 404
    line = logs.access(response.headers["x-trace-id"])
    assert (line["name"], line["http_status"], line["level"]) == ("no", 404, "warning")
    assert "http_route" not in line


def test_the_principal_set_by_starlette_authentication(starlette_url: str, logs: Logs) -> None:
    response = httpx.get(
        f"{starlette_url}/consumption/user-pii", headers={"x-user": "user@example.com"}
    )
    assert response.json() == {"user": "user@example.com"}
    line = logs.access(response.headers["x-trace-id"])
    assert (line["type"], line["name"], line["principal"]) == (
        "api",
        "user-pii",
        "user@example.com",
    )
    anonymous = httpx.get(f"{starlette_url}/consumption/user-pii")
    assert "principal" not in logs.access(anonymous.headers["x-trace-id"])


def test_fastapi_route_principal_from_state_and_us4_audit(fastapi_url: str, logs: Logs) -> None:
    granted = httpx.get(f"{fastapi_url}/consumption/user-pii", headers={"x-token": "valid"})
    denied = httpx.get(f"{fastapi_url}/consumption/user-pii", headers={"x-token": "old"})
    assert (granted.status_code, denied.status_code) == (200, 401)
    ok = logs.access(granted.headers["x-trace-id"])
    assert (ok["level"], ok["principal"], ok["name"], ok["http_status"]) == (
        "info",
        "user@example.com",
        "user-pii",
        200,
    )
    refused = logs.access(denied.headers["x-trace-id"])
    assert (refused["level"], refused["http_status"], refused["client_ip"]) == (
        "warning",
        401,
        "127.0.0.1",
    )
    assert "principal" not in refused
    assert refused["error_category"] == "authentication_error"
    # The app's own "access denied" line is found with the request: same trace, same primitive.
    (reason,) = logs.wait_for(lambda e: e["event"] == "access denied")
    assert (reason["trace_id"], reason["name"], reason["reason"]) == (
        denied.headers["x-trace-id"],
        "user-pii",
        "expired_token",
    )


def test_fastapi_route_template_and_bound_principal(fastapi_url: str, logs: Logs) -> None:
    response = httpx.get(f"{fastapi_url}/api/items/42")
    assert response.json()["trace_id"] == response.headers["x-trace-id"]
    line = logs.access(response.headers["x-trace-id"])
    assert (line["name"], line["http_route"], line["http_path"]) == (
        "items",
        "/api/items/{item_id}",
        "/api/items/42",
    )
    bound = httpx.get(f"{fastapi_url}/api/bound")
    assert logs.access(bound.headers["x-trace-id"])["principal"] == "service-account-7"


def test_fastapi_ingest_route_with_a_parameter_is_named_after_the_model(
    fastapi_url: str, logs: Logs
) -> None:
    response = httpx.post(f"{fastapi_url}/ingest/UserEvent", json=[{"a": 1}])
    line = logs.access(response.headers["x-trace-id"])
    assert (line["type"], line["name"], line["http_route"]) == (
        "ingest",
        "UserEvent",
        "/ingest/{model}",
    )


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(serve: Serve, logs: Logs) -> None:
    trusting = serve(starlette_app(trusted_proxies=["127.0.0.0/8"]))
    direct = serve(starlette_app())
    forwarded = {"X-Forwarded-For": "203.0.113.42, 10.0.0.7"}
    via_proxy = httpx.get(f"{trusting}/api/echo", headers=forwarded)
    untrusted = httpx.get(f"{direct}/api/echo", headers=forwarded)
    assert logs.access(via_proxy.headers["x-trace-id"])["client_ip"] == "10.0.0.7"
    assert logs.access(untrusted.headers["x-trace-id"])["client_ip"] == "127.0.0.1"
    chain_trusted = serve(starlette_app(trusted_proxies=["127.0.0.1", "10.0.0.0/8"]))
    walked = httpx.get(f"{chain_trusted}/api/echo", headers=forwarded)
    assert logs.access(walked.headers["x-trace-id"])["client_ip"] == "203.0.113.42"


def test_a_custom_rule_and_more_context_fields(serve: Serve, logs: Logs) -> None:
    url = serve(
        starlette_app(
            rule=PathRule(ingest_prefixes=["/consumption/"]),
            context_fields=["type", "name", "http_path", "client_ip"],
            layer="edge",
        )
    )
    response = httpx.get(f"{url}/api/echo")
    trace_id = response.headers["x-trace-id"]
    line = logs.access(trace_id)
    assert (line["type"], line["name"], line["layer"]) == ("api", "echo", "edge")
    (handler_line,) = logs.wait_for(lambda e: e["event"] == "handler ran")
    assert handler_line["http_path"] == "/api/echo"
    assert handler_line["client_ip"] == "127.0.0.1"
    assert "layer" not in handler_line  # only the chosen fields are bound
    failing = httpx.get(f"{url}/consumption/leaderboard")
    assert logs.access(failing.headers["x-trace-id"])["type"] == "ingest"


def test_access_log_off_still_binds_and_answers(serve: Serve, logs: Logs) -> None:
    url = serve(starlette_app(access_log=False))
    response = httpx.get(f"{url}/api/echo")
    trace_id = response.headers["x-trace-id"]
    (handler_line,) = logs.wait_for(lambda e: e["event"] == "handler ran")
    assert handler_line["trace_id"] == trace_id
    assert not [e for e in logs.lines() if e["event"] == "request handled"]
