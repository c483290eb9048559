"""Outgoing calls in the trace: httpx (sync, async, hooks) and requests against a real server.

The server is a real uvicorn app that answers with the trace headers it received. The caller
runs inside a trace that came in with ``tracestate``, baggage and the random flag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import requests
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from moose_trace.http import (
    AsyncTracedTransport,
    TracedAdapter,
    TracedTransport,
    client_span,
    httpx_event_hooks,
    outgoing_headers,
    traced_session,
)
from moose_trace.tracing.context import current_trace_id, trace_context
from moose_trace.tracing.propagation import bind_incoming, extract_incoming
from moose_trace.tracing.threads import ContextThreadPoolExecutor, carry_context

TID = "0af76519-16cd-43dd-8448-eb211c80319c"
HEX = TID.replace("-", "")
CALLER_SPAN = "b7ad6b7169203331"
TRACE_HEADERS = ("x-trace-id", "traceparent", "tracestate", "baggage")


async def echo_headers(request: Request) -> JSONResponse:
    status = int(request.query_params.get("status", "200"))
    seen = {name: request.headers.get(name) for name in TRACE_HEADERS}
    return JSONResponse(seen, status_code=status)


@pytest.fixture
def url(serve: Callable[[Any], str]) -> str:
    return serve(Starlette(routes=[Route("/headers", echo_headers)])) + "/headers"


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


class IncomingTrace:
    """Inside a request that came with tracestate, baggage and flags 03 (sampled + random)."""

    def __enter__(self) -> Any:
        incoming = extract_incoming(
            {
                "traceparent": f"00-{HEX}-{CALLER_SPAN}-03",
                "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                "baggage": "tenant_id=acme,user_id=42",
            }
        )
        self.context = trace_context(incoming.trace_id)
        entered = self.context.__enter__()
        bind_incoming(incoming)
        return entered

    def __exit__(self, *exc: object) -> None:
        self.context.__exit__(None, None, None)


def client_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.CLIENT]


def assert_carried(seen: dict[str, str], parent: str, flags: str = "03") -> None:
    assert seen["x-trace-id"] == TID
    assert seen["traceparent"] == f"00-{HEX}-{parent}-{flags}"
    assert seen["tracestate"] == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert seen["baggage"] == "tenant_id=acme,user_id=42"


def assert_each_call_was_its_own_span(
    answers: list[dict[str, str]], exporter: InMemorySpanExporter, context_span: str
) -> None:
    spans = client_spans(exporter)
    assert len(spans) == len(answers) == 2
    for seen, span in zip(answers, spans, strict=True):
        assert span.context is not None
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == context_span  # a child of the request's span
        assert_carried(seen, f"{span.context.span_id:016x}")
    assert answers[0]["traceparent"] != answers[1]["traceparent"]


def test_httpx_transport_sends_each_call_in_its_own_client_span(
    url: str, exporter: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, spans = exporter
    with (
        IncomingTrace() as ctx,
        httpx.Client(transport=TracedTransport(tracer_provider=provider)) as client,
    ):
        answers = [client.get(url).json(), client.get(url).json()]
    assert_each_call_was_its_own_span(answers, spans, ctx.span_id)


async def test_async_httpx_transport_sends_each_call_in_its_own_client_span(
    url: str, exporter: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, spans = exporter
    transport = AsyncTracedTransport(tracer_provider=provider)
    with IncomingTrace() as ctx:
        async with httpx.AsyncClient(transport=transport) as client:
            answers = [(await client.get(url)).json() for _ in range(2)]
    assert_each_call_was_its_own_span(answers, spans, ctx.span_id)


def test_requests_adapter_sends_each_call_in_its_own_client_span(
    url: str, exporter: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, spans = exporter
    with IncomingTrace() as ctx, traced_session(tracer_provider=provider) as session:
        answers = [session.get(url, timeout=10).json() for _ in range(2)]
    assert_each_call_was_its_own_span(answers, spans, ctx.span_id)


def test_a_failed_answer_and_a_failed_call_mark_the_client_span(
    url: str, exporter: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, spans = exporter
    session = requests.Session()
    session.mount("http://", TracedAdapter(tracer_provider=provider))
    with IncomingTrace():
        assert session.get(url, params={"status": "503"}, timeout=10).status_code == 503
        with pytest.raises(requests.ConnectionError):
            session.get("http://127.0.0.1:9/nothing-listens-here", timeout=10)
    answered, refused = client_spans(spans)
    assert answered.status.status_code is StatusCode.ERROR
    assert answered.attributes is not None
    assert answered.attributes["http.response.status_code"] == 503
    assert answered.attributes["url.full"].endswith("/headers")  # no query string recorded
    assert refused.status.status_code is StatusCode.ERROR
    assert [event.name for event in refused.events] == ["exception"]


def test_without_tracing_calls_name_the_requests_span_as_parent(url: str) -> None:
    no_tracing = otel_trace.NoOpTracerProvider()
    with (
        IncomingTrace() as ctx,
        httpx.Client(transport=TracedTransport(tracer_provider=no_tracing)) as client,
    ):
        seen = client.get(url).json()
    assert_carried(seen, ctx.span_id)


def test_event_hooks_add_the_headers_sync_and_async(url: str) -> None:
    with IncomingTrace() as ctx:
        with httpx.Client(event_hooks=httpx_event_hooks()) as client:
            seen = client.get(url).json()

        async def call() -> dict[str, str]:
            hooks = httpx_event_hooks(asynchronous=True)
            async with httpx.AsyncClient(event_hooks=hooks) as client:
                return dict((await client.get(url)).json())

        seen_async = asyncio.run(call())
    assert_carried(seen, ctx.span_id)
    assert_carried(seen_async, ctx.span_id)


def test_outgoing_headers_for_any_other_client(url: str) -> None:
    with IncomingTrace() as ctx:
        headers = outgoing_headers()
        with client_span("GET", url, tracer_provider=otel_trace.NoOpTracerProvider()) as call:
            assert call.headers == headers
    assert_carried({k.lower(): v for k, v in headers.items()}, ctx.span_id)
    assert outgoing_headers() == {}  # outside any trace


def test_outside_a_trace_without_tracing_nothing_is_sent(url: str) -> None:
    with httpx.Client(
        transport=TracedTransport(tracer_provider=otel_trace.NoOpTracerProvider())
    ) as client:
        seen = client.get(url).json()
    assert seen == dict.fromkeys(TRACE_HEADERS)


# --- worker threads --------------------------------------------------------------------


def test_a_plain_thread_pool_loses_the_trace_the_context_executor_keeps_it() -> None:
    with trace_context(TID), ThreadPoolExecutor(2) as plain:
        assert list(plain.map(lambda _: current_trace_id(), range(3))) == [None] * 3
    with trace_context(TID), ContextThreadPoolExecutor(2) as carried:
        assert list(carried.map(lambda _: current_trace_id(), range(3))) == [TID] * 3
        assert carried.submit(current_trace_id).result() == TID


async def test_run_in_executor_keeps_the_trace_with_the_context_executor() -> None:
    loop = asyncio.get_running_loop()
    with trace_context(TID), ContextThreadPoolExecutor(1) as executor:
        assert await loop.run_in_executor(executor, current_trace_id) == TID
        assert await asyncio.to_thread(current_trace_id) == TID  # already works


def test_carry_context_wraps_one_function_and_each_call_has_its_own_copy() -> None:
    with trace_context(TID):
        work = carry_context(lambda: (current_trace_id(), trace_context().__enter__().trace_id))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: work(), range(2)))
    assert results == [(TID, TID), (TID, TID)]
    assert current_trace_id() is None  # nothing leaked back into the caller
