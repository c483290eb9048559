"""TraceMiddleware stacked with OpenTelemetry's own ASGI middleware, in either order.

The real ``opentelemetry-instrumentation-asgi`` ``OpenTelemetryMiddleware`` with an SDK tracer
provider of the user's own (random OpenTelemetry trace ids, not moose-trace's), under a real
uvicorn. For every order, with moose-trace's own span on or off, and a client sending nothing,
``X-Trace-Id`` only, ``traceparent`` only or both naming different traces (16 combinations),
the spans, the access line, the handler's log line, ``current_trace_id()`` in the handler and
the response's ``X-Trace-Id`` are all on one id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import structlog
from asgi_logs import Logs
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from moose_trace.asgi import OUTER_SPAN_EVENT, STACKING_EVENT, TraceMiddleware
from moose_trace.tracing.context import current_trace_id
from moose_trace.tracing.ids import trace_id_from_int
from moose_trace.tracing.otel import install_propagator

CLIENT_ID = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
PEER_HEX = "4bf92f3577b34da6a3ce929d0e0e4736"
PEER_ID = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
PEER_TRACEPARENT = f"00-{PEER_HEX}-00f067aa0ba902b7-01"
SENT = {
    "none": {},
    "x-trace-id": {"X-Trace-Id": CLIENT_ID},
    "traceparent": {"traceparent": PEER_TRACEPARENT},
    "both": {"X-Trace-Id": CLIENT_ID, "traceparent": PEER_TRACEPARENT},
}
_log = structlog.get_logger("stacking-test")


async def handler(request: Request) -> JSONResponse:
    _log.info("handler ran")
    return JSONResponse({"current_trace_id": current_trace_id()})


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # the user's own: random OpenTelemetry ids
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def global_propagator() -> Iterator[None]:
    """OpenTelemetry's default global propagator for the test (an earlier test may have added
    moose-trace's), and whatever was there before afterwards."""
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    yield
    propagate.set_global_textmap(before)


def stacked(order: str, tracing: bool, provider: TracerProvider) -> Any:
    app = Starlette(routes=[Route("/api/echo", handler)])
    ours: Callable[[Any], Any] = lambda inner: TraceMiddleware(  # noqa: E731
        inner, tracing=tracing, tracer_provider=provider if tracing else None
    )
    theirs: Callable[[Any], Any] = lambda inner: OpenTelemetryMiddleware(  # noqa: E731
        inner, tracer_provider=provider
    )
    return theirs(ours(app)) if order == "otel-outside" else ours(theirs(app))


def finished_spans(exporter: InMemorySpanExporter, at_least: int) -> list[ReadableSpan]:
    deadline = time.monotonic() + 10
    while len(exporter.get_finished_spans()) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(exporter.get_finished_spans())


CASES = [
    pytest.param(
        (order, tracing, sent), id=f"{order}-moose-span-{'on' if tracing else 'off'}-{sent}"
    )
    for order in ("otel-outside", "otel-inside")
    for tracing in (False, True)
    for sent in SENT
]


@pytest.mark.parametrize("case", CASES)
def test_every_stacking_keeps_one_trace_id(
    serve: Callable[[Any], str],
    logs: Logs,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    global_propagator: None,
    case: tuple[str, bool, str],
) -> None:
    order, tracing, sent = case
    tracer_provider, exporter = provider
    url = serve(stacked(order, tracing, tracer_provider))
    response = httpx.get(f"{url}/api/echo", headers=SENT[sent])
    trace_id = response.headers["x-trace-id"]
    # One id everywhere: response header, handler's current_trace_id, its line, access line.
    assert response.json() == {"current_trace_id": trace_id}
    (line,) = logs.wait_for(lambda e: e["event"] == "handler ran")
    assert line["trace_id"] == trace_id
    access = logs.access(trace_id)
    spans = finished_spans(exporter, 2 if tracing else 1)
    assert spans
    assert {trace_id_from_int(span.context.trace_id) for span in spans if span.context} == {
        trace_id
    }
    # And the id is the one the rules name.
    if "traceparent" in SENT[sent]:
        assert trace_id == PEER_ID  # a W3C peer's trace is continued
    if sent == "both":
        assert access["linked_trace_id"] == CLIENT_ID
    if sent == "x-trace-id":
        if order == "otel-inside":
            assert trace_id == CLIENT_ID
        else:  # OpenTelemetry started its span before reading no X-Trace-Id: linked, warned
            assert access["linked_trace_id"] == CLIENT_ID
            # ... at startup already (uvicorn runs the lifespan), so not again per request.
            (warning,) = logs.wait_for(lambda e: e["event"] == STACKING_EVENT)
            assert "install_propagator" in warning["hint"]
            assert not [line for line in logs.lines() if line["event"] == OUTER_SPAN_EVENT]


def test_the_order_without_agreement_is_warned_at_startup_before_any_request(
    serve: Callable[..., str],
    logs: Logs,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    global_propagator: None,
) -> None:
    serve(stacked("otel-outside", False, provider[0]))
    (warning,) = [line for line in logs.lines() if line["event"] == STACKING_EVENT]
    assert warning["level"] == "warning"
    assert "install_propagator" in warning["hint"]


@pytest.mark.parametrize("fixed", ["otel-inside", "propagator"])
def test_no_startup_warning_where_the_order_agrees(
    serve: Callable[..., str],
    logs: Logs,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    global_propagator: None,
    fixed: str,
) -> None:
    if fixed == "propagator":
        install_propagator()
    url = serve(
        stacked("otel-outside" if fixed == "propagator" else "otel-inside", False, provider[0])
    )
    response = httpx.get(f"{url}/api/echo", headers={"X-Trace-Id": CLIENT_ID})
    assert response.headers["x-trace-id"] == CLIENT_ID
    logs.access(CLIENT_ID)
    events = {line["event"] for line in logs.lines()}
    assert STACKING_EVENT not in events
    assert OUTER_SPAN_EVENT not in events


def test_without_lifespan_the_first_request_that_shows_it_warns_once(
    serve: Callable[..., str],
    logs: Logs,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    global_propagator: None,
) -> None:
    url = serve(stacked("otel-outside", False, provider[0]), lifespan="off")
    assert not [line for line in logs.lines() if line["event"] == STACKING_EVENT]
    for _ in range(2):
        response = httpx.get(f"{url}/api/echo", headers={"X-Trace-Id": CLIENT_ID})
        logs.access(response.headers["x-trace-id"])
    (warning,) = [line for line in logs.lines() if line["event"] == OUTER_SPAN_EVENT]
    assert warning["linked_trace_id"] == CLIENT_ID
    assert "install_propagator" in warning["hint"]


@pytest.mark.parametrize("order", ["otel-outside", "otel-inside"])
def test_with_the_propagator_installed_opentelemetry_continues_x_trace_id_too(
    serve: Callable[[Any], str],
    logs: Logs,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    global_propagator: None,
    order: str,
) -> None:
    install_propagator()
    tracer_provider, exporter = provider
    url = serve(stacked(order, False, tracer_provider))
    response = httpx.get(f"{url}/api/echo", headers={"X-Trace-Id": CLIENT_ID})
    assert response.headers["x-trace-id"] == CLIENT_ID
    assert response.json() == {"current_trace_id": CLIENT_ID}
    assert "linked_trace_id" not in logs.access(CLIENT_ID)
    spans = finished_spans(exporter, 1)
    assert {trace_id_from_int(span.context.trace_id) for span in spans if span.context} == {
        CLIENT_ID
    }
    assert not [line for line in logs.lines() if line["event"] == OUTER_SPAN_EVENT]


async def w3c_headers_sent_from_handler(request: Request) -> JSONResponse:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    W3CBaggagePropagator().inject(carrier)
    return JSONResponse(carrier)


@pytest.mark.parametrize("tracing", [False, True], ids=["moose-span-off", "moose-span-on"])
def test_opentelemetrys_own_propagators_send_the_incoming_tracestate_and_baggage(
    serve: Callable[[Any], str],
    logs: Logs,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    tracing: bool,
) -> None:
    tracer_provider, _ = provider
    app = Starlette(routes=[Route("/send", w3c_headers_sent_from_handler)])
    url = serve(
        TraceMiddleware(app, tracing=tracing, tracer_provider=tracer_provider if tracing else None)
    )
    sent = httpx.get(
        f"{url}/send",
        headers={
            "traceparent": f"00-{PEER_HEX}-00f067aa0ba902b7-01",
            "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "baggage": "tenant_id=acme",
        },
    ).json()
    assert sent["traceparent"].startswith(f"00-{PEER_HEX}-")
    assert sent["tracestate"] == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert sent["baggage"] == "tenant_id=acme"
    assert logs.access(PEER_ID)["tenant_id"] == "acme"
