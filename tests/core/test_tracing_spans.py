"""``moose_trace.tracing.spans``: the span steps every integration shares, on the real SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import new_trace_id, trace_id_from_int
from moose_trace.tracing.otel import active_span, configure_tracing
from moose_trace.tracing.spans import (
    context_parent,
    end_span,
    span_ids,
    start_span,
    tracer_provider_set,
)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """A global SDK tracer provider with moose-trace ids, exporting to memory; restored after."""
    saved = (otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done)
    exporter = InMemorySpanExporter()
    provider = configure_tracing("spans-test", exporter=exporter, batch=False)
    assert isinstance(provider, TracerProvider)
    yield exporter
    provider.shutdown()
    otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done = saved


def test_without_a_tracer_provider_no_span_is_started() -> None:
    assert not tracer_provider_set()
    with trace_context() as context:
        assert start_span("transform foo", {}, context.trace_id) is None


def test_a_span_takes_the_contexts_trace_id_and_is_current_until_it_ends(
    exporter: InMemorySpanExporter,
) -> None:
    with trace_context() as context:
        started = start_span("transform foo", {"moose.layer": "streaming"}, context.trace_id)
        assert started is not None
        span, _token = started
        assert active_span() is span
        assert span_ids(span) is not None
        end_span(started)
        assert active_span() is None
    (finished,) = exporter.get_finished_spans()
    assert finished.context is not None
    assert trace_id_from_int(finished.context.trace_id) == context.trace_id
    assert finished.parent is None


def test_the_senders_span_is_the_remote_parent_and_an_error_is_recorded(
    exporter: InMemorySpanExporter,
) -> None:
    trace_id = new_trace_id()
    with trace_context(trace_id):
        started = start_span("transform foo", {}, trace_id, "00f067aa0ba902b7")
        assert started is not None
        end_span(started, ValueError("bad record"))
    (finished,) = exporter.get_finished_spans()
    assert finished.parent is not None
    assert finished.parent.is_remote
    assert f"{finished.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert finished.status.status_code is otel_trace.StatusCode.ERROR
    assert dict(finished.attributes or {})["error.type"] == "ValueError"


def test_an_enclosing_span_of_the_same_trace_is_the_parent(
    exporter: InMemorySpanExporter,
) -> None:
    with trace_context() as context:
        outer = start_span("workflow run", {}, context.trace_id)
        assert outer is not None
        inner = start_span("task step", {}, context.trace_id, "00f067aa0ba902b7")
        assert inner is not None
        end_span(inner)
        end_span(outer)
    step, run = exporter.get_finished_spans()
    assert step.parent is not None
    assert run.context is not None
    assert step.parent.span_id == run.context.span_id


def test_an_outgoing_call_outside_any_span_is_parented_on_the_moose_context() -> None:
    assert context_parent() is None  # outside any trace: a new trace
    with trace_context() as context:
        parent = otel_trace.get_current_span(context_parent()).get_span_context()
        assert trace_id_from_int(parent.trace_id) == context.trace_id
        assert f"{parent.span_id:016x}" == context.span_id
        assert parent.is_remote
