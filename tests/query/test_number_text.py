"""``number_of``: a field's text read as a number exactly when it spells one in JSON syntax."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from moose_trace.query.normalize import NUMBER_PATTERN, number_of


def by_the_pattern(text: str) -> float | None:
    return float(text) if re.fullmatch(NUMBER_PATTERN, text) else None


@given(
    st.one_of(
        st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True),
        st.text(alphabet="0123456789٣١೨.-+eE x", max_size=8),
    )
)
def test_a_text_is_a_number_exactly_when_the_json_number_pattern_says_so(text: str) -> None:
    assert number_of(text) == by_the_pattern(text)


def test_the_usual_texts() -> None:
    assert number_of("200") == 200.0
    assert number_of("0") == 0.0
    assert number_of("007") is None  # JSON has no leading zeros
    assert number_of("٣") is None  # a digit, but not an ASCII one
    assert number_of("-1.5e3") == -1500.0
    assert number_of(None) is None
