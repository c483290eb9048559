"""``--search TEXT`` and bare words: text anywhere in an event, any case, on every engine."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
from query_runner import run_logs

from moose_trace.query.ast import AnyOf, ListEvents, Query, Search
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.results import EventsResult
from moose_trace.query.search import search_lines, search_needle

EVENTS = [
    {
        "timestamp": "2026-01-09T10:00:01Z",
        "level": "info",
        "event": "request handled",
        "http_path": "/consumption/Leaderboard",
        "service": "api",
    },
    {
        "timestamp": "2026-01-09T10:00:02Z",
        "level": "error",
        "event": "query failed",
        "error_message": 'ClickHouse said "Timeout" after 5000ms',
        "service": "api",
    },
    {
        "timestamp": "2026-01-09T10:00:03Z",
        "level": "info",
        "event": "batch synced",
        "payload": {"nested": {"city": "Zürich"}},
        "service": "sync",
    },
    {"timestamp": "2026-01-09T10:00:04Z", "level": "debug", "event": "noise", "service": "x"},
]


def _write(tmp_path: Path) -> Path:
    lines = [orjson.dumps(event) + b"\n" for event in EVENTS]
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines[:2]) + b"not json timeout\n")
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[2:])))
    return tmp_path


def _events(*args: str | Path) -> list[str]:
    run = run_logs(*args, "--format", "json", "--no-progress")
    assert run.code == 0, run.err
    return [orjson.loads(line)["event"] for line in run.lines]


def test_search_finds_text_in_any_field_ignoring_case(tmp_path: Path) -> None:
    logs = _write(tmp_path)
    assert _events(logs, "--search", "LEADERBOARD") == ["request handled"]
    assert _events(logs, "--search", "zürich") == ["batch synced"]  # nested, not ASCII
    assert _events(logs, "--search", "timeout") == ["query failed"]  # not the broken line
    assert _events(logs, "--search", 'said "timeout"') == ["query failed"]  # quotes as written
    assert _events(logs, "--search", "api", "--search", "failed") == ["query failed"]
    assert _events(logs, "--search", "api", "--level", "info") == ["request handled"]
    assert _events(logs, "--search", "nothing-like-this") == []


def test_a_bare_word_is_a_search(tmp_path: Path) -> None:
    logs = _write(tmp_path)
    assert _events(logs, "Timeout") == ["query failed"]
    grouped = run_logs(logs, "api", "--group-by", "level", "--no-progress")
    assert "info" in grouped.out
    assert "error" in grouped.out
    missing = run_logs(tmp_path / "no-such-dir", "--no-progress")
    assert missing.code == 2  # a path that is not there is still a bad source, not a search


def test_engines_agree_on_a_search(tmp_path: Path) -> None:
    logs = _write(tmp_path)
    files = sorted(logs.iterdir())
    for text in ("leaderboard", "ZÜRICH", '"timeout"', "api"):
        needle = search_needle(text)
        scanned = [
            orjson.loads(line)["event"]
            for line in search_lines(files, [needle])
            if line.startswith(b"{")
        ]
        # Under AnyOf the search is not taken by the byte scan: DuckDB answers it in SQL.
        result = DuckDBEngine(files).run(Query(AnyOf((Search(needle),)), ListEvents()))
        assert isinstance(result, EventsResult)
        assert sorted(event["event"] for event in result.events) == sorted(scanned), text


def test_non_ascii_text_is_found_in_any_case(tmp_path: Path) -> None:
    lines = [
        {"timestamp": "2026-01-09T10:00:01Z", "level": "info", "event": "viel ärger heute"},
        {"timestamp": "2026-01-09T10:00:02Z", "level": "info", "event": "VIEL ÄRGER MORGEN"},
        {"timestamp": "2026-01-09T10:00:03Z", "level": "info", "event": "argerlich"},
        {"timestamp": "2026-01-09T10:00:04Z", "level": "info", "event": "Straße Ωmega"},
    ]
    (tmp_path / "a.jsonl").write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    expected = ["viel ärger heute", "VIEL ÄRGER MORGEN"]
    assert _events(tmp_path, "--search", "ÄRGER") == expected
    assert _events(tmp_path, "--search", "ärger") == expected
    assert _events(tmp_path, "ärGER") == expected
    assert _events(tmp_path, "--search", "STRASSE") == []  # lowercased, not case-folded: ß stays
    assert _events(tmp_path, "--search", "ωMEGA") == ["Straße Ωmega"]  # no plain character


def test_the_rule_reads_the_line_as_written(tmp_path: Path) -> None:
    """A repeated key's second value is in the line (what DuckDB and ClickHouse search), though
    the event keeps the first: every path — the byte scan, the trace lookup, DuckDB — finds it."""
    trace = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
    line = (
        b'{"timestamp": "2026-01-09T10:00:01Z", "level": "info", "event": "first", '
        b'"event": "Shadowed", "trace_id": "' + trace.encode() + b'"}\n'
    )
    (tmp_path / "a.jsonl").write_bytes(line)
    assert _events(tmp_path, "--search", "SHADOWED") == ["first"]
    assert _events(tmp_path, "--search", "shadowed", "--trace", trace, "--flat") == ["first"]
    result = DuckDBEngine([tmp_path / "a.jsonl"]).run(
        Query(AnyOf((Search(search_needle("SHADOWED")),)), ListEvents())
    )
    assert isinstance(result, EventsResult)
    assert [event["event"] for event in result.events] == ["first"]
