"""The --trace lookup on the real ClickHouse engine: side table → time buckets → bloom filter."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

from moose_trace.query.ast import Histogram, ListEvents, Match, Query, Value
from moose_trace.query.clickhouse_engine import ClickHouseEngine, literal, trace_events, trace_sql
from moose_trace.query.results import EventsResult, HistogramResult
from moose_trace.store.clickhouse.schema import ddl
from moose_trace.store.clickhouse.transport import ChdbTransport

TRACE = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
OTHER = "0193f0c2-7b1e-7c3a-9d2f-ffffffffffff"


def _stamp(minutes: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(hours=2) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


def _load(transport: ChdbTransport) -> None:
    for statement in ddl():
        transport.execute(statement)
    events = [
        {
            "timestamp": _stamp(0),
            "level": "info",
            "event": "HTTP POST /ingest/UserEvent",
            "trace_id": TRACE,
        },
        {"timestamp": _stamp(0.1), "level": "info", "event": "other request", "trace_id": OTHER},
        {"timestamp": _stamp(0.2), "level": "debug", "event": "Kafka produce", "trace_id": TRACE},
        {
            "timestamp": _stamp(9),
            "level": "info",
            "event": "Inserting batch",
            "trace_ids": [OTHER, TRACE],
        },
        {"timestamp": _stamp(9.1), "level": "error", "event": "insert failed", "trace_id": TRACE},
        {"timestamp": _stamp(30), "level": "info", "event": "unrelated", "trace_id": OTHER},
    ]
    data = b"\n".join(orjson.dumps(event) for event in events)
    transport.insert("moose_logs", data, fmt="JSONAsString", columns=("raw",))


def test_trace_finds_its_events_and_batch_lines_in_time_order(transport: ChdbTransport) -> None:
    _load(transport)
    found = [event["event"] for event in trace_events(transport, TRACE)]
    assert found == [
        "HTTP POST /ingest/UserEvent",
        "Kafka produce",
        "Inserting batch",
        "insert failed",
    ]


def test_trace_ids_are_normalized_like_everywhere_else(transport: ChdbTransport) -> None:
    _load(transport)
    expected = trace_events(transport, TRACE)
    assert trace_events(transport, TRACE.upper()) == expected
    assert trace_events(transport, TRACE.replace("-", "")) == expected


def test_ids_written_in_other_spellings_are_found_by_the_canonical_id(
    transport: ChdbTransport,
) -> None:
    _load(transport)
    other_writer = [
        {
            "timestamp": _stamp(9.5),
            "level": "INFO",
            "event": "rust side",
            "trace_id": TRACE.upper(),
        },
        {
            "timestamp": _stamp(9.6),
            "level": "info",
            "event": "w3c form",
            "trace_id": TRACE.replace("-", ""),
        },
        {"timestamp": _stamp(9.7), "level": "info", "event": "batch", "trace_ids": [TRACE.upper()]},
    ]
    data = b"\n".join(orjson.dumps(event) for event in other_writer)
    transport.insert("moose_logs", data, fmt="JSONAsString", columns=("raw",))
    found = [event["event"] for event in trace_events(transport, TRACE)]
    assert found[-3:] == ["rust side", "w3c form", "batch"]


def test_an_unknown_trace_finds_nothing(transport: ChdbTransport) -> None:
    _load(transport)
    assert trace_events(transport, "0193f0c2-0000-7000-8000-000000000000") == []


def test_the_trace_query_reads_only_its_time_buckets(transport: ChdbTransport) -> None:
    _load(transport)
    sql = trace_sql(TRACE)
    assert "toStartOfFiveMinutes(_log.timestamp) >= toStartOfFiveMinutes((SELECT min(" in sql
    plan = "\n".join(row["explain"] for row in transport.query(f"EXPLAIN indexes = 1 {sql}"))
    assert "PrimaryKey" in plan
    assert "trace_id_bloom" in plan


def test_literal_escapes_quotes_and_backslashes(transport: ChdbTransport) -> None:
    tricky = "it's a \\ trap'; DROP TABLE x; --"
    assert transport.query(f"SELECT {literal(tricky)} AS v") == [{"v": tricky}]


def test_sql_text_in_a_value_stays_a_value(transport: ChdbTransport) -> None:
    _load(transport)
    path = "HTTP POST // twice"  # " // " once was rewritten as ClickHouse's DIV everywhere
    transport.insert(
        "moose_logs",
        orjson.dumps({"timestamp": _stamp(1), "level": "info", "event": path}),
        fmt="JSONAsString",
        columns=("raw",),
    )
    engine = ClickHouseEngine(transport)
    where = Match("event", (Value(path, "text"),))
    listed = engine.run(Query(where, ListEvents()))
    assert isinstance(listed, EventsResult)
    assert [event["event"] for event in listed.events] == [path]
    counted = engine.run(Query(where, Histogram(timedelta(minutes=5))))
    assert isinstance(counted, HistogramResult)
    assert sum(bucket.count for bucket in counted.buckets) == 1
