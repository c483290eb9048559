"""Bad arguments and bad files: one clear line and exit 2, or a per-file note (issue 13 §5)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query_runner import Run, run_logs

TRACE = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
EVENT = {"timestamp": "2026-12-07T10:00:00Z", "level": "error", "event": "ok", "trace_id": TRACE}


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.jsonl"
    path.write_bytes(orjson.dumps(EVENT) + b"\n")
    return path


def _one_clear_line(run: Run) -> str:
    assert run.code == 2, run
    assert run.out == ""
    assert "Traceback" not in run.err
    (line,) = run.err.splitlines()
    return line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--trace", ""], "bad trace id ''"),
        (["--trace-kafka", ""], "--trace-kafka ''"),
        (["--group-by", ""], "bad field name ''"),
        (["--group-by", "a,b,c,d,e,f"], "at most 5"),
        (["--level", ""], "bad level ''"),
        (["--level", "warning++"], "bad level 'warning++'"),
        (["--level", "loud"], "bad level 'loud'"),
        (["--since", "99999999999d"], "expected at most 36,525d"),
        (["--until", "99999999999w"], "expected at most 36,525d"),
        (["--histogram", ""], "bad duration ''"),
        (["--histogram", "0s"], "longer than zero"),
        (["--since", ""], "bad time ''"),
        (["--filter", ""], "empty item"),
        (["--limit", "0"], "from 1 to 1,000,000"),
        (["--limit", "10000001"], "from 1 to 1,000,000"),
        (["--limit", "١٢"], "from 1 to 1,000,000"),  # Arabic-Indic digits are digits to str
        (["--output", ""], "--output needs a file name"),
        (["--table", "x;y"], "--table names a ClickHouse table"),
        (["--compare", *(f"w{i}=2d-1d" for i in range(13))], "at most 12"),
        (["--format", "xml"], "invalid choice"),
        (["--trace", "\x1b[2J"], "bad trace id '\\x1b[2J'"),
    ],
)
def test_a_bad_argument_gets_one_clear_line_and_exit_2(
    log_file: Path, args: list[str], says: str
) -> None:
    line = _one_clear_line(run_logs(log_file, *args))
    assert says in line
    assert "\x1b" not in line


def test_a_bad_table_name_is_refused_before_connecting(tmp_path: Path) -> None:
    line = _one_clear_line(run_logs("--source", f"chdb://{tmp_path}/store", "--table", "x;y"))
    assert "bad --table" in line


def test_level_aliases_mean_the_sdk_level(log_file: Path) -> None:
    fatal = run_logs(log_file, "--level=fatal", "--format", "json")
    critical = run_logs(log_file, "--level=critical", "--format", "json")
    assert fatal.code == critical.code == 0
    assert fatal.out == critical.out


def test_grouping_by_a_field_no_event_has_says_so(log_file: Path) -> None:
    run = run_logs(log_file, "--group-by", "nonexistent_field")
    assert run.code == 0
    assert "no matching event has the field 'nonexistent_field'" in run.err


@pytest.fixture
def mixed_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    directory.mkdir()
    (directory / "good.jsonl").write_bytes(orjson.dumps(EVENT) + b"\n")
    (directory / "not-gzip.jsonl.gz").write_bytes(orjson.dumps(EVENT) + b"\n")
    whole = gzip.compress(b"".join(orjson.dumps(EVENT) + b"\n" for _ in range(2000)))
    (directory / "cut-short.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    return directory


@pytest.mark.parametrize(
    "mode",
    [(), ("--trace", TRACE), ("--group-by", "level"), ("--errors",), ("--histogram", "1h")],
)
def test_unreadable_files_are_skipped_and_named_one_by_one(
    mixed_directory: Path, mode: tuple[str, ...]
) -> None:
    run = run_logs(mixed_directory, "--format", "json", *mode)
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    rows = [json.loads(line) for line in run.lines]
    assert rows, "the readable file still answers"
    assert sum(row.get("count", 1) for row in rows) == 1
    notes = [line for line in run.err.splitlines() if "skipped" in line]
    assert len(notes) == 2
    assert any("not-gzip.jsonl.gz" in note and "GZIP" in note.upper() for note in notes)
    assert any("cut-short.jsonl.gz" in note for note in notes)


def test_exit_is_non_zero_only_when_nothing_could_be_read(mixed_directory: Path) -> None:
    (mixed_directory / "good.jsonl").unlink()
    for mode in ((), ("--trace", TRACE)):
        run = run_logs(mixed_directory, *mode)
        assert run.code == 1
        assert "Traceback" not in run.err
        assert run.err.count("skipped") == 2


_ARGUMENT_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", " ", "-", "+", "++", "warning++", "1e999", "NaN", "99999999999d", "0", "-1", "\x00"]
)
_OPTIONS = st.sampled_from(
    [
        "--trace",
        "--trace-kafka",
        "--group-by",
        "--level",
        "--since",
        "--until",
        "--histogram",
        "--filter",
        "--limit",
        "--compare",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(option=_OPTIONS, value=_ARGUMENT_TEXT)
def test_any_argument_value_gets_an_answer_or_one_clear_line(
    log_file: Path, option: str, value: str
) -> None:
    run = run_logs(log_file, f"{option}={value}", "--format", "json")
    assert "Traceback" not in run.err
    assert run.code in (0, 2), run
    if run.code == 2:
        (line,) = run.err.splitlines()
        assert line.startswith("moose-trace logs")
        assert not any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in line)
