"""Moose's own error lines, written without ``moose_trace.moose.instrument()``, in ``--errors``.

Moose's runner writes its structured lines (``"__moose_structured_log__": true``) on stderr; its
error lines (a dead letter, a failed function, a runtime error) name no ``error_category``. The
query tool reads them as ``unknown_error`` — what ``instrument()`` writes on such a line when no
failed function explains it — so they never group under an empty category.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from query_runner import run_logs

from moose_trace.errors import UNKNOWN_ERROR
from moose_trace.query.normalize import STRUCTURED_ERROR_CATEGORY, normalize_event
from moose_trace.query.python_engine import read_line

# Lines as Moose 0.6's cli_log / StructuredLogContext.log write them (copied from a runner's
# stderr), plus one of ours that has a category and an info line.
MOOSE_LINES = [
    {
        "__moose_structured_log__": True,
        "level": "error",
        "message": "Sent message to DLQ RawDead: record 3 cannot be cooked",
        "resource_type": "runtime",
        "cli_action": "DeadLetter",
        "cli_message_type": "Error",
        "timestamp": "2026-12-07T18:50:00.717002+00:00",
    },
    {
        "__moose_structured_log__": True,
        "level": "error",
        "message": "Error processing message (no DLQ configured): boom",
        "resource_type": "runtime",
        "cli_action": "Function",
        "cli_message_type": "Error",
        "timestamp": "2026-12-07T18:50:01.000000+00:00",
    },
    {
        "__moose_structured_log__": True,
        "level": "info",
        "message": "Raw -> Cooked: Message partition=0 offset=3",
        "function_name": "Raw -> Cooked",
        "timestamp": "2026-12-07T18:50:00.700000+00:00",
    },
    {
        "__moose_structured_log__": True,
        "level": "error",
        "message": "Sent message to DLQ RawDead: bad value",
        "cli_action": "DeadLetter",
        "error_category": "validation_error",
        "timestamp": "2026-12-07T18:50:02.000000+00:00",
    },
]


def write_stderr(path: Path) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in MOOSE_LINES))
    return path


def test_the_category_is_the_one_instrument_writes() -> None:
    assert STRUCTURED_ERROR_CATEGORY == UNKNOWN_ERROR


def test_errors_groups_moose_error_lines_under_unknown_error(tmp_path: Path) -> None:
    source = write_stderr(tmp_path / "runner.stderr")
    run = run_logs(source, "--errors", "--format", "json")
    assert run.code == 0, run.err
    groups = [orjson.loads(line) for line in run.lines]
    categories = sorted(group["error_category"] for group in groups)
    assert categories == ["unknown_error", "unknown_error", "validation_error"]
    assert sum(group["count"] for group in groups) == 3  # the info line is no error


def test_both_engines_read_the_same_category(tmp_path: Path) -> None:
    events = [normalize_event(line) for line in MOOSE_LINES]
    assert [event and event.get("error_category") for event in events] == [
        "unknown_error",
        "unknown_error",
        None,  # not an error line
        "validation_error",  # a category the line names is kept
    ]
    source = write_stderr(tmp_path / "runner.stderr")
    text = source.read_text().splitlines()
    # The Python engine's reader (``--trace``, the search path) reads them as normalize_event
    # does; the CLI's --errors above ran DuckDB; test_duckdb_python_agree makes both agree.
    assert [read_line(line).event for line in text] == events
