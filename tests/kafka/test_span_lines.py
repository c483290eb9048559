"""Every traced unit writes what the trace tree needs: span id, parent span id, duration.

A record goes request → produce → consume (``message_context`` and ``traced_messages``) →
decorated transform; the lines these writers leave nest into one tree by themselves.
"""

from __future__ import annotations

from typing import Any

import structlog
from confluent_kafka import Producer
from kafka_helpers import JsonLogs, make_consumer, read_topic

from moose_trace.decorators import traced_transform
from moose_trace.kafka import DeadLetterQueue, TracedProducer, message_context, traced_messages
from moose_trace.kafka.dlq import DLQ_DELIVERED_EVENT
from moose_trace.kafka.producer import DELIVERED_EVENT
from moose_trace.query.trace_tree import build_trace_tree
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import new_trace_id


def test_produce_and_consume_lines_nest_into_one_tree(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    traced = TracedProducer(producer)
    tid = new_trace_id()
    with trace_context(tid, type="ingest", name="UserEvent", layer="webserver") as request:
        traced.produce(kafka_topic, value=b'{"user_id": 1}')
        traced.flush(10)
        structlog.get_logger().info("request handled", latency_ms=5.0)
    [delivered] = json_logs.lines(DELIVERED_EVENT)
    assert delivered["parent_span_id"] == request.span_id
    assert delivered["span_id"] != request.span_id
    assert isinstance(delivered["latency_ms"], float)

    @traced_transform("to_session", source=kafka_topic, target="Session")
    def to_session(message: Any) -> int:
        return 1

    (message,) = read_topic(kafka_broker, kafka_topic, 1)
    with message_context(message) as consumed:
        to_session(message)
    # The consume context and the transform both name the producing code's span as parent:
    # the record's traceparent. (The tree puts them under the produce by the record's offset.)
    assert consumed.parent_span_id == request.span_id
    [transformed] = json_logs.lines("record transformed")
    assert transformed["parent_span_id"] == request.span_id
    assert transformed["span_id"] != consumed.span_id

    consumer = make_consumer(kafka_broker, kafka_topic)
    try:
        for polled in traced_messages(consumer, max_messages=1, timeout=0.5):
            to_session(polled)
    finally:
        consumer.close()
    second = json_logs.lines("record transformed")[1]
    assert second["parent_span_id"] == request.span_id  # no enclosing context: the record's

    tree = build_trace_tree(tid, json_logs.lines())
    names = [(span.depth, span.name) for span in tree.spans()]
    assert names[:2] == [(0, "ingest UserEvent"), (1, f"kafka produce {kafka_topic}")]
    assert {name for depth, name in names[2:]} == {"transform to_session"}
    assert all(depth == 2 for depth, _ in names[2:])


def test_a_dead_letter_send_is_a_span_of_the_failed_call(
    kafka_topic: str, producer: Producer, json_logs: JsonLogs
) -> None:
    dlq = DeadLetterQueue(producer, kafka_topic)

    @traced_transform("to_session", dlq=dlq)
    def to_session(record: dict[str, Any]) -> int:
        raise ValueError("bad record")

    tid = new_trace_id()
    assert to_session({"trace_id": tid, "user_id": 1}) is None
    assert dlq.flush(10) == 0
    [failed] = json_logs.lines("transform failed")
    [delivered] = json_logs.lines(DLQ_DELIVERED_EVENT)
    assert delivered["trace_id"] == tid
    assert delivered["parent_span_id"] == failed["span_id"]
    assert delivered["dlq"] == kafka_topic
    assert isinstance(delivered["latency_ms"], float)
    tree = build_trace_tree(tid, json_logs.lines())
    assert [(span.depth, span.name) for span in tree.spans()] == [
        (0, "transform to_session"),
        (1, f"dead-letter produce {kafka_topic}"),
    ]
    assert tree.outcome.dlq == kafka_topic
