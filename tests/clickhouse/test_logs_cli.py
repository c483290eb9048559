"""``moose-trace logs chdb:///…``: the same command line answered from the ClickHouse table."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from moose_trace.commands.logs import main
from moose_trace.query.follow_store import Boundary
from moose_trace.store.clickhouse.schema import ddl
from moose_trace.store.clickhouse.transport import ChdbTransport, connect

TRACE = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
OTHER = "0193f0c2-7b1e-7c3a-9d2f-ffffffffffff"


def _stamp(minutes: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(minutes=30) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def loaded(chdb_url: str) -> str:
    """A chDB directory holding a few events of two traces; the transport is closed again."""
    transport = connect(chdb_url)
    assert isinstance(transport, ChdbTransport)
    for statement in ddl():
        transport.execute(statement)
    events = [
        {"timestamp": _stamp(0), "level": "info", "event": "request", "trace_id": TRACE},
        {"timestamp": _stamp(1), "level": "info", "event": "request", "trace_id": OTHER},
        {
            "timestamp": _stamp(2),
            "level": "error",
            "event": "insert failed",
            "trace_id": TRACE,
            "error_category": "type_conversion_error",
            "layer": "sync",
        },
        {
            "timestamp": _stamp(3),
            "level": "error",
            "event": "timed out",
            "trace_id": OTHER,
            "error_category": "timeout_error",
            "layer": "webserver",
        },
    ]
    data = b"\n".join(orjson.dumps(event) for event in events)
    transport.insert("moose_logs", data, fmt="JSONAsString", columns=("raw",))
    transport.close()
    return chdb_url


def test_trace_is_answered_from_the_table(loaded: str, capsys: pytest.CaptureFixture[str]) -> None:
    flat = [loaded, "--trace", TRACE.upper(), "--format", "json", "--no-progress", "--flat"]
    assert main(flat) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["request", "insert failed"]
    assert {line["trace_id"] for line in lines} == {TRACE}
    assert main([loaded, "--trace", TRACE, "--format", "json"]) == 0
    tree = orjson.loads(capsys.readouterr().out)
    assert tree["trace_id"] == TRACE
    assert tree["errors"] == 1
    assert tree["outcome"]["error_category"] == "type_conversion_error"


def test_group_by_counts_come_from_the_table(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([loaded, "--level", "error", "--group-by", "error_category", "--format", "json"])
    assert code == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    counts = {row["error_category"]: row["count"] for row in rows}
    assert counts == {"type_conversion_error": 1, "timeout_error": 1}


def test_a_missing_table_is_a_clear_error_not_a_traceback(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([loaded, "--table", "no_such_table", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("moose-trace logs: ClickHouse")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["chdb:///tmp/x", "logs.jsonl"], "cannot be mixed with log files"),
        (["--table", "t"], "--table names a ClickHouse table"),
        (["clickhouse://"], "without a host"),
    ],
)
def test_bad_store_arguments_are_refused_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_source_option_is_the_same_as_a_url_argument(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--source", loaded, "--trace", TRACE, "--format", "json", "--flat"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["--source", "logs/"]) == 2
    assert "--source takes a ClickHouse URL" in capsys.readouterr().err


def test_follow_polls_the_table_and_shows_each_new_event_once(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows stored while following appear; Ctrl-C ends it with status 0."""

    shown = sys.stdout  # capsys's buffer: the follower prints here

    def store_then_interrupt() -> None:
        transport = connect(loaded)
        try:
            for index in range(3):
                time.sleep(0.7)
                event = {
                    "timestamp": _stamp(40 + index),
                    "level": "error",
                    "event": f"late {index}",
                    "trace_id": TRACE,
                }
                transport.insert(
                    "moose_logs", orjson.dumps(event), fmt="JSONAsString", columns=("raw",)
                )
            # Interrupt once the follower has shown the last row, not after a fixed wait.
            deadline = time.monotonic() + 60
            while '"late 2"' not in shown.getvalue() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            transport.close()
            os.kill(os.getpid(), signal.SIGINT)

    writer = threading.Thread(target=store_then_interrupt)
    writer.start()
    try:
        code = main([loaded, "--level", "error", "--follow", "--format", "json"])
    finally:
        writer.join()
    assert code == 0
    events = [orjson.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert events == ["insert failed", "timed out", "late 0", "late 1", "late 2"]


def test_the_poll_boundary_shows_an_event_at_the_newest_timestamp_once() -> None:
    boundary = Boundary()
    first = {"timestamp": "2026-11-29T10:00:00Z", "event": "a"}
    same_time = {"timestamp": "2026-11-29T10:00:00Z", "event": "b"}
    assert boundary.admit(first)
    assert boundary.admit(same_time)
    assert not boundary.admit(first)  # returned again by the next poll (timestamp >= newest)
    assert boundary.admit({"timestamp": "2026-11-29T10:00:01Z", "event": "c"})
    assert boundary.newest is not None


def test_search_is_answered_from_the_table(loaded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([loaded, "--search", "TIMED", "--format", "json", "--no-progress"]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["timed out"]
    assert main([loaded, "insert", "--group-by", "layer", "--format", "json"]) == 0
    assert [orjson.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"layer": "sync", "count": 1}
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["logs", "clickhouse://u:Sup/erSecret@127.0.0.1:1/db", "--no-progress"],
        ["logs", "clickhouse://u:Sup/erSecret@host:1/db/x"],
        ["ingest", "--to", "chdb://u:Sup/erSecret@/var/lib/logs", "--no-progress", "x.jsonl"],
    ],
)
def test_a_url_password_never_appears_in_any_output(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moose_trace.commands.main import main as moose_trace_main  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.jsonl").write_text('{"event": "x"}\n')
    assert moose_trace_main(argv) != 0
    captured = capsys.readouterr()
    assert "Sup/erSecret" not in captured.out + captured.err
    assert "erSecret" not in captured.out + captured.err
    assert captured.err.strip()
    assert not any("erSecret" in str(path) for path in tmp_path.rglob("*"))


def test_a_histogram_from_the_table_is_bounded_whatever_the_timestamps(
    chdb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    transport = connect(chdb_url)
    assert isinstance(transport, ChdbTransport)
    for statement in ddl():
        transport.execute(statement)
    stamps = [_stamp(0), "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1700000000"]
    data = b"\n".join(orjson.dumps({"timestamp": s, "level": "error"}) for s in stamps)
    transport.insert("moose_logs", data, fmt="JSONAsString", columns=("raw",))
    transport.close()
    assert main([chdb_url, "--histogram", "1h", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) < 10  # one year-1 line no longer spans 17.8 M hourly buckets
    assert main([chdb_url, "--histogram", "1s", "--since", "3650d", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) <= 1005
    assert "(buckets widened from 1s to 1w to show at most 1,000)" in lines
