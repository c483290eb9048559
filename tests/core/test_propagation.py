"""Propagation: reading ids from untrusted header collections and writing them onward."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import propagate
from opentelemetry import trace as otel_trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import new_trace_id, parse_trace_id
from moose_trace.tracing.otel import install_propagator
from moose_trace.tracing.propagation import (
    TraceIdPropagator,
    escape_header_value,
    extract_incoming,
    extract_trace_id,
    header_getter,
    parse_traceparent,
)

TID = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
HEX = TID.replace("-", "")
TRACEPARENT = f"00-{HEX}-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "carrier",
    [
        [(b"x-trace-id", TID.encode())],  # ASGI raw headers
        {"X-Trace-Id": TID.upper()},  # dict, any case
        [("trace_id", TID.encode())],  # Kafka headers
        {"trace_id": HEX.encode()},
        [(b"traceparent", TRACEPARENT.encode())],
    ],
)
def test_extract_reads_every_carrier_shape(carrier: Any) -> None:
    assert extract_trace_id(carrier) == TID


def test_a_valid_traceparent_decides_and_a_different_id_header_is_linked() -> None:
    other = new_trace_id()
    agree = extract_incoming({"x-trace-id": TID, "traceparent": TRACEPARENT})
    assert (agree.trace_id, agree.parent_span_id, agree.linked_trace_id) == (
        TID,
        "00f067aa0ba902b7",
        None,
    )
    differ = extract_incoming({"x-trace-id": other, "traceparent": TRACEPARENT})
    assert (differ.trace_id, differ.parent_span_id, differ.linked_trace_id) == (
        TID,
        "00f067aa0ba902b7",
        other,
    )


def test_invalid_id_is_reported_escaped_and_traceparent_is_used() -> None:
    incoming = extract_incoming({"X-Trace-Id": "bad\r\nX-Evil: 1", "traceparent": TRACEPARENT})
    assert incoming.trace_id == TID
    assert incoming.rejected == "bad\\r\\nX-Evil: 1"


def test_duplicates_none_and_non_utf8_values_are_skipped() -> None:
    headers = [
        ("trace_id", None),
        ("trace_id", b"\xff\xfe"),
        ("trace_id", b"junk"),
        ("trace_id", TID.encode()),
    ]
    incoming = extract_incoming(headers)
    assert incoming.trace_id == TID
    assert incoming.rejected == "junk"


@pytest.mark.parametrize(
    "carrier", [None, 42, "x-trace-id", b"", [1, 2, 3], [("a",)], {"x-trace-id": 7}, object()]
)
def test_nonsense_carriers_mean_no_trace(carrier: Any) -> None:
    assert extract_trace_id(carrier) is None


def test_rejected_values_are_cut_to_64_characters() -> None:
    incoming = extract_incoming({"x-trace-id": "a" * 10_000})
    assert incoming.trace_id is None
    assert incoming.rejected == "a" * 64
    assert escape_header_value("é\x00" * 100) == ("\\xe9\\x00" * 100)[:64]


@pytest.mark.parametrize(
    "value",
    [
        f"ff-{HEX}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{HEX}-{'0' * 16}-01",
        f"00-{HEX.upper()}-00f067aa0ba902b7-01",
        f"00-{HEX}-00f067aa0ba902b7-01-extra",
        "00-xyz",
        None,
    ],
)
def test_parse_traceparent_refuses_invalid_values(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_parse_traceparent_reads_future_versions_and_the_sampled_flag() -> None:
    parsed = parse_traceparent(f"01-{HEX}-00f067aa0ba902b7-00-future")
    assert parsed is not None
    assert (parsed.trace_id, parsed.span_id, parsed.sampled) == (TID, "00f067aa0ba902b7", False)


header_keys = st.one_of(
    st.sampled_from(["x-trace-id", "X-Trace-Id", "trace_id", "traceparent"]), st.text(max_size=20)
)
header_values = st.one_of(st.none(), st.text(max_size=80), st.binary(max_size=80), st.integers())
carriers = st.one_of(
    st.lists(st.tuples(header_keys, header_values), max_size=8),
    st.lists(st.tuples(header_keys.map(str.encode), st.binary(max_size=80)), max_size=8),
    st.dictionaries(header_keys, header_values, max_size=8),
    st.none(),
)


@given(carriers)
def test_extract_never_raises_and_returns_a_valid_id_or_none(carrier: Any) -> None:
    incoming = extract_incoming(carrier)
    assert incoming.trace_id is None or parse_trace_id(incoming.trace_id) == incoming.trace_id
    assert incoming.rejected is None or len(incoming.rejected) <= 64
    assert incoming.rejected is None or "\n" not in incoming.rejected


def test_inject_writes_the_current_context_and_round_trips() -> None:
    carrier: dict[str, str] = {}
    with trace_context(TID) as ctx:
        TraceIdPropagator().inject(carrier)
    assert carrier == {"x-trace-id": TID, "traceparent": f"00-{HEX}-{ctx.span_id}-01"}
    assert extract_trace_id(carrier) == TID


def test_inject_outside_any_trace_writes_nothing() -> None:
    carrier: dict[str, str] = {}
    TraceIdPropagator().inject(carrier)
    assert carrier == {}


def test_extracted_context_parents_real_otel_spans_on_the_same_trace() -> None:
    tracer = TracerProvider().get_tracer("test")
    parent = TraceIdPropagator(id_header="trace_id").extract({"trace_id": TID.encode()})
    with tracer.start_as_current_span("consume", context=parent) as span:
        assert span.get_span_context().trace_id == int(HEX, 16)
        carrier: dict[str, str] = {}
        TraceIdPropagator(id_header="trace_id").inject(carrier)
    assert carrier["trace_id"] == TID
    assert carrier["traceparent"] == f"00-{HEX}-{span.get_span_context().span_id:016x}-01"


def test_composes_with_the_w3c_propagator() -> None:
    composite = CompositePropagator([TraceContextTextMapPropagator(), TraceIdPropagator()])
    assert composite.fields >= {"traceparent", "x-trace-id"}
    context = composite.extract({"traceparent": TRACEPARENT}, getter=header_getter)
    span_context = otel_trace.get_current_span(context).get_span_context()
    assert (span_context.trace_id, span_context.span_id) == (int(HEX, 16), 0x00F067AA0BA902B7)


@pytest.mark.parametrize(
    "carrier", [[(b"x-trace-id", b"\xff\xfeabc")], {"trace_id": b"\xff\xfeabc"}]
)
def test_an_id_header_that_is_not_utf8_is_reported_as_rejected(carrier: object) -> None:
    incoming = extract_incoming(carrier)
    assert incoming.trace_id is None
    assert incoming.rejected == "\\xff\\xfeabc"  # escaped once, ready for one warning line


def test_install_propagator_is_idempotent_and_keeps_the_existing_ones() -> None:
    before = propagate.get_global_textmap()
    try:
        first = install_propagator()
        assert install_propagator() is first
        assert first.fields >= {"traceparent", "tracestate", "baggage", "x-trace-id"}
    finally:
        propagate.set_global_textmap(before)


def test_two_traceparents_restart_the_trace_even_after_the_w3c_propagator_took_one() -> None:
    other = f"00-{'12' * 16}-00f067aa0ba902b7-01"
    carrier = [("traceparent", TRACEPARENT), ("traceparent", other)]
    alone = TraceContextTextMapPropagator().extract(carrier, getter=header_getter)
    assert otel_trace.get_current_span(alone).get_span_context().is_valid  # it takes the first
    composite = CompositePropagator([TraceContextTextMapPropagator(), TraceIdPropagator()])
    context = composite.extract(carrier, getter=header_getter)
    assert not otel_trace.get_current_span(context).get_span_context().is_valid
