"""The OpenTelemetry server span: one per request, in the request's trace, named in the reply."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from asgi_apps import starlette_app
from asgi_logs import Logs
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from moose_trace.tracing.ids import trace_id_from_int
from moose_trace.tracing.otel import configure_tracing

CLIENT_ID = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"


class CountingExporter(InMemorySpanExporter):
    """The in-memory exporter, also counting the spans *started*: an open span shows there."""

    def __init__(self) -> None:
        super().__init__()
        self.started = 0

    def clear(self) -> None:
        super().clear()
        self.started = 0


class _CountStarts(SpanProcessor):
    def __init__(self, exporter: CountingExporter) -> None:
        self.exporter = exporter

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.exporter.started += 1


@pytest.fixture
def traced(
    serve: Callable[[Any], str],
) -> Iterator[tuple[str, CountingExporter]]:
    exporter = CountingExporter()
    provider = configure_tracing("asgi-test", exporter=exporter, batch=False, set_global=False)
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(_CountStarts(exporter))
    yield serve(starlette_app(tracer_provider=provider)), exporter
    provider.shutdown()


def only_span(exporter: CountingExporter) -> ReadableSpan:
    """The one finished span (it ends just after the access line is written: wait for it).

    Every span of a request starts before its server span ends, so once a span has finished and
    as many have finished as started, no second span can still come: no fixed wait needed.
    """
    deadline = time.monotonic() + 60  # a deadline only: generous for a loaded machine
    while time.monotonic() < deadline:
        finished = len(exporter.get_finished_spans())
        if finished and finished >= exporter.started:
            break
        time.sleep(0.01)
    spans = exporter.get_finished_spans()
    assert exporter.started == len(spans) == 1, [span.name for span in spans]  # not three
    return spans[0]


def test_a_request_makes_one_server_span_whose_trace_id_is_the_header(
    traced: tuple[str, CountingExporter], logs: Logs
) -> None:
    url, exporter = traced
    response = httpx.get(f"{url}/api/echo")
    trace_id = response.headers["x-trace-id"]
    line = logs.access(trace_id)
    span = only_span(exporter)
    assert span.context is not None
    assert trace_id_from_int(span.context.trace_id) == trace_id
    assert span.kind is SpanKind.SERVER
    assert span.parent is None  # a new trace: the span is its root
    span_id = f"{span.context.span_id:016x}"
    assert response.headers["traceparent"] == f"00-{trace_id.replace('-', '')}-{span_id}-01"
    assert span.name == "GET /api/echo"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["http.route"] == "/api/echo"
    assert span.attributes["url.path"] == "/api/echo"
    # Log lines of the request name the span.
    (handler_line,) = logs.wait_for(lambda e: e["event"] == "handler ran")
    assert (handler_line["trace_id"], handler_line["span_id"]) == (trace_id, span_id)
    assert line["span_id"] == span_id


def test_an_incoming_traceparent_becomes_the_parent(
    traced: tuple[str, CountingExporter], logs: Logs
) -> None:
    url, exporter = traced
    traceparent = f"00-{CLIENT_ID.replace('-', '')}-00f067aa0ba902b7-01"
    response = httpx.get(f"{url}/api/echo", headers={"traceparent": traceparent})
    assert response.headers["x-trace-id"] == CLIENT_ID
    logs.access(CLIENT_ID)
    span = only_span(exporter)
    assert span.context is not None
    assert span.parent is not None
    assert trace_id_from_int(span.context.trace_id) == CLIENT_ID
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert span.parent.is_remote


def test_an_incoming_x_trace_id_alone_sets_the_spans_trace(
    traced: tuple[str, CountingExporter], logs: Logs
) -> None:
    url, exporter = traced
    response = httpx.get(f"{url}/api/echo", headers={"X-Trace-Id": CLIENT_ID})
    logs.access(CLIENT_ID)
    span = only_span(exporter)
    assert span.context is not None
    assert trace_id_from_int(span.context.trace_id) == CLIENT_ID
    assert response.headers["traceparent"].split("-")[1] == CLIENT_ID.replace("-", "")


def test_a_failing_request_marks_the_span_as_an_error(
    traced: tuple[str, CountingExporter], logs: Logs
) -> None:
    url, exporter = traced
    response = httpx.get(f"{url}/consumption/leaderboard")
    assert response.status_code == 500
    logs.access(response.headers["x-trace-id"])
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    # Described as a decorator's span is: type and message, and the log line's category.
    assert span.status.description == "TimeoutError: ClickHouse query timeout after 5000ms"
    assert span.attributes["error.type"] == "TimeoutError"
    assert span.attributes["error.category"] == "timeout_error"
    assert "traceparent" in response.headers


def test_an_error_status_sent_without_raising_marks_the_span_too(
    traced: tuple[str, CountingExporter], logs: Logs
) -> None:
    url, exporter = traced
    response = httpx.get(f"{url}/api/unavailable")
    assert response.status_code == 503
    line = logs.access(response.headers["x-trace-id"])
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.category"] == line["error_category"] == "connection_error"
    assert not span.events  # nothing was raised: no exception event
    # A category the app bound itself is the span's too, as it is the access line's.
    exporter.clear()
    own = httpx.get(f"{url}/api/unavailable", params={"own": "1"})
    line = logs.access(own.headers["x-trace-id"])
    span = only_span(exporter)
    assert span.attributes is not None
    assert span.attributes["error.category"] == line["error_category"] == "rate_limit_error"


def test_without_tracing_no_traceparent_is_sent(starlette_url: str, logs: Logs) -> None:
    response = httpx.get(f"{starlette_url}/api/echo")
    logs.access(response.headers["x-trace-id"])
    assert "traceparent" not in response.headers
