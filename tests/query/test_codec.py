"""The query tool's JSON reader: the engines' rules for odd lines, every refusal a ValueError."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moose_trace.query.codec import MAX_DEPTH, TOO_DEEP, dumps, dumps_text, loads, loads_bulk
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


@pytest.mark.parametrize("text", ['{"a": 1} {"b": 2}', "{'a': 1}", "", "[1,", '{"a" 1}'])
def test_refuses_what_is_not_json(text: str) -> None:
    with pytest.raises(ValueError, match=r"Expecting|Extra data"):
        loads(text)
    with pytest.raises(ValueError, match=r"Expecting|Extra data"):
        loads_bulk(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            '{"a": NaN, "b": Infinity, "c": [-Infinity]}',
            {"a": "NaN", "b": "Infinity", "c": ["-Infinity"]},
        ),
        ('{"a": 1e400, "b": -1e999}', {"a": "1e400", "b": "-1e999"}),
        (
            '{"name": "first", "name": "second", "n": {"k": 1, "k": 2}}',
            {"name": "first", "n": {"k": 1}},
        ),
        ('{"name" : "first","name":"second"}', {"name": "first"}),
        ('[{"a": 1, "a": 2}, [NaN]]', [{"a": 1}, ["NaN"]]),
    ],
)
def test_odd_values_are_read_by_the_engines_rule(text: str, value: object) -> None:
    # NaN and numbers beyond a double are read as their text; a repeated key's first value wins
    assert loads(text) == value
    assert loads_bulk(text) == value
    assert loads_bulk(text.encode()) == value
    assert loads(dumps(value)) == value  # what was read can be written again


def test_nesting_too_deep_is_cut_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    value = loads(deep)
    for _ in range(MAX_DEPTH - 1):
        (value,) = value
    assert value == [TOO_DEEP]
    assert loads_bulk(deep) == loads(deep)
    dumps(loads(deep))  # and it can be written as JSON again
    line = read_line(b'{"level": "info", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert line is not None
    assert line.event is not None
    assert line.event["level"] == "info"


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = '{"event": "' + "[{" * 500 + '", "level": "info"}'
    assert loads(text) == {"event": "[{" * 500, "level": "info"}
    assert loads_bulk(text) == loads(text)


_ODD_PIECES = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", "1", '"x"', '"[{"', "[]", "{}", "null", '"\\""']
)


@st.composite
def _odd_lines(draw: st.DrawFn) -> str:
    """JSON-ish lines with repeated keys, non-finite numbers, nesting and spacing."""
    keys = draw(st.lists(st.sampled_from(["a", "b", "level", "x y"]), max_size=5))
    values = []
    for _ in keys:
        depth = draw(st.integers(0, 3)) if draw(st.booleans()) else draw(st.integers(0, 260))
        inner = draw(_ODD_PIECES)
        values.append("[" * depth + inner + "]" * depth)
    space = draw(st.sampled_from(["", " "]))
    pairs = [f'"{key}"{space}:{value}' for key, value in zip(keys, values, strict=True)]
    return "{" + ",".join(pairs) + "}"


@given(_odd_lines())
def test_the_fast_reader_gives_what_the_reference_reader_gives(text: str) -> None:
    assert loads_bulk(text) == loads(text)
    assert loads_bulk(text.encode()) == loads(text)


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


@pytest.mark.parametrize("text", ['{"a": "\\ud800"}', '["\\ude00 x"]', '{"\\ud800": 1}'])
def test_refuses_what_orjson_could_not_write_back(text: str) -> None:
    with pytest.raises(ValueError, match=r"lone surrogate"):
        loads(text)
    with pytest.raises(ValueError, match=r"lone surrogate"):
        loads_bulk(text)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
