"""Round trips with OpenTelemetry's own W3C propagators, in both directions.

What ``TraceIdPropagator`` (and every moose-trace sender) writes, OpenTelemetry's
``TraceContextTextMapPropagator`` and ``W3CBaggagePropagator`` read back identically; what they
write, ``extract_incoming`` (every moose-trace receiver) reads back identically: trace id, parent
span id, trace flags, tracestate members and baggage.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import baggage as otel_baggage
from opentelemetry import trace as otel_trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from moose_trace.tracing.baggage import parse_baggage
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import trace_id_from_int
from moose_trace.tracing.propagation import TraceIdPropagator, bind_incoming, extract_incoming
from moose_trace.tracing.tracestate import parse_tracestate

W3C = TraceContextTextMapPropagator()
BAGGAGE = W3CBaggagePropagator()

trace_ints = st.integers(1, (1 << 128) - 1)
span_ints = st.integers(1, (1 << 64) - 1)
flag_values = st.sampled_from([0, 1, 2, 3])
ts_keys = st.from_regex(r"[a-z][a-z0-9_\-*/]{0,12}(@[a-z][a-z0-9_\-*/]{0,5})?", fullmatch=True)
ts_values = st.from_regex(r"[\x21-\x2b\x2d-\x3c\x3e-\x7e]{1,16}", fullmatch=True)
tracestates = st.dictionaries(ts_keys, ts_values, max_size=8).map(lambda d: list(d.items()))
bg_keys = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12)
# OpenTelemetry Python strips whitespace around decoded values and form-encodes (a space
# becomes "+", which the W3C grammar reads as a literal "+"): values here avoid both, and
# test_baggage_spaces_and_plus_signs shows what each side does with them.
bg_values = st.text(min_size=0, max_size=20).filter(lambda v: v == v.strip() and " " not in v)
baggages = st.dictionaries(bg_keys, bg_values, max_size=6)


def otel_carrier(
    trace_id: int, span_id: int, flags: int, state: list[tuple[str, str]], bag: dict[str, str]
) -> dict[str, str]:
    """What OpenTelemetry sends from a span with these ids, flags, tracestate and baggage."""
    span_context = otel_trace.SpanContext(
        trace_id,
        span_id,
        is_remote=False,
        trace_flags=otel_trace.TraceFlags(flags),
        trace_state=otel_trace.TraceState(state),
    )
    context: Context = otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(span_context))
    for key, value in bag.items():
        context = otel_baggage.set_baggage(key, value, context)
    carrier: dict[str, str] = {}
    W3C.inject(carrier, context)
    BAGGAGE.inject(carrier, context)
    return carrier


@given(trace_ints, span_ints, flag_values, tracestates, baggages)
def test_what_opentelemetry_sends_moose_trace_reads(
    trace_id: int, span_id: int, flags: int, state: list[tuple[str, str]], bag: dict[str, str]
) -> None:
    incoming = extract_incoming(otel_carrier(trace_id, span_id, flags, state, bag))
    assert incoming.trace_id == trace_id_from_int(trace_id)
    assert incoming.parent_span_id == f"{span_id:016x}"
    assert incoming.trace_flags == flags
    assert incoming.sampled is bool(flags & 1)
    assert parse_tracestate(incoming.tracestate or "") == tuple(state)
    assert {member.key: member.value for member in incoming.baggage} == bag


@given(trace_ints, span_ints, flag_values, tracestates, baggages)
def test_what_moose_trace_sends_opentelemetry_reads(
    trace_id: int, span_id: int, flags: int, state: list[tuple[str, str]], bag: dict[str, str]
) -> None:
    # A service received this trace (from any W3C peer) and sends on from inside it.
    incoming = extract_incoming(otel_carrier(trace_id, span_id, flags, state, bag))
    carrier: dict[str, str] = {}
    with trace_context(incoming.trace_id) as ctx:
        bind_incoming(incoming)
        TraceIdPropagator().inject(carrier)
    context = BAGGAGE.extract(carrier, W3C.extract(carrier))
    received = otel_trace.get_current_span(context).get_span_context()
    assert received.is_valid
    assert received.is_remote
    assert received.trace_id == trace_id
    assert received.span_id == int(ctx.span_id, 16)  # the sender's own span is the parent
    assert int(received.trace_flags) == flags
    assert list(received.trace_state.items()) == state
    assert otel_baggage.get_all(context) == bag


@given(trace_ints, span_ints, flag_values, tracestates, baggages)
def test_an_opentelemetry_span_under_the_extracted_context_sends_the_same(
    trace_id: int, span_id: int, flags: int, state: list[tuple[str, str]], bag: dict[str, str]
) -> None:
    # TraceIdPropagator.extract builds the remote parent: OpenTelemetry's propagators, sending
    # from it, pass on the same trace id, flags, tracestate and baggage.
    context = TraceIdPropagator().extract(otel_carrier(trace_id, span_id, flags, state, bag))
    carrier: dict[str, str] = {}
    W3C.inject(carrier, context)
    BAGGAGE.inject(carrier, context)
    assert carrier["traceparent"] == f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
    assert parse_tracestate(carrier.get("tracestate", "")) == tuple(state)
    assert {m.key: m.value for m in parse_baggage(carrier.get("baggage"))} == bag


def test_an_unsampled_opentelemetry_span_is_sent_as_unsampled() -> None:
    carrier_in = otel_carrier(0xABC, 0xDEF, 0, [], {})
    context = TraceIdPropagator().extract(carrier_in)
    carrier: dict[str, Any] = {}
    TraceIdPropagator().inject(carrier, context)
    assert carrier["traceparent"].endswith("-00")
    assert carrier["x-trace-id"] == trace_id_from_int(0xABC)


def test_baggage_spaces_and_plus_signs() -> None:
    # moose-trace percent-encodes both, so OpenTelemetry reads them back exactly.
    incoming = extract_incoming({"baggage": "a=x%20y,b=1%2B1"})
    carrier: dict[str, str] = {}
    with trace_context():
        bind_incoming(incoming)
        TraceIdPropagator().inject(carrier)
    assert carrier["baggage"] == "a=x%20y,b=1%2B1"
    assert dict(otel_baggage.get_all(BAGGAGE.extract(carrier))) == {"a": "x y", "b": "1+1"}
    # OpenTelemetry Python sends a space as "+"; the W3C grammar makes "+" a literal plus.
    sent = otel_carrier(1, 1, 1, [], {"a": "x y"})
    assert sent["baggage"] == "a=x+y"
    assert [(m.key, m.value) for m in extract_incoming(sent).baggage] == [("a", "x+y")]
