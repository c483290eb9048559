"""The whole path on a real Kafka broker: ingest → Foo → transform → Bar → sync into a table.

Ingest requests produce records to ``Foo`` with ``TracedProducer``; a consumer loop
(``traced_messages``) hands each to ``@traced_transform``, which produces its output to ``Bar``
through ``TracedProducer`` — or, for a bad record, sends it to the dead-letter topic; a second
consumer hands the ``Bar`` batch to ``@traced_sync``, which inserts it into a DuckDB table. The
trace id each ingest request got must be the one in the Kafka headers and in every log line
along the way.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
import structlog
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from moose_trace import trace_context
from moose_trace.decorators import traced_sync, traced_transform
from moose_trace.kafka import DeadLetterQueue, TracedProducer, traced_messages
from moose_trace.logging.config import LoggingSetup, configure_logging, shutdown_logging
from moose_trace.testing.broker import EmbeddedBroker


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoggingSetup]:
    """The production logging chain, writing the daily JSON Lines file in a temporary dir."""
    for name in [name for name in os.environ if name.startswith("LOG_LEVEL")]:
        monkeypatch.delenv(name)
    yield configure_logging("pipeline", stream=io.StringIO(), json=True, log_dir=tmp_path)
    shutdown_logging()
    structlog.contextvars.clear_contextvars()


def read_lines(setup: LoggingSetup) -> list[dict[str, Any]]:
    path = setup.log_file()
    assert path is not None
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def assigned(broker: EmbeddedBroker, topic: str) -> Consumer:
    """A consumer reading partition 0 of ``topic`` from the start (no group join)."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "clickhouse_sync",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    return consumer


def read(broker: EmbeddedBroker, topic: str, count: int) -> list[Message]:
    consumer = assigned(broker, topic)
    messages: list[Message] = []
    deadline = time.monotonic() + 60  # a deadline only: generous for a loaded machine
    try:
        while len(messages) < count:
            assert time.monotonic() < deadline, f"{len(messages)} of {count} from {topic}"
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                messages.append(message)
    finally:
        consumer.close()
    return messages


def header(message: Message, name: str) -> str:
    values = [value for key, value in message.headers() or [] if key == name]
    assert len(values) == 1, (name, message.headers())
    assert values[0] is not None
    return values[0].decode()


def test_one_trace_id_from_ingest_to_table_and_to_the_dead_letter_topic(
    kafka_broker: EmbeddedBroker, kafka_topic: str, log_file: LoggingSetup
) -> None:
    foo, bar, dead = kafka_topic, f"{kafka_topic}-bar", f"{kafka_topic}-dlq"
    kafka_broker.create_topics([bar, dead])
    producer = TracedProducer(
        Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 1})
    )

    # Ingest: three requests, each in its own trace; the second record is bad.
    ingest_ids: list[str] = []
    for record in ({"id": "abc123", "value": 42}, {"id": "def456", "value": None}, {"id": "x9"}):
        with trace_context(type="ingest", name=foo, layer="webserver") as request:
            producer.produce(foo, value=orjson.dumps({**record, "value": record.get("value", 1)}))
            ingest_ids.append(request.trace_id)
    assert producer.flush(10) == 0
    good_ids = [ingest_ids[0], ingest_ids[2]]

    # Transform: Foo → Bar, failures to the dead-letter topic.
    dlq = DeadLetterQueue(producer, dead)

    @traced_transform(source=foo, target=bar, dlq=dlq)
    def foo_to_bar(message: Message) -> dict[str, Any]:
        record = orjson.loads(message.value() or b"{}")
        output = {"id": record["id"], "computed": record["value"] * 2}
        producer.produce(bar, value=orjson.dumps(output))
        return output

    source = assigned(kafka_broker, foo)
    deadline = time.monotonic() + 60  # a deadline only: generous for a loaded machine
    try:
        for message in traced_messages(
            source,
            timeout=0.2,
            consumer_group="transforms",
            max_messages=3,
            stop=lambda: time.monotonic() > deadline,
        ):
            foo_to_bar(message)
    finally:
        source.close()
    assert producer.flush(10) == 0

    # Sync: the Bar batch into a table.
    table = duckdb.connect()
    table.execute("CREATE TABLE bar (id VARCHAR, computed INTEGER)")

    @traced_sync(table="bar", consumer_group="clickhouse_sync")
    def insert_batch(messages: list[Message]) -> int:
        rows = [orjson.loads(message.value() or b"{}") for message in messages]
        table.executemany("INSERT INTO bar VALUES (?, ?)", [[r["id"], r["computed"]] for r in rows])
        return len(rows)

    outputs = read(kafka_broker, bar, 2)
    assert insert_batch(outputs) == 2
    assert table.execute("SELECT id, computed FROM bar ORDER BY id").fetchall() == [
        ("abc123", 84),
        ("x9", 2),
    ]

    # The Kafka headers carry each ingest request's trace id, outputs and dead letters alike.
    assert [header(message, "trace_id") for message in outputs] == good_ids
    assert all(
        header(message, "traceparent").split("-")[1] == trace_id.replace("-", "")
        for message, trace_id in zip(outputs, good_ids, strict=True)
    )
    [dead_letter] = read(kafka_broker, dead, 1)
    assert header(dead_letter, "trace_id") == ingest_ids[1]
    assert header(dead_letter, "error_type") == "TypeError"
    assert header(dead_letter, "error_category") == "code_error"
    assert orjson.loads(dead_letter.value() or b"")["id"] == "def456"

    # The log lines agree with the headers, step by step.
    lines = read_lines(log_file)
    transformed = [line for line in lines if line["event"] == "record transformed"]
    assert [line["trace_id"] for line in transformed] == good_ids
    assert [line["kafka_offset"] for line in transformed] == [0, 2]
    assert {(line["kafka_topic"], line["source"], line["target"]) for line in transformed} == {
        (foo, foo, bar)
    }
    assert {line["consumer_group"] for line in transformed} == {"transforms"}
    [failed] = [line for line in lines if line["event"] == "transform failed"]
    assert (failed["trace_id"], failed["dlq"], failed["kafka_offset"]) == (ingest_ids[1], dead, 1)
    assert failed["error_type"] == "TypeError"
    [synced] = [line for line in lines if line["event"] == "batch synced"]
    assert synced["trace_ids"] == good_ids
    assert (synced["records"], synced["table"], synced["kafka_topic"]) == (2, "bar", bar)
    assert synced["trace_id"] not in ingest_ids


def test_a_transform_fed_by_a_plain_poll_loop_continues_each_records_trace(
    kafka_broker: EmbeddedBroker, kafka_topic: str, log_file: LoggingSetup
) -> None:
    foo, bar = kafka_topic, f"{kafka_topic}-bar"
    kafka_broker.create_topics([bar])
    producer = TracedProducer(
        Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 1})
    )
    ingest_ids = []
    for n in range(3):
        with trace_context() as request:
            producer.produce(foo, value=orjson.dumps({"n": n}))
            ingest_ids.append(request.trace_id)
    assert producer.flush(10) == 0

    @traced_transform(source=foo, target=bar)
    def double(message: Message) -> None:
        record = orjson.loads(message.value() or b"{}")
        producer.produce(bar, value=orjson.dumps({"n": record["n"] * 2}))

    for message in read(kafka_broker, foo, 3):  # no message_context: the decorator reads headers
        double(message)
    assert producer.flush(10) == 0

    assert [header(message, "trace_id") for message in read(kafka_broker, bar, 3)] == ingest_ids
    lines = [line for line in read_lines(log_file) if line["event"] == "record transformed"]
    assert [(line["trace_id"], line["kafka_offset"]) for line in lines] == [
        (trace_id, offset) for offset, trace_id in enumerate(ingest_ids)
    ]
