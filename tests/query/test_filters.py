"""What each filter means, checked on both engines: DuckDB over a file, the Python predicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from moose_trace.query.ast import AllOf, ListEvents, Query
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.language import parse_filter, parse_levels, parse_trace
from moose_trace.query.python_engine import PythonEngine
from moose_trace.query.results import EventsResult
from moose_trace.query.sources import read_lines

TRACE = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"

EVENTS: list[dict[str, Any]] = [
    {
        "id": 1,
        "type": "api",
        "name": "leaderboard",
        "http_status": 500,
        "latency_ms": 5023,
        "security": True,
    },
    {
        "id": 2,
        "type": "api",
        "name": "user-pii",
        "http_status": 500.0,
        "security": "auth_failure",
        "level": "WARN",
    },
    {
        "id": 3,
        "type": "transform",
        "name": "u_e",
        "latency_ms": "2100",
        "security": False,
        "http_status": "500",
    },
    {
        "id": 4,
        "operation": "ddl_add_column",
        "phase": "planning",
        "security": "false",
        "latency_ms": 1000,
    },
    {
        "id": 5,
        "operation": "ddl",
        "phase": "execution",
        "security": 0,
        "latency_ms": "slow",
        "http_status": "500ms",
    },
    {"id": 6, "name": "UserEvent", "pipeline": "UserEventPipeline", "security": 1, "event": "a, b"},
    {
        "id": 7,
        "message": "hello",
        "resource_type": "olap_table",
        "resource_name": "50%",
        "security": "",
    },
    {"id": 8, "operation": "ddl_x", "name": "500", "level": "error"},
    {
        "id": 9,
        "level": "INFO",
        "fields": {"message": "consumed", "latency_ms": 1340},
        "span": {"name": "sync", "layer": "sync"},
        "spans": [
            {"name": "request", "trace_id": TRACE.replace("-", "").upper()},
            {"layer": "inner"},
        ],
    },
    {"id": 10, "__moose_structured_log__": True, "message": "calling", "task_name": "fetch"},
    {"id": 11, "trace_ids": [TRACE, "0193f0c2-7b1e-7c3a-9d2f-00000000beef"], "level": "critical"},
]


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("filters") / "events.jsonl"
    lines = []
    for index, event in enumerate(EVENTS):
        stamped = {"timestamp": f"2026-01-09T10:00:{index:02d}Z", "level": "info", **event}
        lines.append(orjson.dumps(stamped))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _ids(path: Path, engine: str, *conditions: Any) -> list[int]:
    query = Query(AllOf(tuple(conditions)), ListEvents())
    runner = DuckDBEngine([path]) if engine == "duckdb" else PythonEngine(lambda: read_lines(path))
    result = runner.run(query)
    assert isinstance(result, EventsResult)
    return [int(event["id"]) for event in result.events]


CASES = [
    ("type=api", [1, 2]),
    ("type!=api", [3, 4, 5, 6, 7, 8, 9, 10, 11]),  # events without a type included
    ("operation=ddl_*", [4, 8]),  # glob; "ddl" alone is not ddl_*
    ("name=u?e*", [2, 3]),
    ("name=50%", [7]),  # % and _ are literal, not SQL wildcards
    ("name=u_e", [3]),
    ("phase=planning,execution", [4, 5]),
    ("latency_ms:>1000", [1, 3, 9]),  # numbers and numeric text; "slow" is not a number
    ("latency_ms:>=1000", [1, 3, 4, 9]),
    ("latency_ms:<1000.5", [4]),
    ("http_status=500", [1, 2, 3]),  # 500, 500.0 and "500", not "500ms"
    ("http_status!=500", [4, 5, 6, 7, 8, 9, 10, 11]),
    ("security=true", [1, 2, 6]),  # a set flag: true, a category, 1
    ("security=false", [3, 4, 5, 7, 8, 9, 10, 11]),  # false, "false", 0, "", missing
    ("security=auth_failure", [2]),
    ("name=UserEventPipeline", [6]),  # name also matches the pipeline
    ("name!=UserEventPipeline,leaderboard", [2, 3, 4, 5, 7, 8, 9, 10, 11]),
    ("message=hello", [7]),  # message is read as event
    ("event=consumed", [9]),  # the Rust side's fields.message
    ('event="a, b"', [6]),  # quotes keep the comma
    ("type=olap_table", [7]),  # resource_type is read as type
    ("layer=sync", [9]),  # the current span's field, not the outer span's
    ("name=sync", []),  # a span's own name is not the event's name
    ("type=task,name=fetch", [10]),  # Moose's structured print line
    ("level=warn", [2]),
    ("level=info", [1, 3, 4, 5, 6, 7, 9, 10]),
    ("missing=*", []),
    ("name=*", [1, 2, 3, 6, 7, 8, 10]),
]


@pytest.mark.parametrize("engine", ["duckdb", "python"])
@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_filter_matches(log_file: Path, engine: str, expression: str, expected: list[int]) -> None:
    assert _ids(log_file, engine, parse_filter(expression)) == expected


@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_levels_and_traces(log_file: Path, engine: str) -> None:
    assert _ids(log_file, engine, parse_levels("warn,error")) == [2, 8]
    assert _ids(log_file, engine, parse_levels("error+")) == [8, 11]
    # The Rust line's id (upper-case hex, in the root span) and the batch line's list both count.
    assert _ids(log_file, engine, parse_trace(TRACE.upper())) == [9, 11]
    assert _ids(log_file, engine, parse_trace(TRACE.replace("-", ""))) == [9, 11]
