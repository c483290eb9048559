"""Kafka header helpers: trace context in, trace id out, on any header shape, never raising."""

from __future__ import annotations

import subprocess
import sys
from collections import namedtuple
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.propagators.textmap import Getter

from moose_trace.kafka import (
    extract_trace_id,
    incoming_trace,
    inject_headers,
    message_fields,
    message_headers,
    traced_headers,
)
from moose_trace.kafka.headers import usual_trace_ids
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import new_trace_id, parse_trace_id
from moose_trace.tracing.propagation import extract_incoming, header_getter

TID = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
HEX = TID.replace("-", "")
TRACEPARENT = f"00-{HEX}-00f067aa0ba902b7-01".encode()

# kafka-python's ConsumerRecord and aiokafka's records carry headers as an attribute.
Record = namedtuple("Record", "topic partition offset key value headers")


class ConfluentLike:
    """Shaped like a confluent-kafka Message: accessors are methods."""

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def headers(self) -> Any:
        return self._headers

    def topic(self) -> str:
        return "UserEvent"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41


class Broken:
    def headers(self) -> Any:
        raise RuntimeError("boom")

    @property
    def topic(self) -> str:
        raise RuntimeError("boom")


def test_inject_outside_any_trace_keeps_only_the_callers_headers() -> None:
    assert inject_headers() == []
    assert inject_headers([("user", b"1")]) == [("user", b"1")]


def test_inject_puts_trace_headers_first_and_keeps_the_callers() -> None:
    with trace_context(TID) as context:
        headers = inject_headers([("user", b"1"), ("other", None), ("user", "two")])
    assert headers[0] == ("trace_id", TID.encode())
    name, value = headers[1]
    assert name == "traceparent"
    assert value == f"00-{HEX}-{context.span_id}-01".encode()
    assert headers[2:] == [("user", b"1"), ("other", None), ("user", b"two")]


def test_inject_replaces_stale_trace_headers_in_any_case_and_reads_dicts() -> None:
    stale = {"Trace_Id": b"0193f0c2-0000-7000-8000-000000000001", "TRACEPARENT": b"x", "k": "v"}
    with trace_context(TID):
        headers = inject_headers(stale)
    assert [name for name, _ in headers] == ["trace_id", "traceparent", "k"]
    assert headers[0][1] == TID.encode()
    assert headers[2] == ("k", b"v")


def test_traced_headers_start_a_trace_outside_any_context() -> None:
    headers, trace_id = traced_headers([("user", b"1")])
    assert parse_trace_id(trace_id) == trace_id
    assert headers[0] == ("trace_id", trace_id.encode())
    assert headers[-1] == ("user", b"1")
    with trace_context(TID):
        assert traced_headers()[1] == TID


def test_extract_reads_every_message_and_header_shape() -> None:
    headers = [("trace_id", TID.encode())]
    assert extract_trace_id(headers) == TID
    assert extract_trace_id({"trace_id": TID}) == TID
    assert extract_trace_id(ConfluentLike(headers)) == TID
    assert extract_trace_id(Record("t", 0, 1, None, b"", headers)) == TID
    assert extract_trace_id(tuple(headers)) == TID


def test_extract_falls_back_to_traceparent_and_keeps_its_parent_span() -> None:
    incoming = incoming_trace([("traceparent", TRACEPARENT)])
    assert incoming.trace_id == TID
    assert incoming.parent_span_id == "00f067aa0ba902b7"


def test_first_valid_id_wins_over_junk_duplicates_none_and_non_utf8() -> None:
    headers = [
        ("trace_id", None),
        ("trace_id", b"\xff\xfe"),
        ("TRACE_ID", b"junk\r\n"),
        ("trace_id", TID.upper().encode()),
        ("trace_id", new_trace_id().encode()),
    ]
    assert extract_trace_id(headers) == TID
    assert extract_trace_id(ConfluentLike(headers)) == TID


def test_invalid_id_counts_as_absent_and_is_reported_escaped() -> None:
    incoming = incoming_trace([("trace_id", b"bad\r\nid")])
    assert incoming.trace_id is None
    assert incoming.rejected == "bad\\r\\nid"
    assert extract_trace_id([("trace_id", b"0" * 32)]) is None


def test_nothing_to_read_means_no_trace() -> None:
    for nothing in (None, [], {}, ConfluentLike(None), Broken(), 42, "trace_id", object()):
        assert extract_trace_id(nothing) is None
    assert message_headers(Broken()) is None


def test_message_fields_of_both_client_shapes_and_of_broken_objects() -> None:
    expected = {"kafka_topic": "UserEvent", "kafka_partition": 2, "kafka_offset": 41}
    assert message_fields(ConfluentLike([])) == expected
    assert message_fields(Record("UserEvent", 2, 41, None, b"", [])) == expected
    assert message_fields(Broken()) == {}
    assert message_fields({"topic": "x"}) == {}


header_names = st.one_of(
    st.sampled_from(["trace_id", "TRACE_ID", "traceparent", "x"]), st.text(), st.binary()
)
header_values = st.one_of(st.none(), st.binary(), st.text(), st.integers())
header_lists = st.lists(st.tuples(header_names, header_values), max_size=6)


@given(header_lists)
def test_any_header_list_gives_a_valid_id_or_none(headers: list[tuple[Any, Any]]) -> None:
    for carrier in (headers, ConfluentLike(headers), dict(headers)):
        trace_id = extract_trace_id(carrier)
        assert trace_id is None or parse_trace_id(trace_id) == trace_id


@given(st.one_of(header_lists, st.dictionaries(st.text(), header_values, max_size=4)))
def test_inject_takes_any_pairs_and_returns_text_names_and_byte_values(headers: Any) -> None:
    with trace_context(TID):
        injected = inject_headers(headers)
    assert injected[0] == ("trace_id", TID.encode())
    assert all(isinstance(name, str) for name, _ in injected)
    assert all(value is None or isinstance(value, bytes) for _, value in injected)
    assert extract_trace_id(injected) == TID


def test_inject_refuses_headers_that_are_not_pairs_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"\(name, value\) pairs"):
        inject_headers([b"just bytes"])


@given(st.lists(st.one_of(st.binary(), st.text(), st.integers(), st.none()), max_size=4))
def test_arbitrary_non_pair_headers_never_raise(values: list[Any]) -> None:
    # Items that are not (name, value) pairs carry no header at all: no id, and no error.
    assert extract_trace_id(values) is None
    assert incoming_trace(values).trace_id is None


@given(st.uuids().filter(lambda u: u.int != 0), st.booleans(), header_lists)
def test_a_valid_id_round_trips_through_headers(
    uuid: Any, hex_form: bool, extra: list[Any]
) -> None:
    sent_id = uuid.hex.upper() if hex_form else str(uuid)
    user_headers = [(str(name), value) for name, value in extra if isinstance(value, bytes)]
    with trace_context(sent_id):
        headers = inject_headers(user_headers)
    assert extract_trace_id(headers) == str(uuid)
    assert extract_trace_id(ConfluentLike(headers)) == str(uuid)


# An id as our producer writes it, or one with a character swapped: the batch check must
# refuse exactly what a one-by-one check refuses (a line break inside shifts nothing).
near_ids = st.builds(
    lambda uuid, at, char, swap: (
        str(uuid)[:at] + char + str(uuid)[at + 1 :] if swap else str(uuid)
    ).encode(),
    st.uuids(),
    st.integers(0, 35),
    st.sampled_from(["\n", "-", "A", "g", "0", "\x00"]),
    st.booleans(),
)
first_headers = st.one_of(
    st.none(),
    header_lists,
    st.builds(lambda value, rest: [("trace_id", value), *rest], near_ids, header_lists),
    st.sampled_from([[], {"trace_id": TID.encode()}, [("trace_id",)], [None], "abc", ("x",)]),
    st.just([("trace_id", b"00000000-0000-0000-0000-000000000000")]),
)


def producer_shaped(value: bytes, parent: bytes, rest: list[Any]) -> list[Any]:
    return [("trace_id", value), ("traceparent", parent), *rest]


near_parents = st.one_of(
    st.builds(
        lambda uuid, span, flags: f"00-{uuid.hex}-{span:016x}-{flags}".encode(),
        st.uuids(),
        st.integers(0, 2**64 - 1),
        st.sampled_from(["01", "00", "03"]),
    ),
    st.just(TRACEPARENT),
    st.binary(min_size=55, max_size=55),
)
batch_headers = st.one_of(
    first_headers,
    st.builds(producer_shaped, near_ids, near_parents, header_lists),
    st.builds(  # the very shape our producer writes: id and traceparent of one trace
        lambda uuid, rest: producer_shaped(
            str(uuid).encode(), f"00-{uuid.hex}-00f067aa0ba902b7-01".encode(), rest
        ),
        st.uuids(),
        st.lists(st.tuples(st.sampled_from(["source", "TraceState", "BAGGAGE"]), st.binary())),
    ),
)


def same_reading(read: Any, headers: Any) -> bool:
    """A batch entry is incoming_trace's answer, or its ids when there is nothing to carry."""
    general = incoming_trace(headers)
    if isinstance(read, tuple):
        return read == (general.trace_id, general.parent_span_id) and not general.carries_state
    return bool(read == general)


@given(batch_headers)
def test_a_usual_record_is_read_as_incoming_trace_does(headers: Any) -> None:
    """The Moose hooks' direct reading (one record's header list) agrees with the general one
    whenever it answers, and it answers for the shapes producers write."""
    read = usual_trace_ids(headers)
    if read is not None:
        assert same_reading(read, headers)


def test_the_usual_shapes_are_read_directly_and_the_rest_left_to_the_rules() -> None:
    tid = new_trace_id()
    parent = f"00-{tid.replace('-', '')}-00f067aa0ba902b7-01".encode()
    assert usual_trace_ids([("trace_id", tid.encode())]) == (tid, None)
    assert usual_trace_ids([("trace_id", tid.upper().encode())]) == (tid, None)
    pair = [("trace_id", tid.encode()), ("traceparent", parent)]
    assert usual_trace_ids(pair) == (tid, "00f067aa0ba902b7")
    other = new_trace_id()
    not_usual = [
        [("trace_id", tid.encode()), ("traceparent", parent.replace(b"-01", b"-03"))],  # flags
        [("trace_id", other.encode()), ("traceparent", parent)],  # two traces: rules decide
        [("trace_id", tid.encode()), ("traceparent", parent.upper())],  # not W3C
        [
            ("trace_id", tid.encode()),
            ("traceparent", parent.replace(b"00f067aa0ba902b7", b"0" * 16)),
        ],
        [("trace_id", tid.encode()), ("trace_id", tid.encode())],  # duplicated
        [("trace_id", None)],
        [("trace_id", b"\xff" * 36)],
        [("trace_id", b"7" * 10_000)],
        [("trace_id", b"00000000-0000-0000-0000-000000000000")],
        [("traceparent", parent)],
        [],
        None,
    ]
    for headers in not_usual:
        assert usual_trace_ids(headers) is None, headers


def test_producer_records_are_read_as_their_ids() -> None:
    ids = [new_trace_id() for _ in range(3)]
    spans = [f"{number + 1:016x}" for number in range(3)]
    for tid, span in zip(ids, spans, strict=True):
        headers = [
            ("trace_id", tid.encode()),
            ("traceparent", f"00-{tid.replace('-', '')}-{span}-01".encode()),
        ]
        assert usual_trace_ids(headers) == (tid, span)


def test_the_records_own_headers_keep_parent_span_and_flags_next_to_trace_id() -> None:
    # What this library's producer writes: trace_id first, then traceparent (unsampled here).
    headers = [
        ("trace_id", TID.encode()),
        ("traceparent", f"00-{HEX}-00f067aa0ba902b7-00".encode()),
    ]
    incoming = incoming_trace(headers)
    assert (incoming.trace_id, incoming.parent_span_id, incoming.sampled) == (
        TID,
        "00f067aa0ba902b7",
        False,
    )
    assert incoming == extract_incoming(headers)


def test_header_helpers_work_without_confluent_kafka() -> None:
    code = (
        "import sys; sys.modules['confluent_kafka'] = None\n"
        "import moose_trace.kafka as k\n"
        "from moose_trace.tracing.context import trace_context\n"
        f"with trace_context('{TID}'): h = k.inject_headers({{'a': 'b'}})\n"
        f"assert k.extract_trace_id(h) == '{TID}', h\n"
        "assert isinstance(sys.modules['confluent_kafka'], type(None))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


class PlainGetter(Getter[Any]):
    """Any OpenTelemetry getter: makes extract_incoming read through the Getter interface."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        return header_getter.get(carrier, key)

    def keys(self, carrier: Any) -> list[str]:
        return header_getter.keys(carrier)


trace_names = st.sampled_from(
    ["trace_id", "TRACE_ID", "traceparent", "Traceparent", "tracestate", "baggage", "other"]
)
trace_values = st.one_of(
    st.none(),
    st.sampled_from(
        [
            TID.encode(),
            TID.upper().encode(),
            HEX.encode(),
            new_trace_id().encode(),
            TRACEPARENT,
            f"00-{HEX}-00f067aa0ba902b7-00".encode(),
            f"00-{'ab' * 16}-00f067aa0ba902b7-03".encode(),
            b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            b"foo=1,foo=2",
            b"tenant_id=acme,user_id=42",
            b"\xff\xfe",
            b"",
        ]
    ),
    st.binary(max_size=40),
)
kafka_header_lists = st.lists(st.tuples(trace_names, trace_values), max_size=6)


@given(kafka_header_lists)
def test_incoming_trace_is_extract_incoming_on_every_header_shape(headers: Any) -> None:
    general = extract_incoming(headers, id_headers=("trace_id",))
    assert incoming_trace(headers) == general
    assert incoming_trace(ConfluentLike(headers)) == general
    assert incoming_trace(Record("t", 0, 1, None, b"", headers)) == general
    assert incoming_trace(dict(headers)) == extract_incoming(
        dict(headers), id_headers=("trace_id",)
    )
    # Through any OpenTelemetry Getter the same trace is read (the getter drops undecodable
    # values before the parser sees them, so only the rejection report may differ).
    through = extract_incoming(headers, PlainGetter(), ("trace_id",))
    assert (through.trace_id, through.parent_span_id, through.trace_flags) == (
        general.trace_id,
        general.parent_span_id,
        general.trace_flags,
    )
    assert (through.tracestate, through.baggage) == (general.tracestate, general.baggage)
