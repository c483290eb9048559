"""Both transports run the same SQL: chDB in process, and HTTP through clickhouse-connect."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_server import ClickHouseHttpServer

from moose_trace.store.clickhouse.schema import ddl
from moose_trace.store.clickhouse.transport import (
    ChdbTransport,
    ClickHouseError,
    HttpTransport,
    Transport,
    connect,
)

PASSWORD = "hunter2-Sup3rSecret"
EVENTS = (
    b'{"level":"info","event":"x","trace_id":"t1"}\n{"level":"error","event":"y","trace_id":"t2"}'
)


@pytest.fixture
def http_server(transport: ChdbTransport) -> Iterator[ClickHouseHttpServer]:
    """A ClickHouse HTTP endpoint answered by the test's chDB directory."""
    with ClickHouseHttpServer(transport._session, "bob", PASSWORD) as server:
        yield server


@pytest.fixture
def http(http_server: ClickHouseHttpServer) -> Iterator[HttpTransport]:
    opened = HttpTransport(f"clickhouse://bob:{PASSWORD}@127.0.0.1:{http_server.port}/default")
    yield opened
    opened.close()


def _roundtrip(transport: Transport) -> list[dict[str, object]]:
    for statement in ddl():
        transport.execute(statement)
    for _ in range(2):  # a retried block with the same token is stored once
        transport.insert(
            "moose_logs", EVENTS, fmt="JSONAsString", columns=("raw",), dedup_token="batch-1"
        )
    return transport.query(
        "SELECT level, event, trace_id, toUInt64(1) AS one FROM moose_logs ORDER BY event"
    )


def test_chdb_transport_runs_ddl_inserts_once_per_token_and_queries(
    transport: ChdbTransport,
) -> None:
    assert _roundtrip(transport) == [
        {"level": "info", "event": "x", "trace_id": "t1", "one": 1},
        {"level": "error", "event": "y", "trace_id": "t2", "one": 1},
    ]


def test_http_transport_gives_the_same_answers_as_chdb(http: HttpTransport) -> None:
    assert _roundtrip(http) == [
        {"level": "info", "event": "x", "trace_id": "t1", "one": 1},
        {"level": "error", "event": "y", "trace_id": "t2", "one": 1},
    ]


def test_http_transport_sends_the_credentials_and_the_dedup_token(
    http: HttpTransport, http_server: ClickHouseHttpServer
) -> None:
    _roundtrip(http)
    params, headers = http_server.requests[-2]  # the second insert
    assert params["insert_deduplication_token"] == "batch-1"
    assert headers["authorization"].startswith("Basic ")
    assert PASSWORD not in str(params)


def test_transports_on_the_same_chdb_directory_share_one_session(
    transport: ChdbTransport, chdb_url: str
) -> None:
    second = connect(chdb_url)
    second.execute("CREATE TABLE shared (a UInt8) ENGINE = Memory")
    second.close()
    transport.execute("INSERT INTO shared VALUES (1)")
    assert transport.query("SELECT a FROM shared") == [{"a": 1}]


def test_a_second_chdb_directory_in_the_same_process_is_a_clear_error(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    with pytest.raises(ClickHouseError, match="one data directory per process"):
        ChdbTransport(f"chdb://{tmp_path / 'other'}")


def test_sql_errors_are_clickhouse_errors_and_bad_data_is_permanent(
    transport: ChdbTransport,
) -> None:
    with pytest.raises(ClickHouseError, match="UNKNOWN_TABLE") as unknown:
        transport.query("SELECT * FROM nowhere")
    assert not unknown.value.permanent
    for statement in ddl():
        transport.execute(statement)
    with pytest.raises(ClickHouseError) as bad:
        transport.insert(
            "moose_logs", b'{"level": "info"}\n{broken', fmt="JSONAsString", columns=("raw",)
        )
    assert bad.value.permanent
    assert transport.query("SELECT count() AS n FROM moose_logs") == [{"n": 0}]


def test_secrets_never_reach_errors_or_logs(
    http_server: ClickHouseHttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = HttpTransport(f"clickhouse://bob:{PASSWORD}-wrong@127.0.0.1:{http_server.port}/default")
    refused = HttpTransport(f"clickhouse://bob:{PASSWORD}@127.0.0.1:1/default", connect_timeout=1)
    messages = []
    for failing in (wrong, refused):
        with pytest.raises(ClickHouseError) as raised:
            failing.query("SELECT 1")
        messages += [str(raised.value), repr(raised.value), repr(failing), str(failing.url)]
        failing.close()
    assert "Authentication failed" in messages[0]
    assert "bob:***@127.0.0.1:1" in messages[4]
    logged = "\n".join(record.getMessage() + str(record.exc_text) for record in caplog.records)
    for text in [*messages, logged, caplog.text]:
        assert PASSWORD not in text
