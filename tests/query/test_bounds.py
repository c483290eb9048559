"""Every answer has a bound, whatever one line holds (issue 13 §2)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from query_runner import run_logs

from moose_trace.query.results import (
    CHART_RANGE_US,
    MAX_BUCKETS,
    Bucket,
    HistogramResult,
)
from moose_trace.query.text import MAX_FIELDS_SHOWN, MAX_GROUPS_SHOWN, MAX_VALUE_CHARS

NOW_ISH = "2026-12-07T10:00:00Z"


def _write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    return path


@pytest.fixture
def odd_times(tmp_path: Path) -> Path:
    """One ordinary event and the timestamps that used to explode a histogram's range."""
    stamps = [
        NOW_ISH,
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "1700000000",  # an epoch number: no timestamp the engines read
        "garbage",
    ]
    return _write(tmp_path / "odd.jsonl", [{"timestamp": s, "level": "info"} for s in stamps])


def test_a_year_one_timestamp_is_counted_not_charted(odd_times: Path) -> None:
    run = run_logs(odd_times, "--histogram", "1h")
    assert run.code == 0
    assert len(run.lines) < 10
    assert "(3 events with a timestamp outside 2000–2099: not charted)" in run.lines
    assert "(2 events without a readable timestamp)" in run.lines


@pytest.mark.parametrize("format_", ["text", "json", "csv"])
def test_a_fine_interval_over_ten_years_is_widened_and_says_so(
    odd_times: Path, format_: str
) -> None:
    run = run_logs(odd_times, "--histogram", "1s", "--since", "3650d", "--format", format_)
    assert run.code == 0
    assert len(run.lines) <= MAX_BUCKETS + 5
    if format_ == "text":
        assert "(buckets widened from 1s to 1w to show at most 1,000)" in run.lines
    if format_ == "json":
        rows = [json.loads(line) for line in run.lines]
        assert sum(row["count"] for row in rows) == 1  # year 9999 is outside the chart


@given(
    step_s=st.sampled_from([1, 7, 60, 3600, 86_400]),
    starts=st.lists(st.integers(-(10**17), 3 * 10**17), max_size=20),
    span=st.tuples(
        st.none() | st.integers(-(10**17), 3 * 10**17), st.none() | st.integers(0, 3 * 10**17)
    ),
)
def test_a_chart_is_bounded_and_loses_no_charted_event(
    step_s: int, starts: list[int], span: tuple[int | None, int | None]
) -> None:
    step = step_s * 1_000_000
    buckets = sorted(
        {start // step * step: Bucket(start // step * step, 1) for start in starts}.values(),
        key=lambda b: b.start_us,
    )
    result = HistogramResult(timedelta(seconds=step_s), buckets)
    chart = result.chart(span)
    assert len(chart.buckets) <= MAX_BUCKETS
    assert chart.step_us % step == 0
    low, high = CHART_RANGE_US
    charted = sum(bucket.count for bucket in chart.buckets)
    assert charted + chart.outside == len(buckets)
    assert all(low - chart.step_us < bucket.start_us < high for bucket in chart.buckets)
    assert chart.widened == (chart.step_us != step)


def test_group_lists_and_event_lines_are_bounded(tmp_path: Path) -> None:
    events = [
        {"timestamp": NOW_ISH, "level": "info", "request_id": f"r{i}", "event": "x" * 50_000}
        for i in range(MAX_GROUPS_SHOWN * 3)
    ]
    events[0] |= {f"k{i}": i for i in range(MAX_FIELDS_SHOWN * 2)}
    path = _write(tmp_path / "wide.jsonl", events)
    groups = run_logs(path, "--group-by", "request_id")
    assert len(groups.lines) == MAX_GROUPS_SHOWN + 2
    assert f"… {MAX_GROUPS_SHOWN * 2} more values" in groups.lines[-1]
    listed = run_logs(path, "--verbose")
    assert len(listed.lines) == len(events)
    longest = max(len(line) for line in listed.lines)
    assert longest < MAX_VALUE_CHARS + MAX_FIELDS_SHOWN * 30 + 200
    assert "(+48,000 chars)" in listed.lines[0]
    assert f"(+{MAX_FIELDS_SHOWN + 1} more fields)" in "".join(listed.lines)
    exported = run_logs(path, "--format", "json")
    assert max(len(line) for line in exported.lines) > 50_000  # exports stay exact


def test_the_python_engine_bounds_a_trace_histogram_alike(tmp_path: Path) -> None:
    trace = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
    stamps = [NOW_ISH, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "garbage"]
    path = _write(
        tmp_path / "trace.jsonl",
        [{"timestamp": s, "level": "info", "trace_id": trace} for s in stamps],
    )
    by_trace = run_logs(path, "--trace", trace, "--histogram", "1h")  # the Python engine
    by_scan = run_logs(path, "--filter", f"trace_id={trace}", "--histogram", "1h")  # DuckDB
    assert by_trace.code == by_scan.code == 0
    assert by_trace.lines[1:] == by_scan.lines[1:]  # the titles name the query differently
    assert "(2 events with a timestamp outside 2000–2099: not charted)" in by_trace.lines
