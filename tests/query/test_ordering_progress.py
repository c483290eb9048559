"""Listings come out in time order in bounded memory; the progress bar shows only on terminals."""

from __future__ import annotations

import io
import random

import pytest

from moose_trace.query import progress
from moose_trace.query.ordering import order_key, time_ordered
from moose_trace.query.progress import ProgressBar


def test_time_order_with_spilled_runs_matches_a_plain_sort() -> None:
    rng = random.Random(1)
    rows = [
        (rng.choice([None, rng.randrange(-(10**16), 10**16)]), f'{{"n":{rng.randrange(1000)}}}')
        for _ in range(3000)
    ]
    expected = [text for _, text in sorted(rows, key=lambda row: order_key(*row))]
    assert list(time_ordered(rows, run_bytes=500)) == expected  # dozens of runs merged
    assert list(time_ordered(rows)) == expected  # one run in memory
    assert expected[0] == next(
        text for ts, text in sorted(rows, key=lambda r: order_key(*r)) if ts is None
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_after_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    piped = io.StringIO()
    bar = ProgressBar(piped)
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0.0)
    bar(0.5)
    assert piped.getvalue() == ""
    terminal = _Terminal()
    slow = ProgressBar(terminal, label="scanning")
    slow(0.5)
    assert "scanning" in terminal.getvalue()
    assert "50%" in terminal.getvalue()
    slow.clear()
    assert terminal.getvalue().endswith("\r")
    monkeypatch.setattr(progress, "DELAY_SECONDS", 60.0)
    quick = _Terminal()
    ProgressBar(quick)(0.9)  # a scan that has not run a second yet shows nothing
    assert quick.getvalue() == ""
