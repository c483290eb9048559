"""DeadLetterQueue: a failed record lands in the dead-letter topic with its context and error."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from kafka_helpers import JsonLogs, header, make_consumer, read_topic

from moose_trace.kafka import (
    DeadLetterQueue,
    TracedProducer,
    extract_trace_id,
    message_context,
    traced_messages,
)
from moose_trace.kafka.dlq import DLQ_EVENT, MAX_ERROR_MESSAGE
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import new_trace_id, parse_trace_id

Record = namedtuple("Record", "topic partition offset key value headers")


@pytest.fixture
def dlq_topic(kafka_broker: EmbeddedBroker) -> str:
    name = f"dlq-{new_trace_id()}"
    kafka_broker.create_topics([name])
    return name


def dead_letters(broker: EmbeddedBroker, topic: str, count: int) -> list[Any]:
    return read_topic(broker, topic, count)


def test_failed_message_keeps_value_key_headers_trace_and_gets_error_headers(
    kafka_broker: EmbeddedBroker,
    kafka_topic: str,
    dlq_topic: str,
    producer: Producer,
    json_logs: JsonLogs,
) -> None:
    tid = new_trace_id()
    with trace_context(tid):
        TracedProducer(producer).produce(
            kafka_topic, value=b'{"age": "x"}', key=b"user-7", headers=[("schema", b"v2")]
        )
    producer.flush(10)
    dlq = DeadLetterQueue(TracedProducer(producer), dlq_topic)
    consumer = make_consumer(kafka_broker, kafka_topic)
    try:
        for message in traced_messages(consumer, max_messages=1):
            try:
                int(orjson.loads(message.value())["age"])
            except ValueError as exc:
                dlq.send(message, exc, source="user_to_profile")
    finally:
        consumer.close()
    assert dlq.flush(10) == 0
    (dead,) = dead_letters(kafka_broker, dlq_topic, 1)
    assert (dead.value(), dead.key()) == (b'{"age": "x"}', b"user-7")
    assert extract_trace_id(dead) == tid
    assert header(dead, "trace_id") == [tid.encode()]  # the original's, not duplicated
    assert len(header(dead, "traceparent")) == 1
    assert header(dead, "schema") == [b"v2"]
    assert header(dead, "kafka_topic") == [kafka_topic.encode()]
    assert header(dead, "kafka_partition") == [b"0"]
    assert header(dead, "kafka_offset") == [b"0"]
    assert header(dead, "source") == [b"user_to_profile"]
    assert header(dead, "error_category") == [b"type_conversion_error"]
    assert header(dead, "error_type") == [b"ValueError"]
    assert header(dead, "error_message") == [b"invalid literal for int() with base 10: 'x'"]
    [line] = json_logs.lines(DLQ_EVENT)
    assert line["level"] == "error"
    assert line["dlq"] == dlq_topic
    assert line["trace_id"] == tid
    assert line["source"] == "user_to_profile"
    assert (line["kafka_topic"], line["kafka_offset"]) == (kafka_topic, 0)
    assert line["error_type"] == "ValueError"
    assert "payload" not in line
    assert '{"age"' not in json_logs.stream.getvalue()  # the record itself is never logged


def test_plain_records_become_bytes_and_carry_the_current_trace(
    kafka_broker: EmbeddedBroker, dlq_topic: str, producer: Producer
) -> None:
    dlq = DeadLetterQueue(producer, dlq_topic)
    tid = new_trace_id()
    error = RuntimeError("boom")
    with trace_context(tid):
        dlq.send({"user_id": 1, "tags": {"a"}}, error)
        dlq.send("text record", error)
        dlq.send(b"\xff raw", error)
        dlq.send(None, error)
    dlq.send(object(), error)  # outside any trace: a new one is started for it
    dlq.flush(10)
    dead = dead_letters(kafka_broker, dlq_topic, 5)
    assert orjson.loads(dead[0].value()) == {"user_id": 1, "tags": "{'a'}"}
    assert [d.value() for d in dead[1:4]] == [b"text record", b"\xff raw", None]
    assert dead[4].value().startswith(b'"<object object at')  # JSON of its text
    assert [extract_trace_id(d) for d in dead[:4]] == [tid] * 4
    other = extract_trace_id(dead[4])
    assert other is not None
    assert other != tid
    assert parse_trace_id(other) == other
    assert header(dead[0], "kafka_topic") == []  # no origin for a plain record


def test_error_message_is_redacted_escaped_and_cut(
    kafka_broker: EmbeddedBroker, dlq_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    dlq = DeadLetterQueue(producer, dlq_topic)
    secret = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    with trace_context():
        dlq.send({"id": 1}, PermissionError(f"denied for {secret}\r\nline two " + "y" * 5000))
    dlq.flush(10)
    (dead,) = dead_letters(kafka_broker, dlq_topic, 1)
    (message,) = header(dead, "error_message")
    assert message is not None
    text = message.decode()
    assert "eyJ" not in text
    assert "\r" not in text
    assert "\n" not in text
    assert "\\r\\nline two" in text
    assert len(text) == MAX_ERROR_MESSAGE
    assert header(dead, "error_category") == [b"authorization_error"]
    assert "eyJ" not in json_logs.stream.getvalue()


def test_invalid_trace_header_is_replaced_by_the_current_context(
    kafka_broker: EmbeddedBroker, dlq_topic: str, producer: Producer
) -> None:
    record = Record("in", 3, 9, b"k", b"v", [("trace_id", b"junk"), ("user", b"1")])
    dlq = DeadLetterQueue(producer, dlq_topic)
    with message_context(record) as context:
        dlq.send(record, ValueError("bad"))
    dlq.flush(10)
    (dead,) = dead_letters(kafka_broker, dlq_topic, 1)
    assert header(dead, "trace_id") == [context.trace_id.encode()]
    assert header(dead, "user") == [b"1"]
    assert (header(dead, "kafka_topic"), header(dead, "kafka_partition")) == ([b"in"], [b"3"])
    assert (dead.key(), dead.value()) == (b"k", b"v")


class Unreadable:
    """A message-like object whose every accessor fails."""

    def topic(self) -> str:
        raise RuntimeError("gone")

    def value(self) -> bytes:
        raise RuntimeError("gone")

    def headers(self) -> Any:
        raise RuntimeError("gone")

    def __str__(self) -> str:
        return "unreadable record"


def test_a_broken_record_never_raises_and_its_failure_is_kept(
    kafka_broker: EmbeddedBroker, dlq_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    dlq = DeadLetterQueue(producer, dlq_topic)
    dlq.send(Unreadable(), KeyError("user_id"))
    dlq.flush(10)
    (dead,) = dead_letters(kafka_broker, dlq_topic, 1)
    assert dead.value() == b"unreadable record"
    assert header(dead, "error_type") == [b"KeyError"]
    assert header(dead, "error_category") == [b"code_error"]
    assert len(json_logs.lines(DLQ_EVENT)) == 1
