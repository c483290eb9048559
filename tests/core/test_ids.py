"""Trace ids: UUIDv7 generation, parsing of untrusted input, and OTel/W3C conversions."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moose_trace.tracing.ids import (
    are_canonical_ids,
    new_trace_id,
    parse_trace_id,
    trace_id_from_hex,
    trace_id_from_int,
    trace_id_to_hex,
    trace_id_to_int,
)


def test_new_trace_id_is_canonical_uuid7_with_current_time() -> None:
    before_ms = time.time_ns() // 1_000_000
    tid = new_trace_id()
    after_ms = time.time_ns() // 1_000_000
    parsed = uuid.UUID(tid)
    assert str(parsed) == tid
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before_ms <= parsed.int >> 80 <= after_ms


def test_new_trace_ids_strictly_increase_within_one_millisecond() -> None:
    ids = [new_trace_id() for _ in range(50_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # 50k ids take far less than 50k ms, so many share a millisecond and still order.
    assert len({uuid.UUID(i).int >> 80 for i in ids}) < len(ids)


def test_new_trace_ids_strictly_increase_per_thread_and_never_collide() -> None:
    results: list[list[str]] = []

    def make() -> None:
        results.append([new_trace_id() for _ in range(20_000)])

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ids in results:
        assert ids == sorted(ids)
    assert len({i for ids in results for i in ids}) == 80_000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0193f0c2-7b1e-7c3a-9d2f-0123456789ab", "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"),
        ("0193F0C2-7B1E-7C3A-9D2F-0123456789AB", "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"),
        ("0193F0C27B1E7C3A9D2F0123456789AB", "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"),
        (b"0193f0c27b1e7c3a9d2f0123456789ab", "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"),
        # W3C trace ids are random 128-bit values, not UUIDs; they are accepted as they are.
        ("4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"),
    ],
)
def test_parse_trace_id_normalizes_accepted_forms(raw: str | bytes, expected: str) -> None:
    assert parse_trace_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        " 0193f0c2-7b1e-7c3a-9d2f-0123456789ab",
        "0193f0c2-7b1e-7c3a-9d2f-0123456789ab\r\n",
        "0193f0c2-7b1e-7c3a-9d2f-0123456789ab\n",
        "{0193f0c2-7b1e-7c3a-9d2f-0123456789ab}",
        "urn:uuid:0193f0c2-7b1e-7c3a-9d2f-0123456789ab",
        "0193f0c2-7b1e-7c3a-9d2f-0123456789a",
        "0193f0c2_7b1e_7c3a_9d2f_0123456789ab",
        "0193f0c2-7b1e-7c3a-9d2f-0123456789ag",
        "０193f0c2-7b1e-7c3a-9d2f-0123456789ab",  # full-width digit
        "00000000-0000-0000-0000-000000000000",
        "00000000000000000000000000000000",
        "x" * 10_000,
        b"\xff" * 32,
        "01H3Z8X9Y2ABCDEFGHJKLMNPQR",  # the seed's ULID-looking example is not a UUID
    ],
)
def test_parse_trace_id_refuses_everything_else(raw: str | bytes | None) -> None:
    assert parse_trace_id(raw) is None


@given(st.one_of(st.text(), st.binary(), st.none()))
def test_parse_trace_id_never_raises_and_returns_canonical_or_none(raw: str | bytes | None) -> None:
    result = parse_trace_id(raw)
    assert result is None or (str(uuid.UUID(result)) == result and result != str(uuid.UUID(int=0)))


@given(st.uuids())
def test_parse_trace_id_accepts_every_nonzero_uuid_in_both_forms(value: uuid.UUID) -> None:
    canonical = str(value)
    if value.int == 0:
        return
    assert parse_trace_id(canonical.upper()) == canonical
    assert parse_trace_id(value.hex) == canonical


def test_otel_int_and_w3c_hex_round_trip() -> None:
    tid = new_trace_id()
    assert trace_id_from_int(trace_id_to_int(tid)) == tid
    assert trace_id_to_int(tid) == uuid.UUID(tid).int
    assert trace_id_to_hex(tid) == tid.replace("-", "")
    assert trace_id_from_hex(trace_id_to_hex(tid)) == tid
    assert trace_id_from_hex(tid) is None  # the canonical form is not 32 hex digits


@pytest.mark.parametrize("bad", [0, -1, 1 << 128])
def test_trace_id_from_int_refuses_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        trace_id_from_int(bad)


def test_conversions_refuse_invalid_ids_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a trace id"):
        trace_id_to_int("nope")
    with pytest.raises(ValueError, match="not a trace id"):
        trace_id_to_hex("00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize("bad", [None, 12, b"\xff" * 100])
def test_conversions_name_a_wrong_type_in_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="not a trace id"):
        trace_id_to_int(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a trace id"):
        trace_id_to_hex(bad)  # type: ignore[arg-type]


batch_values = st.one_of(
    st.builds(lambda: new_trace_id().encode()),
    st.builds(lambda: new_trace_id().upper().encode()),
    st.builds(lambda: new_trace_id().replace("-", "").encode()),
    st.just(b"00000000-0000-0000-0000-000000000000"),
    st.builds(lambda tid: (tid[:20] + "\n" + tid[21:]).encode(), st.builds(new_trace_id)),
    st.binary(min_size=35, max_size=37),
)


@given(st.lists(batch_values, min_size=1, max_size=6))
def test_a_batch_is_canonical_exactly_when_parse_trace_id_keeps_each_value(
    values: list[bytes],
) -> None:
    each_kept = all(parse_trace_id(value) == value.decode("latin-1") for value in values)
    assert are_canonical_ids(values) == each_kept
