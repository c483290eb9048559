"""The Kafka helpers on kafka-python (Moose's client): consume, produce, dead-letter, for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka_helpers import JsonLogs, header, read_topic

from moose_trace.kafka import DeadLetterQueue, TracedProducer, extract_trace_id, traced_messages
from moose_trace.kafka.consumer import REJECTED_EVENT
from moose_trace.kafka.producer import DELIVERED_EVENT
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.context import current_fields, current_trace_id, trace_context
from moose_trace.tracing.ids import new_trace_id, parse_trace_id

log = structlog.get_logger("tests.kafka_python")
KAFKA_KEYS = {"kafka_topic", "kafka_partition", "kafka_offset", "consumer_group"}


@pytest.fixture
def kp_producer(kafka_broker: EmbeddedBroker) -> Iterator[KafkaProducer]:
    """A kafka-python producer on the session broker."""
    made = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, linger_ms=1)
    yield made
    made.close(timeout=10)


@pytest.fixture
def kp_consumer_of(kafka_broker: EmbeddedBroker) -> Iterator[Any]:
    """kafka-python consumers assigned to partition 0 (no group join: see DESIGN.md)."""
    made: list[KafkaConsumer] = []

    def make(topic: str, **config: Any) -> KafkaConsumer:
        consumer = KafkaConsumer(
            bootstrap_servers=kafka_broker.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **config,
        )
        consumer.assign([TopicPartition(topic, 0)])
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()


def send_raw(producer: KafkaProducer, topic: str, headers_list: list[Any]) -> None:
    for number, headers in enumerate(headers_list):
        producer.send(topic, value=str(number).encode(), headers=headers)
    producer.flush(timeout=10)


def test_traced_messages_handles_each_kafka_python_record_inside_its_trace(
    kafka_topic: str, kp_producer: KafkaProducer, kp_consumer_of: Any, json_logs: JsonLogs
) -> None:
    ids = [new_trace_id() for _ in range(3)]
    send_raw(kp_producer, kafka_topic, [[("trace_id", tid.encode())] for tid in ids])
    seen = []
    for record in traced_messages(kp_consumer_of(kafka_topic), consumer_group="g", max_messages=3):
        assert current_trace_id() == extract_trace_id(record)
        log.info("handled", value=record.value.decode())
        seen.append(record.offset)
    assert seen == [0, 1, 2]
    lines = json_logs.lines("handled")
    assert [line["trace_id"] for line in lines] == ids
    assert [line["kafka_offset"] for line in lines] == [0, 1, 2]
    assert {(line["kafka_topic"], line["consumer_group"]) for line in lines} == {(kafka_topic, "g")}
    assert current_fields() == {}


def test_kafka_python_records_with_bad_headers_get_a_new_id_and_a_warning(
    kafka_topic: str, kp_producer: KafkaProducer, kp_consumer_of: Any, json_logs: JsonLogs
) -> None:
    good = new_trace_id()
    send_raw(
        kp_producer,
        kafka_topic,
        [
            None,  # no headers at all
            [("trace_id", b"not-an-id"), ("trace_id", good.encode())],  # duplicate: first valid
            [("trace_id", b"\xff\xfe")],  # not UTF-8
            [("trace_id", b"1" * 5000)],  # oversized
        ],
    )
    handled = {
        record.offset: current_trace_id()
        for record in traced_messages(kp_consumer_of(kafka_topic), max_messages=4)
    }
    assert handled[1] == good
    for offset in (0, 2, 3):
        assert parse_trace_id(handled[offset]) == handled[offset]
        assert handled[offset] != good
    warnings = json_logs.lines(REJECTED_EVENT)
    assert [line["trace_id"] for line in warnings] == [handled[2], handled[3]]
    assert all(len(line["rejected_trace_id"]) < 200 for line in warnings)


def test_breaking_early_gives_the_rest_of_the_poll_back(
    kafka_topic: str, kp_producer: KafkaProducer, kp_consumer_of: Any
) -> None:
    send_raw(kp_producer, kafka_topic, [None] * 8)
    consumer = kp_consumer_of(kafka_topic)
    first = []
    for record in traced_messages(consumer):
        first.append(record.offset)
        if len(first) == 3:
            break
    assert KAFKA_KEYS.isdisjoint(current_fields())
    rest = [record.offset for record in traced_messages(consumer, max_messages=5)]
    assert first + rest == list(range(8))


def test_traced_producer_send_adds_the_trace_and_keeps_the_callers_headers(
    kafka_broker: EmbeddedBroker, kafka_topic: str, kp_producer: KafkaProducer, json_logs: JsonLogs
) -> None:
    traced = TracedProducer(kp_producer)
    tid = new_trace_id()
    with trace_context(tid):
        future = traced.send(
            kafka_topic,
            value=b"v",
            key=b"k",
            headers=[("content-type", b"application/json"), ("trace_id", b"stale"), ("n", None)],
        )
    metadata = future.get(timeout=10)
    (message,) = read_topic(kafka_broker, kafka_topic, 1)
    assert header(message, "trace_id") == [tid.encode()]
    assert header(message, "content-type") == [b"application/json"]
    assert header(message, "n") == []  # kafka-python cannot send a None value: left out
    (traceparent,) = header(message, "traceparent")
    assert traceparent is not None
    assert traceparent.startswith(f"00-{tid.replace('-', '')}-".encode())
    traced.flush()
    [line] = json_logs.lines(DELIVERED_EVENT)
    assert (line["trace_id"], line["kafka_offset"]) == (tid, metadata.offset)


def test_traced_producer_send_outside_a_trace_starts_one(
    kafka_broker: EmbeddedBroker, kafka_topic: str, kp_producer: KafkaProducer
) -> None:
    TracedProducer(kp_producer, log_deliveries=False).send(kafka_topic, b"v").get(timeout=10)
    (message,) = read_topic(kafka_broker, kafka_topic, 1)
    (value,) = header(message, "trace_id")
    assert value is not None
    assert parse_trace_id(value.decode()) == value.decode()


def test_dead_letter_of_a_kafka_python_record_keeps_its_trace_and_value(
    kafka_broker: EmbeddedBroker, kafka_topic: str, kp_producer: KafkaProducer, kp_consumer_of: Any
) -> None:
    dlq_topic = f"dlq-{new_trace_id()}"
    kafka_broker.create_topics([dlq_topic])
    tid = new_trace_id()
    kp_producer.send(kafka_topic, value=b'{"user_id": 7}', headers=[("trace_id", tid.encode())])
    kp_producer.flush(timeout=10)
    consumer = kp_consumer_of(kafka_topic, value_deserializer=json.loads)  # values arrive parsed
    dlq = DeadLetterQueue(kp_producer, dlq_topic)
    for record in traced_messages(consumer, max_messages=1):
        dlq.send(record, ValueError("user_id must be even"), source="to_session")
    assert dlq.flush(10) == 0
    (letter,) = read_topic(kafka_broker, dlq_topic, 1)
    assert extract_trace_id(letter) == tid
    assert json.loads(letter.value()) == {"user_id": 7}
    assert header(letter, "error_type") == [b"ValueError"]
    assert header(letter, "source") == [b"to_session"]
    assert header(letter, "kafka_topic") == [kafka_topic.encode()]
