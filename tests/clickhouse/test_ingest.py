"""``moose-trace ingest``: existing JSON Lines into ClickHouse — resumable, exactly once."""

from __future__ import annotations

import argparse
import gzip
import io
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from faults import FlakyTransport

from moose_trace.commands.ingest import register
from moose_trace.query.ingest import ingest_files
from moose_trace.query.sources import resolve_sources
from moose_trace.store.clickhouse.transport import ChdbTransport, ClickHouseError

# Recent timestamps: the table's retention TTL drops older info events on merge.
_NOW = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lines(start: int, stop: int) -> bytes:
    return b"".join(
        orjson.dumps({"timestamp": _NOW, "level": "info", "i": i}) + b"\n"
        for i in range(start, stop)
    )


def _stored(transport: ChdbTransport) -> list[int]:
    return sorted(
        orjson.loads(row["raw"])["i"] for row in transport.query("SELECT raw FROM moose_logs")
    )


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="moose-trace")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_files_globs_and_directories_are_loaded_and_bad_lines_counted(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a-2026-11-20.jsonl").write_bytes(_lines(0, 100) + b"not json\n[1, 2]\n\n")
    (logs / "b-2026-11-20.jsonl.gz").write_bytes(gzip.compress(_lines(100, 150)))
    (logs / "ignored.txt").write_text("not a log")
    paths = resolve_sources([str(logs)]).files
    report = ingest_files(paths, transport, state_file=tmp_path / "state.json")
    assert (report.files, report.events, report.malformed) == (2, 150, 2)
    assert _stored(transport) == list(range(150))


def test_other_writers_lines_are_stored_as_the_query_tool_reads_them(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    log = tmp_path / "rust.jsonl"
    rust = {
        "timestamp": _NOW,
        "level": "WARN",
        "fields": {"message": "Inserting batch", "count": 5},
        "span": {"trace_id": "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"},
    }
    log.write_bytes(orjson.dumps(rust) + b"\n" + b'{"no": "event keys"}\n')
    report = ingest_files([log], transport, state_file=None)
    assert (report.events, report.malformed) == (1, 1)
    (row,) = transport.query("SELECT level, event, trace_id, raw FROM moose_logs")
    assert (row["level"], row["event"]) == ("warning", "Inserting batch")
    assert row["trace_id"] == "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
    assert orjson.loads(row["raw"])["fields"] == rust["fields"]  # every original key kept


def test_a_rerun_continues_where_the_last_one_stopped(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    log = tmp_path / "svc.jsonl"
    state = tmp_path / "state.json"
    log.write_bytes(_lines(0, 50) + b'{"i": 50, "level": "in')  # a line still being written
    assert ingest_files([log], transport, state_file=state).events == 50
    with log.open("ab") as file:
        file.write(b'fo"}\n' + _lines(51, 80))
    second = ingest_files([log], transport, state_file=state)
    assert (second.events, second.resumed) == (30, 1)
    assert _stored(transport) == list(range(80))


def test_an_interrupted_run_resumes_without_duplicates(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    log = tmp_path / "svc.jsonl"
    log.write_bytes(_lines(0, 1_000))
    state = tmp_path / "state.json"
    failing = FlakyTransport(transport)
    failing.succeed_only = 2  # ClickHouse goes away after two of the four batches
    with pytest.raises(ClickHouseError):
        ingest_files([log], failing, state_file=state, batch_rows=300)
    assert _stored(transport) == list(range(600))
    resumed = ingest_files([log], transport, state_file=state, batch_rows=300)
    assert (resumed.events, resumed.resumed) == (400, 1)
    assert _stored(transport) == list(range(1_000))


def test_a_batch_inserted_but_not_recorded_is_not_stored_twice(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    log = tmp_path / "svc.jsonl"
    log.write_bytes(_lines(0, 500))
    # No state file: as if every run crashed right after its inserts, before recording them.
    ingest_files([log], transport, state_file=None, batch_rows=200)
    ingest_files([log], transport, state_file=None, batch_rows=200)
    assert _stored(transport) == list(range(500))  # same byte ranges, same tokens: deduplicated


def test_ingest_command_reports_and_draws_progress_on_a_terminal(
    chdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "svc.jsonl"
    log.write_bytes(_lines(0, 20) + b"garbage\n")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("moose_trace.query.progress.DELAY_SECONDS", 0.0)  # draw at once
    assert _cli(["ingest", str(log), "--to", chdb_url, "--state", str(tmp_path / "s.json")]) == 0
    output = terminal.getvalue()
    assert "ingest █" in output
    assert "100%" in output
    assert "20 events from 1 file into" in output
    assert "1 malformed lines skipped" in output
    transport = ChdbTransport(chdb_url)
    try:
        assert _stored(transport) == list(range(20))
    finally:
        transport.close()


def test_ingest_command_errors_are_clear_and_secret_free(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "svc.jsonl"
    log.write_bytes(_lines(0, 5))
    assert _cli(["ingest", str(log), "--to", "mysql://u:topsecret@h/db"]) == 2
    assert _cli(["ingest", str(tmp_path / "none*.jsonl"), "--to", "chdb://memory"]) == 2
    code = _cli(
        [
            "ingest",
            str(log),
            "--to",
            "clickhouse://u:topsecret@127.0.0.1:1/db",
            "--no-progress",
            "--state",
            str(tmp_path / "s.json"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "not a ClickHouse URL" in err
    assert "matches no files" in err
    assert "run the same command again" in err
    assert "topsecret" not in err


def test_progress_counts_bytes_on_disk_compressed_and_resumed_alike(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(_lines(0, 3_000) + b'{"partial": ')  # a last line still being written
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(_lines(3_000, 6_000)))  # ~10× smaller on disk
    sizes = plain.stat().st_size + packed.stat().st_size
    state = tmp_path / "state.json"
    calls: list[tuple[int, int]] = []

    def record(read: int, events: int) -> None:
        calls.append((read, events))

    ingest_files([plain, packed], transport, state_file=state, batch_rows=500, on_progress=record)
    assert sum(read for read, _ in calls) == sizes  # 100% exactly, not the unpacked size
    assert sum(events for _, events in calls) == 6_000
    assert all(read >= 0 for read, _ in calls)
    assert len(calls) > 4  # it moves during a file, not only at its end
    # A rerun has nothing new: the part loaded before counts as done, so it is at 100% at once.
    calls.clear()
    ingest_files([plain, packed], transport, state_file=state, on_progress=record)
    assert (sum(read for read, _ in calls), sum(events for _, events in calls)) == (sizes, 0)


def test_a_bad_gz_is_named_and_the_other_files_loaded(
    chdb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "good.jsonl").write_bytes(_lines(0, 10))
    (logs / "plain-text.jsonl.gz").write_bytes(_lines(10, 20))  # named .gz, not gzip
    whole = gzip.compress(_lines(20, 3000))
    (logs / "cut-short.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    state = str(tmp_path / "s.json")
    assert _cli(["ingest", str(logs), "--to", chdb_url, "--state", state, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err
    assert "plain-text.jsonl.gz: not a valid .gz file" in err
    assert "cut-short.jsonl.gz: the .gz file is cut short" in err
    transport = ChdbTransport(chdb_url)
    try:
        stored = _stored(transport)
    finally:
        transport.close()
    assert stored[:10] == list(range(10))  # the good file
    assert 20 < len(stored) < 3000 - 20  # and what came before the cut


def test_ingest_of_only_unreadable_files_fails(
    chdb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "plain-text.jsonl.gz"
    log.write_bytes(_lines(0, 10))
    state = str(tmp_path / "s.json")
    assert _cli(["ingest", str(log), "--to", chdb_url, "--state", state, "--no-progress"]) == 1
    assert "not a valid .gz file" in capsys.readouterr().err
