"""``--compare`` text: window bounds as precise as the windows are short."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from moose_trace.query.ast import Window
from moose_trace.query.results import ComparisonResult, WindowStats
from moose_trace.query.text import Style, text_comparison

START = datetime(2026, 11, 29, 9, 45, 10, tzinfo=timezone.utc)


def _header(window: Window) -> str:
    stats = WindowStats(window, 0, 0, 0, None, None, None, None, None)
    return text_comparison(ComparisonResult([stats]), "t", Style(False))[2]


def test_short_windows_show_their_seconds() -> None:
    header = _header(Window("before", START, START + timedelta(seconds=6)))
    assert "2026-11-29 09:45:10.000 → 2026-11-29 09:45:16.000" in header


def test_day_windows_read_to_the_minute() -> None:
    header = _header(Window("after", START, START + timedelta(days=1)))
    assert "2026-11-29 09:45 → 2026-11-30 09:45:" not in header
    assert "(2026-11-29 09:45 → 2026-11-30 09:45)" in header
