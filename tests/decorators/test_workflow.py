"""@traced_workflow and @traced_task: a run's timeline, its run id, its retries (US-9)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog
from decorator_helpers import Logs

from moose_trace.decorators import traced_task, traced_workflow

log = structlog.get_logger("app.tasks")


def timeline(logs: Logs) -> list[tuple[str, str, str, Any]]:
    return [
        (line["level"], line["event"], line["status"], line.get("retry_count"))
        for line in logs.lines()
    ]


def test_a_run_and_its_tasks_share_one_workflow_run_id(logs: Logs) -> None:
    @traced_task
    def fetch_external_data() -> list[int]:
        return [1, 2]

    @traced_task(name="load_to_clickhouse")
    def load(rows: list[int]) -> int:
        return len(rows)

    @traced_workflow(name="data_refresh")
    def refresh() -> int:
        return load(fetch_external_data())

    assert refresh() == 2
    assert timeline(logs) == [
        ("info", "workflow started", "started", None),
        ("info", "task started", "started", None),
        ("info", "task completed", "success", None),
        ("info", "task started", "started", None),
        ("info", "task completed", "success", None),
        ("info", "workflow completed", "completed", None),
    ]
    lines = logs.lines()
    assert len({line["workflow_run_id"] for line in lines}) == 1
    assert len({line["trace_id"] for line in lines}) == 1
    assert [(line["type"], line["name"]) for line in lines[::2]] == [
        ("workflow", "data_refresh"),
        ("task", "fetch_external_data"),
        ("task", "load_to_clickhouse"),
    ]
    assert {line["layer"] for line in lines} == {"workflow"}


def test_each_run_gets_its_own_id_unless_it_is_given_one(logs: Logs) -> None:
    @traced_workflow
    def data_refresh(workflow_run_id: str | None = None) -> None:
        return None

    data_refresh()
    data_refresh()
    data_refresh("abc123-def456")
    data_refresh(workflow_run_id="zzz999")
    run_ids = [line["workflow_run_id"] for line in logs.lines() if line["status"] == "completed"]
    assert len(set(run_ids[:2])) == 2
    assert run_ids[2:] == ["abc123-def456", "zzz999"]


def test_a_task_retries_and_says_so_with_retry_count(logs: Logs) -> None:
    attempts: list[int] = []

    @traced_task(retries=3)
    def fetch_external_data() -> str:
        attempts.append(len(attempts))
        log.info("calling api")
        if len(attempts) < 3:
            raise ConnectionError("External API unreachable: https://api.example.com/data")
        return "ok"

    assert fetch_external_data() == "ok"
    assert attempts == [0, 1, 2]
    assert timeline(logs) == [
        ("info", "task started", "started", 0),
        ("warning", "task retrying", "retrying", 1),
        ("warning", "task retrying", "retrying", 2),
        ("info", "task completed", "success", 2),
    ]
    retrying = logs.lines()[1]
    assert retrying["error_category"] == "connection_error"
    assert retrying["backoff_ms"] == 0
    calls = logs.lines(logger="app.tasks")
    assert [line["retry_count"] for line in calls] == [0, 1, 2]


async def test_an_async_task_that_keeps_failing_logs_the_final_failure(logs: Logs) -> None:
    @traced_task(retries=2, retry_backoff_ms=1)
    async def load_to_clickhouse(workflow_run_id: str) -> None:
        await asyncio.sleep(0)
        raise TimeoutError("insert timed out")

    with pytest.raises(TimeoutError):
        await load_to_clickhouse("abc123-def456")
    assert timeline(logs) == [
        ("info", "task started", "started", 0),
        ("warning", "task retrying", "retrying", 1),
        ("warning", "task retrying", "retrying", 2),
        ("error", "task failed", "failed", 2),
    ]
    failed = logs.lines()[-1]
    assert failed["error_category"] == "timeout_error"
    assert failed["workflow_run_id"] == "abc123-def456"


def test_a_failing_workflow_is_an_error_and_reraises(logs: Logs) -> None:
    @traced_task
    def fetch() -> None:
        raise PermissionError("403 from api.example.com")

    @traced_workflow
    def data_refresh() -> None:
        fetch()

    with pytest.raises(PermissionError):
        data_refresh()
    assert [(line["event"], line["level"]) for line in logs.lines()] == [
        ("workflow started", "info"),
        ("task started", "info"),
        ("task failed", "error"),
        ("workflow failed", "error"),
    ]
