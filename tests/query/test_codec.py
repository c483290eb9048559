"""The query tool's JSON reader: strict JSON only, every refusal a ValueError."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moose_trace.query.codec import dumps, dumps_text, loads
from moose_trace.query.python_engine import read_line

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",))), children, max_size=4)
    ),
    max_leaves=12,
)


@given(_JSON)
def test_reads_what_orjson_writes_as_orjson_reads_it(value: object) -> None:
    data = orjson.dumps(value)
    assert loads(data) == orjson.loads(data)
    assert loads(data.decode()) == orjson.loads(data)
    assert dumps(value) == data
    assert dumps_text(value) == data.decode()


@pytest.mark.parametrize(
    "text",
    ["NaN", '{"a": NaN}', '{"a": Infinity}', "[-Infinity]", '{"a": 1} {"b": 2}', "{'a': 1}", ""],
)
def test_refuses_what_is_not_strict_json(text: str) -> None:
    with pytest.raises(ValueError, match=r"Expecting|Extra data|is not JSON"):
        loads(text)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)


def test_nesting_too_deep_is_a_value_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        loads("[" * 100_000 + "]" * 100_000)
    line = read_line(b'{"event": "x", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert line is not None
    assert line.event is None  # counted as not an event, no traceback


@given(st.binary(max_size=64))
def test_arbitrary_bytes_give_a_value_or_value_error(data: bytes) -> None:
    try:
        value = loads(data)
    except ValueError:
        return
    if isinstance(value, float):
        assert math.isfinite(value)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 18446744073709551615, "b": -9223372036854775808}',  # the 64-bit ends stay ints
        '{"a": 18446744073709551616, "b": -9223372036854775809}',  # past them: floats
        '{"n": 123456789012345678901234567890, "tiny": 1e-400}',
        '["\\ud83d\\ude00", "\\\\ud800"]',  # an escaped pair, an escaped backslash
    ],
)
def test_numbers_and_escapes_read_as_orjson_reads_them(text: str) -> None:
    value = loads(text)
    assert repr(value) == repr(orjson.loads(text))  # repr tells an int from a float
    assert loads(dumps(value)) == value  # what was read can be written again


@pytest.mark.parametrize(
    "text", ['{"a": 1e400}', "[-1e400]", '{"a": "\\ud800"}', '["\\ude00 x"]', '{"\\ud800": 1}']
)
def test_refuses_what_orjson_could_not_write_back(text: str) -> None:
    with pytest.raises(ValueError, match=r"too large for a double|lone surrogate"):
        loads(text)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
