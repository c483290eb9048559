"""The decorators' OpenTelemetry spans with the real SDK: one trace id in spans and log lines."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from confluent_kafka import Message
from decorator_helpers import Logs, Spans
from opentelemetry import trace as otel_trace
from opentelemetry.trace import StatusCode

from moose_trace import trace_context
from moose_trace.decorators import traced_api, traced_sync, traced_transform
from moose_trace.tracing.context import current_fields
from moose_trace.tracing.ids import new_trace_id, trace_id_from_int
from moose_trace.tracing.propagation import traceparent_for


def test_the_span_and_the_log_line_share_trace_and_span_ids(logs: Logs, spans: Spans) -> None:
    @traced_transform(source="Foo", target="Bar")
    def foo_to_bar(record: dict[str, Any]) -> dict[str, Any]:
        return record

    trace_id = new_trace_id()
    foo_to_bar({"trace_id": trace_id})
    span = spans.named("transform foo_to_bar")
    assert span.context is not None
    assert trace_id_from_int(span.context.trace_id) == trace_id
    line = logs.one(event="record transformed")
    assert line["trace_id"] == trace_id
    assert line["span_id"] == f"{span.context.span_id:016x}"
    # The layer only (a trace view filters on it); the log line carries the other fields.
    assert dict(span.attributes or {}) == {"moose.layer": "streaming"}
    assert span.parent is None  # a root span: no invented parent


def test_a_records_traceparent_span_is_the_parent(spans: Spans) -> None:
    @traced_transform
    def foo_to_bar(message: Message) -> None:
        return None

    trace_id, producer_span = new_trace_id(), "00f067aa0ba902b7"
    foo_to_bar(
        Message(
            topic="Foo",
            headers=[("traceparent", traceparent_for(trace_id, producer_span).encode())],
        )
    )
    span = spans.named("transform foo_to_bar")
    assert span.context is not None
    assert span.parent is not None
    assert trace_id_from_int(span.context.trace_id) == trace_id
    assert f"{span.parent.span_id:016x}" == producer_span


def test_a_call_inside_another_is_its_child(spans: Spans) -> None:
    @traced_transform
    def enrich(record: dict[str, Any]) -> None:
        return None

    @traced_api(name="leaderboard")
    def handler() -> None:
        enrich({"trace_id": new_trace_id()})  # the request's trace wins

    with trace_context() as request:
        handler()
    outer, inner = spans.named("api leaderboard"), spans.named("transform enrich")
    assert outer.context is not None
    assert inner.context is not None
    assert inner.parent is not None
    assert inner.parent.span_id == outer.context.span_id
    assert {outer.context.trace_id, inner.context.trace_id} == {
        int(request.trace_id.replace("-", ""), 16)
    }


def test_a_failure_marks_the_span_as_an_error(spans: Spans) -> None:
    @traced_transform
    def foo_to_bar(record: dict[str, Any]) -> None:
        raise TimeoutError("analytics.example.com took too long")

    with pytest.raises(TimeoutError):
        foo_to_bar({})
    span = spans.named("transform foo_to_bar")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "TimeoutError: analytics.example.com took too long"
    assert span.attributes is not None
    assert (span.attributes["error.type"], span.attributes["error.category"]) == (
        "TimeoutError",
        "timeout_error",
    )
    assert [event.name for event in span.events] == ["exception"]
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN  # restored


def test_a_batch_span_links_to_every_records_context(logs: Logs, spans: Spans) -> None:
    @traced_sync("UserEvent", "clickhouse_sync")
    def insert_batch(messages: list[Message]) -> None:
        return None

    ids = [new_trace_id() for _ in range(3)]
    parent = "00f067aa0ba902b7"
    batch = [
        Message(topic="UserEvent", offset=0, headers=[("trace_id", ids[0].encode())]),
        Message(topic="UserEvent", offset=1, headers=[("trace_id", ids[0].encode())]),
        Message(
            topic="UserEvent",
            offset=2,
            headers=[("traceparent", traceparent_for(ids[1], parent).encode())],
        ),
        Message(topic="UserEvent", offset=3, headers=[("trace_id", ids[2].encode())]),
        Message(topic="UserEvent", offset=4, headers=None),
    ]
    insert_batch(batch)
    span = spans.named("olap_table UserEvent")
    linked = [(trace_id_from_int(link.context.trace_id), link.context) for link in span.links]
    assert [trace_id for trace_id, _ in linked] == ids
    assert f"{linked[1][1].span_id:016x}" == parent
    assert span.attributes is not None
    assert span.attributes["moose.batch_size"] == 5
    line = logs.one(event="batch synced")
    assert line["trace_ids"] == ids
    assert span.context is not None
    assert line["trace_id"] == trace_id_from_int(span.context.trace_id)
    assert line["trace_id"] not in ids  # the batch is its own trace, linked to its records'


async def test_each_call_restores_the_callers_span_and_context(logs: Logs, spans: Spans) -> None:
    tracer = spans.provider.get_tracer("caller")

    @traced_transform
    def step(record: dict[str, Any]) -> str:
        structlog.get_logger("app").info("inside")  # carries the call's span, not the caller's
        return f"{otel_trace.get_current_span().get_span_context().span_id:016x}"

    @traced_transform
    async def async_step(record: dict[str, Any]) -> None:
        raise ValueError("bad record")

    with trace_context(type="outer") as outer, tracer.start_as_current_span("caller") as caller:
        inner_span_id = step({})
        with pytest.raises(ValueError, match="bad record"):
            await async_step({})
        assert otel_trace.get_current_span() is caller
        assert current_fields() == {"trace_id": outer.trace_id, "type": "outer"}
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    [inside] = logs.lines(logger="app")
    assert inside["span_id"] == inner_span_id != f"{caller.get_span_context().span_id:016x}"
    assert inside["type"] == "transform"
    failed = spans.named("transform async_step")
    assert failed.parent is not None
    assert failed.parent.span_id == caller.get_span_context().span_id
