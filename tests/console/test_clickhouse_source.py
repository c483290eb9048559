"""``moose-trace serve chdb:///…``: the same API and live tail answered from a ClickHouse table.

chDB runs the ClickHouse SQL for real, in process (one data directory per process: the test
writes new events through the console's own connection, as the SDK's sink would from outside).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from console_server import ConsoleServer
from websockets.sync.client import connect

from moose_trace.console.source import open_source
from moose_trace.query.clickhouse_engine import ClickHouseEngine
from moose_trace.store.clickhouse.schema import ddl
from moose_trace.store.clickhouse.transport import connect as connect_store

TRACE = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"


def _stamp(minutes: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(minutes=30) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


def _insert(engine: ClickHouseEngine, events: list[dict[str, Any]]) -> None:
    data = b"\n".join(orjson.dumps(event) for event in events)
    engine.transport.insert("moose_logs", data, fmt="JSONAsString", columns=("raw",))


@pytest.fixture
def store(
    tmp_path: Path, start_console: Callable[..., ConsoleServer]
) -> tuple[ConsoleServer, ClickHouseEngine]:
    url = f"chdb://{tmp_path / 'chdb'}"
    transport = connect_store(url)
    for statement in ddl():
        transport.execute(statement)
    transport.close()
    source = open_source([url])
    assert isinstance(source.store, ClickHouseEngine)
    _insert(
        source.store,
        [
            {"timestamp": _stamp(0), "level": "info", "event": "request", "trace_id": TRACE,
             "type": "api", "name": "ingest", "latency_ms": 10, "span_id": "a1"},
            {"timestamp": _stamp(1), "level": "error", "event": "insert failed",
             "trace_id": TRACE, "type": "olap_table", "name": "UserEvent", "layer": "sync",
             "error_category": "type_conversion_error", "error_signature": "v1_conv",
             "latency_ms": 30, "span_id": "b2", "parent_span_id": "a1"},
            {"timestamp": _stamp(2), "level": "info", "event": "request", "type": "api",
             "name": "ingest", "latency_ms": 20},
        ],
    )  # fmt: skip
    return start_console(source), source.store


def test_api_answers_from_the_table(store: tuple[ConsoleServer, ClickHouseEngine]) -> None:
    server, _engine = store
    events = httpx.get(server.url + "/api/events", params={"limit": 2}, timeout=60).json()
    assert [event["event"] for event in events["events"]] == ["insert failed", "request"]
    assert events["next_cursor"] is not None
    [group] = httpx.get(server.url + "/api/errors", timeout=60).json()["groups"]
    assert (group["signature"], group["trace_id"]) == ("v1_conv", TRACE)
    stats = httpx.get(server.url + "/api/stats", params={"by": "type"}, timeout=60).json()
    api = next(item for item in stats["groups"] if item["key"] == {"type": "api"})
    assert (api["count"], api["avg_latency_ms"], api["p50_latency_ms"]) == (2, 15, 15)
    assert stats["count"] == 3
    assert stats["errors"] == [{"category": "type_conversion_error", "count": 1}]
    trace = httpx.get(server.url + f"/api/traces/{TRACE}", timeout=60).json()
    assert trace["span_count"] == 2
    assert trace["spans"][0]["children"][0]["status"] == "error"
    histogram = httpx.get(server.url + "/api/histogram", timeout=60).json()
    assert sum(sum(bucket["counts"].values()) for bucket in histogram["buckets"]) == 3


def test_live_tail_polls_the_table(store: tuple[ConsoleServer, ClickHouseEngine]) -> None:
    server, engine = store
    with connect(server.ws_url + "/api/stream?level=error", open_timeout=30) as socket:
        socket.ping().wait(10)
        time.sleep(0.6)  # the poller has its starting point
        _insert(
            engine,
            [
                {"timestamp": _stamp(20), "level": "info", "event": "not an error"},
                {"timestamp": _stamp(21), "level": "error", "event": "new failure"},
            ],
        )
        message = orjson.loads(socket.recv(timeout=10))
    assert message["event"] == "new failure"
