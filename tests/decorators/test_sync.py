"""@traced_sync: one line per batch, with its size, speed and every record's trace id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from confluent_kafka import Message
from decorator_helpers import Logs

from moose_trace import trace_context
from moose_trace.decorators import traced_sync
from moose_trace.tracing.context import current_trace_id
from moose_trace.tracing.ids import new_trace_id


class TableSink:
    """A real dead-letter sink: a table of failed records, each with the trace it was sent in."""

    name = "UserEventDeadLetter"

    def __init__(self) -> None:
        self.rows: list[tuple[Any, str, str | None]] = []

    def send(self, record: object, error: BaseException) -> None:
        self.rows.append((record, type(error).__name__, current_trace_id()))


def test_a_batch_of_dict_records_logs_size_speed_and_trace_ids(logs: Logs) -> None:
    table: list[dict[str, Any]] = []

    @traced_sync(table="UserEvent", consumer_group="clickhouse_sync")
    def insert_batch(records: list[dict[str, Any]]) -> None:
        table.extend(records)

    a, b = new_trace_id(), new_trace_id()
    batch = [{"user_id": 1, "trace_id": a}, {"user_id": 2, "trace_id": b}, {"user_id": 3}]
    batch.append({"user_id": 4, "trace_id": a})
    insert_batch(batch)
    assert table == batch
    line = logs.one(event="batch synced")
    assert line["level"] == "info"
    assert (line["type"], line["name"], line["layer"]) == ("olap_table", "UserEvent", "sync")
    assert (line["table"], line["consumer_group"]) == ("UserEvent", "clickhouse_sync")
    assert line["operation"] == "batch_insert"
    assert (line["batch_size"], line["records"]) == (4, 4)
    assert line["throughput"] > 0
    assert line["trace_ids"] == [a, b]
    assert line["trace_id"] not in (a, b)
    assert "trace_ids_dropped" not in line


def test_an_int_result_is_the_number_of_records_written(logs: Logs) -> None:
    @traced_sync("UserEvent")
    def insert_valid(records: list[dict[str, Any]]) -> int:
        return sum(1 for record in records if "user_id" in record)

    insert_valid([{"user_id": 1}, {"junk": True}, {"user_id": 3}])
    line = logs.one(event="batch synced")
    assert (line["batch_size"], line["records"]) == (3, 2)
    assert "consumer_group" not in line


def test_kafka_messages_give_trace_ids_and_their_topic(logs: Logs) -> None:
    @traced_sync("UserEvent", "clickhouse_sync")
    def insert_batch(messages: list[Message]) -> None:
        return None

    ids = [new_trace_id() for _ in range(5)]
    insert_batch(
        [
            Message(topic="UserEvent", partition=0, offset=i, headers=[("trace_id", t.encode())])
            for i, t in enumerate(ids)
        ]
    )
    line = logs.one(event="batch synced")
    assert line["trace_ids"] == ids
    assert line["kafka_topic"] == "UserEvent"


def test_trace_ids_are_capped_and_the_rest_counted(logs: Logs) -> None:
    @traced_sync("UserEvent", max_trace_ids=3)
    def insert_batch(records: list[dict[str, str]]) -> None:
        return None

    ids = [new_trace_id() for _ in range(5)]
    insert_batch([{"trace_id": trace_id} for trace_id in ids * 2])
    line = logs.one(event="batch synced")
    assert line["trace_ids"] == ids[:3]
    assert line["trace_ids_dropped"] == 2
    assert line["batch_size"] == 10


def test_a_batch_inside_a_trace_takes_the_callers_trace_id(logs: Logs) -> None:
    @traced_sync("UserEvent")
    def insert_batch(records: list[dict[str, str]]) -> None:
        return None

    record_trace = new_trace_id()
    with trace_context() as caller:
        insert_batch([{"trace_id": record_trace}])
    line = logs.one(event="batch synced")
    assert line["trace_id"] == caller.trace_id
    assert line["trace_ids"] == [record_trace]


def test_a_generator_batch_is_left_for_the_function_to_read(logs: Logs) -> None:
    seen: list[int] = []

    @traced_sync("UserEvent")
    def insert_stream(records: Iterable[int]) -> None:
        seen.extend(records)

    insert_stream(n for n in range(4))
    assert seen == [0, 1, 2, 3]
    line = logs.one(event="batch synced")
    assert "batch_size" not in line
    assert "trace_ids" not in line


async def test_a_failed_batch_goes_to_the_dlq_record_by_record_in_each_trace(logs: Logs) -> None:
    sink = TableSink()

    @traced_sync("UserEvent", "clickhouse_sync", dlq=sink)
    async def insert_batch(records: list[dict[str, Any]]) -> None:
        raise ValueError("Field 'timestamp' expects DateTime but got String")

    a, b = new_trace_id(), new_trace_id()
    batch: list[dict[str, Any]] = [{"trace_id": a}, {"trace_id": b}, {"user_id": 3}]
    assert await insert_batch(batch) is None
    line = logs.one(event="batch sync failed")
    assert [(row[0], row[1]) for row in sink.rows] == [(record, "ValueError") for record in batch]
    assert [row[2] for row in sink.rows] == [a, b, line["trace_id"]]
    assert line["level"] == "error"
    assert line["error_category"] == "type_conversion_error"
    assert line["dlq"] == "UserEventDeadLetter"
    assert (line["batch_size"], line["trace_ids"]) == (3, [a, b])


def test_a_failed_batch_without_a_dlq_is_reraised(logs: Logs) -> None:
    @traced_sync("UserEvent")
    def insert_batch(records: list[dict[str, Any]]) -> None:
        raise ConnectionRefusedError("clickhouse:8123 refused")

    with pytest.raises(ConnectionRefusedError):
        insert_batch([{"user_id": 1}])
    line = logs.one(event="batch sync failed")
    assert line["error_category"] == "connection_error"
    assert line["batch_size"] == 1
