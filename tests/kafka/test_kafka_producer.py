"""TracedProducer: every record carries the trace; deliveries are logged with the record's id."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer
from kafka_helpers import JsonLogs, header, read_topic

from moose_trace.kafka import TracedProducer, extract_trace_id
from moose_trace.kafka.producer import DELIVERED_EVENT, DELIVERY_FAILED_EVENT
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.context import current_trace_id, trace_context
from moose_trace.tracing.ids import new_trace_id, parse_trace_id


def test_record_carries_the_producing_trace_and_the_callers_headers(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    traced = TracedProducer(producer)
    reports: list[tuple[Any, Any]] = []
    tid = new_trace_id()
    with trace_context(tid):
        traced.produce(
            kafka_topic,
            value=b'{"user_id": 1}',
            key=b"k",
            headers={"content-type": "application/json", "trace_id": "stale"},
            on_delivery=lambda error, message: reports.append((error, message)),
        )
    assert traced.flush(10) == 0  # the delivery report runs here, outside the context
    (message,) = read_topic(kafka_broker, kafka_topic, 1)
    assert extract_trace_id(message) == tid
    assert header(message, "trace_id") == [tid.encode()]
    assert header(message, "content-type") == [b"application/json"]
    (traceparent,) = header(message, "traceparent")
    assert traceparent is not None
    assert traceparent.startswith(f"00-{tid.replace('-', '')}-".encode())
    assert (message.key(), message.value()) == (b"k", b'{"user_id": 1}')
    # The caller's own callback still runs, after the delivery is logged.
    [(error, delivered)] = reports
    assert error is None
    assert delivered.offset() == message.offset()
    [line] = json_logs.lines(DELIVERED_EVENT)
    assert line["level"] == "debug"
    assert line["trace_id"] == tid
    assert (line["kafka_topic"], line["kafka_partition"], line["kafka_offset"]) == (
        kafka_topic,
        0,
        message.offset(),
    )


def test_each_record_gets_the_trace_of_its_own_context(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    traced = TracedProducer(producer)
    ids = [new_trace_id() for _ in range(3)]
    for tid in ids:
        with trace_context(tid):
            traced.produce(kafka_topic, value=tid.encode(), callback=lambda e, m: None)
    traced.flush(10)
    messages = read_topic(kafka_broker, kafka_topic, 3)
    assert [extract_trace_id(m) for m in messages] == ids
    logged = {line["kafka_offset"]: line["trace_id"] for line in json_logs.lines(DELIVERED_EVENT)}
    assert [logged[m.offset()] for m in messages] == ids


def test_outside_any_trace_a_record_starts_its_own(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    traced = TracedProducer(producer)
    traced.produce(kafka_topic, b"a")
    traced.produce(kafka_topic, b"b", headers=[("user", b"1")])
    traced.flush(10)
    assert current_trace_id() is None
    first, second = read_topic(kafka_broker, kafka_topic, 2)
    ids = [extract_trace_id(first), extract_trace_id(second)]
    assert all(tid is not None and parse_trace_id(tid) == tid for tid in ids)
    assert ids[0] != ids[1]
    assert header(second, "user") == [b"1"]
    assert sorted(line["trace_id"] for line in json_logs.lines(DELIVERED_EVENT)) == sorted(ids)


def test_delivery_logging_can_be_turned_off(
    kafka_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    traced = TracedProducer(producer, log_deliveries=False)
    with trace_context():
        traced.produce(kafka_topic, b"quiet")
    assert len(traced) == 1  # everything else is the wrapped producer's
    traced.flush(10)
    assert len(traced) == 0
    assert json_logs.lines(DELIVERED_EVENT) == []


def test_failed_delivery_is_logged_at_error_with_its_category_and_trace(
    json_logs: JsonLogs,
) -> None:
    # Nothing listens on port 9: the record times out in the client and is reported failed.
    dead = Producer({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 200, "log_level": 0})
    traced = TracedProducer(dead, log_deliveries=False)
    reports: list[Any] = []
    tid = new_trace_id()
    with trace_context(tid):
        traced.produce(
            "nowhere", b"lost?", on_delivery=lambda error, message: reports.append(error)
        )
    traced.flush(5)
    [error] = reports
    assert error is not None
    [line] = json_logs.lines(DELIVERY_FAILED_EVENT)
    assert line["level"] == "error"
    assert line["trace_id"] == tid
    assert line["kafka_topic"] == "nowhere"
    assert line["error_category"] == "timeout_error"
    assert line["error_type"] == "_MSG_TIMED_OUT"
