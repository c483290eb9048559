"""``terminal_safe``: what a logged value may not do to a terminal, and how it stays readable."""

from __future__ import annotations

import io
import re
import sys
import unicodedata
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from moose_trace._text import (
    terminal_lines,
    terminal_safe,
    terminal_safe_event,
    unescape_terminal,
)
from moose_trace.logging.config import configure_logging, shutdown_logging

# What a terminal may act on or hide: controls, format characters (bidi, zero-width, tags),
# line/paragraph separators and lone surrogates.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _unsafe(text: str) -> list[str]:
    return [char for char in text if unicodedata.category(char) in UNSAFE_CATEGORIES]


hostile_text = st.lists(
    st.one_of(
        st.characters(codec=None),
        st.sampled_from(["\x1b", "\x07", "\n", "\r", "\\", "\u202e", "\u2066", "\x9b", "\x7f"]),
        st.sampled_from(["x1b", "u202e", "n", "\\\\", "U000e0041", "xZ"]),
    )
).map("".join)


@given(hostile_text)
def test_nothing_a_terminal_acts_on_survives(text: str) -> None:
    assert _unsafe(terminal_safe(text)) == []


@given(hostile_text)
def test_the_escapes_are_reversible(text: str) -> None:
    assert unescape_terminal(terminal_safe(text)) == text


@given(st.text(st.characters(categories=["L", "N", "P", "S", "Zs"])))
def test_ordinary_text_without_backslashes_is_unchanged(text: str) -> None:
    plain = text.replace("\\", "")
    assert terminal_safe(plain) == plain


def test_every_unsafe_code_point_of_this_unicode_version_is_escaped() -> None:
    unsafe = "".join(
        chr(point)
        for point in range(sys.maxunicode + 1)
        if unicodedata.category(chr(point)) in UNSAFE_CATEGORIES
    )
    assert _unsafe(terminal_safe(unsafe)) == []


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\u202eevil\u2069", "\\u202eevil\\u2069"),
        ("\x9b2J\x7f", "\\x9b2J\\x7f"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("C:\\Users\\d+", "C:\\Users\\d+"),  # a backslash stays as written where unambiguous
        ("C:\\new", "C:\\\\new"),  # and is doubled where it would read as an escape
        ("a literal \\x1b", "a literal \\\\x1b"),
        ("grüße 東京 ✅", "grüße 東京 ✅"),
    ],
)
def test_values_show_escaped(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown
    assert unescape_terminal(shown) == raw


def test_a_stack_keeps_its_lines_and_nothing_more() -> None:
    stack = "Traceback:\r\n  File x\n  ValueError: a\x1b[2J\u2028b"
    assert list(terminal_lines(stack)) == [
        "Traceback:",
        "  File x",
        "  ValueError: a\\x1b[2J\\u2028b",
    ]


def test_an_event_for_a_console_renderer_has_safe_keys_and_values() -> None:
    event = {"event": "hi\x1b[2J", "k\ney": "v\r", "n": 3, "stack": "a\nb\x07"}
    assert terminal_safe_event(event) == {
        "event": "hi\\x1b[2J",
        "k\\ney": "v\\r",
        "n": 3,
        "stack": "a\nb\\x07",
    }


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("console-test", json=False, stream=stream, log_dir=False)
    yield stream
    shutdown_logging()


def test_configure_console_text_cannot_forge_a_line(console: io.StringIO) -> None:
    forged = "/\x1b]0;pwned\x07\x1b[2J\n2026-12-07 10:00:00.000 [ERROR] forged"
    structlog.get_logger("t").info(forged, http_path=forged, **{"odd\u202ekey": "x"})
    (line,) = console.getvalue().splitlines()
    assert _unsafe(line) == []
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\n2026-12-07 10:00:00.000 [ERROR] forged" in line
    assert "odd\\u202ekey=x" in line


def test_printable_unicode_is_judged_like_every_other_text() -> None:
    """Text that prints (``ärger``, ``·``, ``└``) is passed without compiling the escaping
    patterns; every code point next to such text is escaped exactly when the class of
    characters a terminal may act on holds it (the combining and filler marks included)."""
    from moose_trace import _text  # noqa: PLC0415 (the class the escaping is defined by)

    unsafe = re.compile(f"[{_text._UNSAFE_CLASS}]")
    for point in range(0x110000):
        char = chr(point)
        if char == "\\":
            continue  # doubled only where it would read as an escape (the tests above)
        text = f"ä{char}·"
        shown = terminal_safe(text)
        assert (shown != text) == (unsafe.match(char) is not None), point
        assert unescape_terminal(shown) == text
