"""A traced call reads a dict record's trace as the one parser does (property test)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from moose_trace.decorators._inputs import record_incoming
from moose_trace.tracing.ids import new_trace_id
from moose_trace.tracing.propagation import extract_incoming

ID = new_trace_id()
values = st.one_of(
    st.just(ID),
    st.just(ID.upper()),
    st.just(ID.replace("-", "")),
    st.just(" " + ID),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.none(),
    st.integers(),
    st.just("00000000-0000-0000-0000-000000000000"),
)
records = st.dictionaries(
    st.sampled_from(["trace_id", "traceparent", "tracestate", "baggage", "id"]), values
)


@given(records)
def test_a_dict_record_reads_as_extract_incoming_reads_its_trace_keys(
    record: dict[str, Any],
) -> None:
    carrier = {key: value for key, value in record.items() if key != "id"}
    expected = extract_incoming(carrier, id_headers=("trace_id",)) if carrier else None
    found = record_incoming(record)
    if expected is None or expected.trace_id is None:
        assert found is None
    else:
        assert found == expected
