"""``moose-trace prune``: the file store forgets each level after the same days as ClickHouse."""

from __future__ import annotations

import argparse
import gzip
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from moose_trace.commands.prune import prune_log_dir, register
from moose_trace.store.retention import RetentionPolicy, parse_retention

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)


def _line(days_ago: float, level: str, event: str) -> bytes:
    stamp = (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"timestamp": stamp, "level": level, "event": event}) + b"\n"


def _write(path: Path, lines: list[bytes], *, modified_days_ago: float) -> Path:
    data = b"".join(lines)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    stamp = (NOW - timedelta(days=modified_days_ago)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _events(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return [
        orjson.loads(line)["event"] if line.startswith(b"{") else line.decode()
        for line in data.splitlines()
    ]


def test_whole_files_past_the_longest_retention_are_deleted(tmp_path: Path) -> None:
    old = _write(
        tmp_path / "api-2026-02-10.jsonl", [_line(38, "error", "old")], modified_days_ago=38
    )
    recent = _write(
        tmp_path / "api-2026-03-19.jsonl", [_line(1, "error", "new")], modified_days_ago=0.9
    )
    report = prune_log_dir(tmp_path, now=NOW)
    assert report.deleted == [old]
    assert not old.exists()
    assert recent.exists()


def test_expired_lower_levels_are_dropped_and_everything_else_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ingest-2026-03-10.jsonl",
        [
            _line(10, "debug", "debug 10d"),
            _line(10, "info", "info 10d"),
            _line(10, "WARN", "warn 10d"),
            _line(10, "error", "error 10d"),
            b"not json at all\n",
            b'{"event": "no timestamp", "level": "debug"}\n',
        ],
        modified_days_ago=10,
    )
    report = prune_log_dir(tmp_path, now=NOW)
    assert report.rewritten == [path]
    assert report.lines_dropped == 2
    assert _events(path) == ["warn 10d", "error 10d", "not json at all", "no timestamp"]


def test_timestamps_are_read_as_the_query_tool_reads_them(tmp_path: Path) -> None:
    # Other writers' forms: nanoseconds (the Rust side), a zone offset, a space for the ``T``.
    path = _write(
        tmp_path / "rust-2026-03-10.jsonl",
        [
            b'{"timestamp": "2026-03-10T12:00:00.123456789Z", "level": "DEBUG", "event": "ns"}\n',
            b'{"timestamp": "2026-03-10 14:00:00+02:00", "level": "info", "event": "offset"}\n',
            b'{"timestamp": "2026-03-20T13:00:00+02:00", "level": "debug", "event": "recent"}\n',
            b'{"timestamp": "10/03/2026", "level": "debug", "event": "unreadable"}\n',
        ],
        modified_days_ago=10,
    )
    report = prune_log_dir(tmp_path, now=NOW)
    assert report.lines_dropped == 2
    assert _events(path) == ["recent", "unreadable"]


def test_gzip_files_are_rewritten_as_gzip(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "svc-2026-03-12.jsonl.gz",
        [_line(8, "info", "info 8d"), _line(8, "error", "error 8d")],
        modified_days_ago=8,
    )
    prune_log_dir(tmp_path, now=NOW)
    assert _events(path) == ["error 8d"]


def test_files_still_being_written_are_left_alone(tmp_path: Path) -> None:
    busy = _write(
        tmp_path / "svc-2026-03-18.jsonl", [_line(2, "debug", "debug 2d")], modified_days_ago=0
    )
    report = prune_log_dir(tmp_path, now=NOW)
    assert report.skipped == [busy]  # modified a moment ago: a writer may still append
    assert _events(busy) == ["debug 2d"]


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    old = _write(tmp_path / "a-2026-01-01.jsonl", [_line(78, "error", "x")], modified_days_ago=78)
    mixed = _write(tmp_path / "a-2026-03-10.jsonl", [_line(10, "debug", "d")], modified_days_ago=10)
    before = mixed.read_bytes()
    report = prune_log_dir(tmp_path, now=NOW, dry_run=True)
    assert (report.deleted, report.rewritten, report.lines_dropped) == ([old], [mixed], 1)
    assert old.exists()
    assert mixed.read_bytes() == before


def test_a_configured_policy_applies(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a-2026-03-15.jsonl",
        [_line(5, "error", "e"), _line(5, "info", "i")],
        modified_days_ago=5,
    )
    prune_log_dir(tmp_path, now=NOW, retention=RetentionPolicy({"error": 3, "info": 30}))
    assert _events(path) == ["i"]


def test_parse_retention_overrides_named_levels_and_rejects_nonsense() -> None:
    policy = parse_retention("error=90d, info=3, *=10d")
    assert (
        policy.days_for("ERROR"),
        policy.days_for("info"),
        policy.days_for("debug"),
        policy.days_for("x"),
    ) == (90, 3, 1, 10)
    with pytest.raises(ValueError, match="bad retention item 'info=0d'"):
        parse_retention("info=0d")


def test_prune_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "a-2000-01-01.jsonl", [b"{}\n"], modified_days_ago=9000)
    parser = argparse.ArgumentParser(prog="moose-trace")
    register(parser.add_subparsers())
    args = parser.parse_args(["prune", "--dir", str(tmp_path), "--retention", "error=60d"])
    assert args.func(args) == 0
    assert "deleted 1 file," in capsys.readouterr().out
    bad = parser.parse_args(["prune", "--dir", str(tmp_path), "--retention", "error=forever"])
    assert bad.func(bad) == 2
    assert "bad retention item 'error=forever'" in capsys.readouterr().err


def test_odd_lines_are_read_by_the_query_tools_rules(tmp_path: Path) -> None:
    stamp = (NOW - timedelta(days=10)).isoformat().replace("+00:00", "Z")
    path = _write(
        tmp_path / "odd-2026-03-10.jsonl",
        [
            # a repeated key: the first value counts, as every query engine reads it
            f'{{"timestamp": "{stamp}", "level": "debug", "level": "error"}}\n'.encode(),
            # NaN does not make the line unreadable: it expires like any debug line
            f'{{"timestamp": "{stamp}", "level": "debug", "x": NaN, "event": "nan"}}\n'.encode(),
            _line(10, "error", "kept"),
        ],
        modified_days_ago=10,
    )
    report = prune_log_dir(tmp_path, now=NOW)
    assert report.lines_dropped == 2
    assert _events(path) == ["kept"]  # not the line whose last "level" says error
