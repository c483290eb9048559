"""The general form, @traced, and @traced_api: any primitive, any layer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from decorator_helpers import Logs

from moose_trace import trace_context
from moose_trace.decorators import traced, traced_api
from moose_trace.tracing.ids import new_trace_id


def test_traced_binds_the_primitive_and_your_fields(logs: Logs) -> None:
    @traced("olap_table", "UserEvent", layer="storage", operation="batch_insert", batch=True)
    def insert(rows: list[dict[str, Any]]) -> int:
        return len(rows)

    trace_id = new_trace_id()
    insert([{"trace_id": trace_id}, {"trace_id": trace_id}])
    line = logs.one(event="olap_table completed")
    assert (line["type"], line["name"], line["layer"]) == ("olap_table", "UserEvent", "storage")
    assert line["operation"] == "batch_insert"
    assert (line["records"], line["trace_ids"]) == (2, [trace_id])


def test_traced_can_log_the_start_and_leave_out_none_fields(logs: Logs) -> None:
    @traced("redis", "lock_acquire", "workflow", log_start=True, phase="execution", lock_id=None)
    def acquire() -> bool:
        return True

    acquire()
    started, done = logs.lines()
    assert (started["event"], started["status"]) == ("redis started", "started")
    assert (done["event"], done["status"]) == ("redis completed", "success")
    assert done["phase"] == "execution"
    assert "lock_id" not in done
    assert started["trace_id"] == done["trace_id"]


def test_traced_api_runs_in_the_requests_trace(logs: Logs) -> None:
    @traced_api(name="leaderboard")
    def leaderboard(limit: int = 10) -> list[int]:
        return list(range(limit))

    @traced_api(layer="edge")
    def health() -> str:
        return "ok"

    with trace_context() as request:
        assert leaderboard(3) == [0, 1, 2]
    health()
    board = logs.one(name="leaderboard")
    assert (board["event"], board["type"], board["layer"]) == ("api completed", "api", "webserver")
    assert board["trace_id"] == request.trace_id
    assert logs.one(name="health")["layer"] == "edge"


async def test_a_cancelled_call_is_a_warning_not_an_error(logs: Logs) -> None:
    started = asyncio.Event()

    @traced_api
    async def slow_query() -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.ensure_future(slow_query())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    line = logs.one(name="slow_query")
    assert (line["level"], line["status"], line["event"]) == ("warning", "cancelled", "api failed")
    assert line["error_category"] == "cancelled_error"


def test_a_traced_function_without_arguments_still_gets_a_trace(logs: Logs) -> None:
    @traced("job", "nightly")
    def nightly() -> None:
        return None

    nightly()
    assert logs.one(name="nightly")["trace_id"]
