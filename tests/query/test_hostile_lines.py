"""Any logged content, in any text mode: nothing reaches the terminal that could act on it."""

from __future__ import annotations

import io
import unicodedata
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from moose_trace._text import unescape_terminal
from moose_trace.query.render import RenderOptions, render
from moose_trace.query.results import (
    ErrorGroup,
    ErrorGroupsResult,
    GroupCount,
    GroupsResult,
    HistogramResult,
)
from moose_trace.query.text import (
    Style,
    TextOptions,
    event_lines,
    text_error_groups,
    text_groups,
)

UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
NAMED_FIELDS = [
    *("event", "type", "name", "level", "timestamp", "http_path", "error_message"),
    *("error_type", "stack", "payload", "hint", "query", "dlq", "service", "phase"),
]

hostile = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),  # readers refuse lone surrogates
        st.sampled_from(["\x1b[2J", "\x1b]0;pwned\x07", "\n", "\r\n", "\u202e", "\u2028", "\\x1b"]),
    ),
    max_size=12,
).map("".join)
values = st.one_of(
    hostile,
    st.integers(-(2**63), 2**63 - 1),
    st.lists(hostile, max_size=3),
    st.dictionaries(hostile, hostile, max_size=3),
)


def _unsafe(line: str) -> list[str]:
    return [char for char in line if unicodedata.category(char) in UNSAFE]


@settings(max_examples=150, deadline=None)
@given(
    named=st.dictionaries(st.sampled_from(NAMED_FIELDS), values, max_size=8),
    other=st.dictionaries(hostile, values, max_size=4),
    verbose=st.booleans(),
)
def test_an_event_prints_as_one_line_plus_its_own_detail_lines(
    named: dict[str, Any], other: dict[str, Any], verbose: bool
) -> None:
    event = {**other, **named}
    options = TextOptions(include_payload=True, include_metrics=True, verbose=verbose)
    lines = event_lines(event, options)
    for line in lines:
        assert _unsafe(line) == [], repr(line)
    # after the event's own line, only our detail lines: indented, never a forged line
    assert all(line.startswith("  ") for line in lines[1:])


@given(keys=st.lists(st.tuples(hostile | st.none(), hostile | st.none()), min_size=1, max_size=6))
def test_summaries_escape_what_they_show(keys: list[tuple[str | None, str | None]]) -> None:
    groups = GroupsResult(("a", "b"), [GroupCount(key, 1) for key in keys])
    errors = ErrorGroupsResult(
        [ErrorGroup(b or "sig", 1, None, None, a, b, a, b, a) for a, b in keys]
    )
    lines = [
        *text_groups(groups, "title", Style(False)),
        *text_error_groups(errors, "title", Style(False)),
    ]
    for line in lines:
        assert _unsafe(line) == [], repr(line)
    tree = text_groups(groups, "title", Style(False))[1:]
    top = [line for line in tree if line and not line.startswith("    └─")]
    shown = {unescape_terminal(line[2:].rsplit(": ", 1)[0]) for line in top}
    assert shown == {"(none)" if key[0] is None else key[0] for key in keys}


def test_a_histogram_title_is_escaped_by_its_renderer() -> None:

    out = io.StringIO()
    result = HistogramResult(timedelta(hours=1), [])
    render(result, out, RenderOptions(title="level=\x1b[2J\nforged"))
    assert _unsafe(out.getvalue().rstrip("\n")) == []


def test_an_infinite_latency_gives_the_same_percentiles_on_every_engine() -> None:
    """``1e999`` reads as infinity: its percentiles are infinite, as DuckDB's, never NaN."""
    from moose_trace.query.results import quantile  # noqa: PLC0415

    infinite = float("inf")
    assert quantile([infinite, infinite, infinite], 0.95) == infinite
    assert quantile([1.0, 3.0], 0.5) == 2.0
    assert quantile([2.0], 0.99) == 2.0
