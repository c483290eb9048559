"""Lines that fit a screen, and the pager: what a terminal gets from ``moose-trace logs``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from moose_trace.query.compact import CompactLines
from moose_trace.query.screen import pager_command
from moose_trace.query.text import Style

LOGS_COMMAND = [sys.executable, "-m", "moose_trace.commands.main", "logs"]

EVENTS = [
    {
        "timestamp": "2026-01-09T10:00:01.250Z",
        "level": "info",
        "event": "batch synced",
        "service": "sync",
        "layer": "sync",
        "name": "UserEvent",
        "kafka_topic": "UserEvent",
        "consumer_group": "clickhouse_sync",
        "status": "success",
        "latency_ms": 12.5,
        "trace_id": "0193f0c2-7b1e-7c3a-9d2f-0123456789ab",
    },
    {
        "timestamp": "2026-01-09T10:00:02Z",
        "level": "error",
        "event": "batch sync failed",
        "service": "sync",
        "layer": "sync",
        "name": "UserEvent",
        "kafka_topic": "UserEvent",
        "consumer_group": "clickhouse_sync",
        "status": "failed",
        "latency_ms": 80,
        "error_category": "type_conversion_error",
        "error_type": "ClickHouseError",
        "error_message": "Cannot read DateTime " * 10,
    },
    {"timestamp": "2026-01-10T00:00:00Z", "level": "warning", "event": "slow", "service": "sync"},
]


def test_each_event_is_one_line_cut_to_the_width() -> None:
    compact = CompactLines(80, Style(False))
    lines = [line for event in EVENTS for line in compact.lines(event)]
    assert lines[0] == "── 2026-01-09 ──"
    assert lines[1].startswith(
        "10:00:01.250 INFO  sync/sync  UserEvent  batch synced  status=success"
    )
    assert all(len(line) <= 80 for line in lines)
    failed = lines[2]
    assert failed.startswith("10:00:02.000 ERROR sync/sync  UserEvent  batch sync failed")
    assert failed.endswith("  error_category=type…")  # cut to fit: the most useful first
    assert "kafka_topic" not in failed  # the same as the line above: not repeated
    assert lines[3].startswith("  ↳ ClickHouseError: Cannot read DateTime")
    assert lines[3].endswith("…")
    assert lines[4] == "── 2026-01-10 ──"  # a new day gets its date line


def test_keys_are_dim_and_levels_coloured_on_a_terminal() -> None:
    [_day, line] = CompactLines(200, Style(True)).lines(EVENTS[0])
    assert "\x1b[32mINFO \x1b[0m" in line
    assert "\x1b[2mstatus=\x1b[0msuccess" in line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_pager_is_for_terminals_and_can_be_turned_off() -> None:
    assert pager_command(io.StringIO(), {}) is None  # piped: never
    assert pager_command(_Terminal(), {"PAGER": "cat"}) is None
    assert pager_command(_Terminal(), {"PAGER": ""}) is None
    assert pager_command(_Terminal(), {"PAGER": "no-such-pager-anywhere"}) is None
    assert pager_command(_Terminal(), {"PAGER": "more"})[0] == "more"  # type: ignore[index]
    assert pager_command(_Terminal(), {"MOOSE_TRACE_PAGER": "cat", "PAGER": "more"}) is None


def test_piped_output_is_not_paged_and_keeps_whole_lines(tmp_path: Path) -> None:
    directory = tmp_path
    (directory / "a.jsonl").write_text("\n".join(json.dumps(e) for e in EVENTS))
    done = subprocess.run(
        [*LOGS_COMMAND, str(directory), "--no-progress"],
        capture_output=True,
        text=True,
        check=True,
        env={"PAGER": "false", "PATH": "/usr/bin:/bin"},
    )
    assert "[ERROR] UserEvent - batch sync failed" in done.stdout
    assert "Cannot read DateTime " * 10 in done.stdout  # whole, not cut
