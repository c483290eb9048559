"""The OpenTelemetry bridge with the real SDK: span trace ids are the moose-trace ids."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moose_trace.logging.processors import add_trace_fields
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import new_trace_id, parse_trace_id, trace_id_from_int, trace_id_to_int
from moose_trace.tracing.otel import (
    TraceIdGenerator,
    configure_tracing,
    current_otel_ids,
    otel_context_for,
    record_span_error,
    sdk_available,
)


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("test", exporter=exporter, batch=False, set_global=False)
    assert provider is not None
    yield provider, exporter
    provider.shutdown()
    structlog.contextvars.clear_contextvars()


def test_root_spans_inside_a_trace_context_take_its_trace_id(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    incoming = "0193F0C27B1E7C3A9D2F0123456789AB"  # as a client sent it
    with trace_context(incoming) as ctx, provider.get_tracer("t").start_as_current_span("ingest"):
        assert current_otel_ids() is not None
        with provider.get_tracer("t").start_as_current_span("produce"):
            pass
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["produce", "ingest"]
    assert {trace_id_from_int(span.context.trace_id) for span in spans if span.context} == {
        ctx.trace_id
    }
    assert ctx.trace_id == "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"


def test_elsewhere_trace_ids_are_new_uuidv7s(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    for _ in range(3):
        with provider.get_tracer("t").start_as_current_span("job"):
            pass
    ids = [span.context.trace_id for span in exporter.get_finished_spans() if span.context]
    assert len(ids) == 3
    assert all(uuid.UUID(int=value).version == 7 for value in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 3


def test_one_exporter_goes_to_each_provider_once() -> None:
    exporter = InMemorySpanExporter()
    first = configure_tracing("a", exporter=exporter, batch=False, set_global=False)
    second = configure_tracing("b", exporter=exporter, batch=False, set_global=False)
    assert first is not None
    assert second is not None
    for name, provider in (("first", first), ("second", second)):
        with provider.get_tracer("t").start_as_current_span(name):
            pass
    assert sorted(span.name for span in exporter.get_finished_spans()) == ["first", "second"]
    first.shutdown()
    second.shutdown()


def test_record_span_error_marks_the_span_failed(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span(
        "refresh", record_exception=False, set_status_on_exception=False
    ) as span:
        record_span_error(span, TimeoutError("x" * 300))
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is otel_trace.StatusCode.ERROR
    assert finished.status.description == ("TimeoutError: " + "x" * 300)[:256]
    assert dict(finished.attributes or {}) == {
        "error.type": "TimeoutError",
        "error.category": "timeout_error",
    }
    assert [event.name for event in finished.events] == ["exception"]
    record_span_error(otel_trace.INVALID_SPAN, ValueError("not recording"))  # left alone


def test_span_ids_are_random_64_bit() -> None:
    generator = TraceIdGenerator()
    span_ids = {generator.generate_span_id() for _ in range(1000)}
    assert len(span_ids) == 1000
    assert all(0 < value < 1 << 64 for value in span_ids)


def test_a_hand_bound_trace_id_that_is_not_an_id_still_gives_a_valid_one() -> None:
    structlog.contextvars.bind_contextvars(trace_id="not-an-id")
    try:
        value = TraceIdGenerator().generate_trace_id()
    finally:
        structlog.contextvars.clear_contextvars()
    assert uuid.UUID(int=value).version == 7


def test_otel_context_for_parents_spans_on_an_incoming_trace(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    tid = new_trace_id()
    parent = otel_context_for(tid, "00f067aa0ba902b7")
    with provider.get_tracer("t").start_as_current_span("consume", context=parent):
        pass
    [span] = exporter.get_finished_spans()
    assert span.context is not None
    assert span.context.trace_id == trace_id_to_int(tid)
    assert span.parent is not None
    assert span.parent.span_id == 0x00F067AA0BA902B7
    assert span.parent.is_remote


@pytest.mark.parametrize("bad", [None, "", "nope", "0" * 32, "x" * 500, b"\xff" * 16])
def test_otel_context_for_ignores_invalid_ids(bad: str | bytes | None) -> None:
    base = Context()
    assert otel_context_for(bad, context=base) is base


@pytest.mark.parametrize("bad_span", ["", "xyz", "1234_567890abcde", "0x1234567890abcd", "f" * 17])
def test_an_invalid_parent_span_id_is_replaced(bad_span: str) -> None:
    tid = new_trace_id()
    span_context = otel_trace.get_current_span(otel_context_for(tid, bad_span)).get_span_context()
    assert span_context.trace_id == trace_id_to_int(tid)
    assert span_context.is_valid


def test_current_otel_ids_outside_and_inside_a_span(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = traced
    assert current_otel_ids() is None
    with provider.get_tracer("t").start_as_current_span("s") as span:
        ids = current_otel_ids()
    assert ids == (
        trace_id_from_int(span.get_span_context().trace_id),
        f"{span.get_span_context().span_id:016x}",
    )


def test_without_a_configured_sdk_spans_are_no_ops_and_logs_keep_their_ids() -> None:
    # The global provider in this test process is OpenTelemetry's proxy (nothing configured).
    tracer = otel_trace.get_tracer("t")
    with trace_context() as ctx, tracer.start_as_current_span("noop") as span:
        assert not span.get_span_context().is_valid
        assert current_otel_ids() is None
        event = add_trace_fields(None, "info", {})
    assert event == {"trace_id": ctx.trace_id, "span_id": ctx.span_id}


_GLOBAL_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import trace_id_from_int
from moose_trace.tracing.otel import TraceIdGenerator, configure_tracing

# A provider the app set up itself (random trace ids) gets the moose-trace generator.
mine = TracerProvider()
trace.set_tracer_provider(mine)
exporter = InMemorySpanExporter()
assert configure_tracing("svc", exporter=exporter, batch=False) is mine
assert configure_tracing("svc", exporter=exporter, batch=False) is mine  # idempotent
assert isinstance(mine.id_generator, TraceIdGenerator)
with trace_context() as ctx, trace.get_tracer("t").start_as_current_span("s"):
    pass
[span] = exporter.get_finished_spans()  # the exporter was added once
assert trace_id_from_int(span.context.trace_id) == ctx.trace_id
print("ok")
"""


def test_an_existing_global_provider_is_reused_once() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDER],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_importing_the_bridge_does_not_import_the_sdk() -> None:
    code = (
        "import sys, moose_trace.tracing.otel, moose_trace.logging.config, "
        "moose_trace.configuration;"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')]; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
    assert sdk_available()


@given(
    st.one_of(st.none(), st.text(), st.binary()),
    st.one_of(st.none(), st.text(max_size=20)),
)
def test_otel_context_for_takes_any_header_value(
    raw_id: str | bytes | None, span: str | None
) -> None:
    span_context = otel_trace.get_current_span(otel_context_for(raw_id, span)).get_span_context()
    valid = parse_trace_id(raw_id)
    if valid is None:
        assert not span_context.is_valid
    else:
        assert span_context.is_valid
        assert trace_id_from_int(span_context.trace_id) == valid
