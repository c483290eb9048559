"""The command line around the engines: sources, bad input, notes, formats, entry points."""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from query_runner import run_logs

from moose_trace.commands.logs import register
from moose_trace.commands.main import main as moose_trace_main
from moose_trace.logging.paths import LOG_DIR_ENV
from moose_trace.query.results import Bucket, HistogramResult


def _write(path: Path, *events: dict[str, object], tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(orjson.dumps(event) + b"\n" for event in events) + tail
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)
    return path


def _event(index: int, **fields: object) -> dict[str, object]:
    return {
        "timestamp": f"2026-01-09T10:00:{index:02d}Z",
        "level": "info",
        "event": f"e{index}",
        **fields,
    }


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", _event(1), tail=b"not json\n[1,2]\n{}\n\n   \n")
    _write(tmp_path / "b.jsonl", _event(2))
    run = run_logs(tmp_path, "--format", "json")
    assert run.code == 0
    assert [orjson.loads(line)["event"] for line in run.lines] == ["e1", "e2"]
    assert "skipped 3 lines that are not JSON log events" in run.err
    grouped = run_logs(tmp_path, "--group-by", "level", "--format", "json")
    assert [orjson.loads(line) for line in grouped.lines] == [{"level": "info", "count": 2}]
    assert "skipped 3 lines" in grouped.err


def test_empty_files_gz_files_and_globs(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    _write(tmp_path / "old.jsonl.gz", _event(1, service="old"))
    _write(tmp_path / "new.jsonl", _event(2, service="new"))
    (tmp_path / "notes.txt").write_text("not a log file\n")
    every = run_logs(tmp_path, "--format", "json")
    assert [orjson.loads(line)["service"] for line in every.lines] == ["old", "new"]
    assert every.err == ""
    only_gz = run_logs(str(tmp_path / "*.gz"), "--format", "json")
    assert [orjson.loads(line)["service"] for line in only_gz.lines] == ["old"]
    counted = run_logs(tmp_path / "old.jsonl.gz", tmp_path / "new.jsonl", "--group-by", "service")
    assert "old: 1 occurrence" in counted.out
    assert "new: 1 occurrence" in counted.out


def test_a_file_still_being_written(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "live.jsonl", _event(1), tail=b'{"timestamp": "2026-01-09T10:00:02Z", "lev'
    )
    run = run_logs(tmp_path, "--format", "json")
    assert run.code == 0
    assert len(run.lines) == 1
    assert run.err == ""  # a line in progress is not a malformed line
    with open(log, "ab") as file:
        file.write(b'el": "info", "event": "e2"}\n')
    assert len(run_logs(tmp_path, "--format", "json").lines) == 2


def test_missing_sources_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = run_logs(tmp_path / "nope")
    assert missing.code == 2
    assert "no such file or directory" in missing.err
    assert "nope" in missing.err
    assert run_logs(str(tmp_path / "*.jsonl")).err.endswith(
        "matches no files: expected a glob naming log files\n"
    )
    monkeypatch.setenv(LOG_DIR_ENV, str(tmp_path / "never-written"))
    default = run_logs()
    assert default.code == 2
    assert "no log directory at" in default.err
    assert LOG_DIR_ENV in default.err
    assert "Traceback" not in default.err


def test_no_source_reads_the_default_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "svc-2026-01-09.jsonl", _event(1, service="svc"))
    monkeypatch.setenv(LOG_DIR_ENV, str(tmp_path))
    run = run_logs("--format", "json")
    assert run.code == 0
    assert orjson.loads(run.lines[0])["service"] == "svc"


def test_no_matching_events_is_success_with_a_note(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", _event(1))
    run = run_logs(tmp_path, "--filter", "type=nothing")
    assert run.code == 0
    assert run.out == ""
    assert "no matching events in 1 log file" in run.err
    kafka = run_logs(tmp_path, "--trace-kafka", "topic=X,partition=0,offset=1")
    assert kafka.code == 0
    assert "no event logged for Kafka record" in kafka.err
    untraced = run_logs(tmp_path, "--trace", "0193f0c2-7b1e-7c3a-9d2f-0123456789ab")
    assert untraced.code == 0
    assert "no matching events" in untraced.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "latency_ms:>fast"], "bad number 'fast'"),
        (["--since", "3 days"], "bad time '3 days'"),
        (["--level", "loud"], "bad level 'loud'"),
        (["--histogram", "1x"], "bad duration '1x'"),
        (["--compare", "before=2d"], "bad time window '2d'"),
        (["--group-by", "a,,b"], "bad field name ''"),
        (["--trace", "not-an-id"], "bad trace id 'not-an-id'"),
        (["--follow", "--group-by", "layer"], "--follow shows events as they come"),
        (["--follow", "--format", "csv"], "--follow cannot write csv"),
        (["--limit", "0"], "bad --limit '0'"),
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--group-by", "layer", "--errors"], "not allowed with argument"),
    ],
)
def test_bad_input_exits_2_naming_the_token(tmp_path: Path, args: list[str], message: str) -> None:
    _write(tmp_path / "a.jsonl", _event(1))
    run = run_logs(tmp_path, *args)
    assert run.code == 2
    assert message in run.err
    assert "Traceback" not in run.err


def test_bad_input_through_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", _event(1))
    done = subprocess.run(
        [sys.executable, "-m", "moose_trace.commands.logs", str(tmp_path), "--filter", "x:>y"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "bad number 'y'" in done.stderr
    assert "Traceback" not in done.stderr


def test_output_file_and_formats(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _write(logs / "a.jsonl", _event(1, layer="sync", payload={"a": [1]}), _event(2, layer="web"))
    target = tmp_path / "out.csv"
    run = run_logs(logs, "--format", "csv", "--output", target)
    assert run.code == 0
    assert run.out == ""
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [row["layer"] for row in rows] == ["sync", "web"]
    assert rows[0]["payload"] == '{"a":[1]}'
    assert rows[1]["payload"] == ""
    groups = run_logs(logs, "--group-by", "layer", "--format", "csv")
    assert groups.lines == ["layer,count", "sync,1", "web,1"]
    histogram = run_logs(logs, "--histogram", "1m", "--format", "json")
    assert orjson.loads(histogram.lines[0]) == {
        "start": "2026-01-09T10:00:00Z",
        "end": "2026-01-09T10:01:00Z",
        "count": 2,
    }


def test_colour_only_when_wanted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "a.jsonl", _event(1, level="error"))
    assert "\x1b[" not in run_logs(tmp_path).out  # not a terminal
    assert "\x1b[31m[ERROR]\x1b[0m" in run_logs(tmp_path, "--color", "always").out
    assert "\x1b[" not in run_logs(tmp_path, "--color", "always", "--format", "json").out


def test_registered_under_the_moose_trace_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "a.jsonl", _event(1, layer="sync"))
    parser = argparse.ArgumentParser(prog="moose-trace")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["logs", str(tmp_path), "--filter", "layer=sync", "--format", "json"])
    assert args.func(args) == 0
    assert orjson.loads(capsys.readouterr().out)["layer"] == "sync"
    assert moose_trace_main(["logs", str(tmp_path), "--group-by", "layer"]) == 0
    assert "sync: 1 occurrence" in capsys.readouterr().out


def test_broken_pipe_ends_quietly(tmp_path: Path) -> None:
    _write(tmp_path / "a.jsonl", *(_event(i % 60, n=i) for i in range(5000)))
    reader = subprocess.Popen(["head", "-n", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    done = subprocess.run(
        [sys.executable, "-m", "moose_trace.commands.logs", str(tmp_path)],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait(timeout=10)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr


def test_histogram_filled_adds_empty_buckets_across_the_span() -> None:
    minute = 60_000_000
    base = 29_000_000 * minute  # 2025-02-19: inside the charted years
    result = HistogramResult(
        timedelta(minutes=1), [Bucket(base + 2 * minute, 3), Bucket(base + 4 * minute, 1)]
    )
    shown = [((b.start_us - base) // minute, b.count) for b in result.filled()]
    assert shown == [(2, 3), (3, 0), (4, 1)]
    # --since/--until widen it to the whole time asked about; the end is exclusive
    widened = result.filled((base + minute + 5, base + 6 * minute))
    assert [((b.start_us - base) // minute, b.count) for b in widened] == [
        (1, 0), (2, 3), (3, 0), (4, 1), (5, 0)
    ]  # fmt: skip
    empty = HistogramResult(timedelta(minutes=1), [])
    assert empty.filled() == []
    assert empty.filled((base, base + 2 * minute)) == [Bucket(base, 0), Bucket(base + minute, 0)]
