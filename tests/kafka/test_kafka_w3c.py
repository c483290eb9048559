"""W3C context through a real broker: a record carries its trace's flags, tracestate and baggage
from the producing request to the consumer, and on to the consumer's own outgoing records."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from confluent_kafka import Producer
from kafka_helpers import JsonLogs, header, make_consumer, read_topic

from moose_trace.kafka import TracedProducer, inject_headers, message_context, traced_messages
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.context import current_fields, trace_context
from moose_trace.tracing.propagation import bind_incoming, extract_incoming

PEER_HEX = "4bf92f3577b34da6a3ce929d0e0e4736"
PEER_ID = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
log = structlog.get_logger("w3c-test")


def produce_in_incoming_trace(producer: Producer, topic: str, flags: str) -> None:
    """Produce two records from inside an HTTP request that came with the W3C headers."""
    incoming = extract_incoming(
        {
            "traceparent": f"00-{PEER_HEX}-00f067aa0ba902b7-{flags}",
            "tracestate": TRACESTATE,
            "baggage": "tenant_id=acme,cart=3",
        }
    )
    traced = TracedProducer(producer, log_deliveries=False)
    with trace_context(incoming.trace_id):
        bind_incoming(incoming)
        for number in range(2):
            traced.produce(topic, value=str(number).encode(), headers={"source": b"ingest"})
    assert traced.flush(10) == 0


@pytest.mark.parametrize("flags", ["00", "03"])
def test_records_carry_flags_tracestate_and_baggage(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, flags: str
) -> None:
    produce_in_incoming_trace(producer, kafka_topic, flags)
    for message in read_topic(kafka_broker, kafka_topic, 2):
        assert header(message, "trace_id") == [PEER_ID.encode()]
        (traceparent,) = header(message, "traceparent")
        assert traceparent is not None
        assert traceparent.decode().startswith(f"00-{PEER_HEX}-")
        assert traceparent.decode().endswith(f"-{flags}")
        assert header(message, "tracestate") == [TRACESTATE.encode()]
        assert header(message, "baggage") == [b"tenant_id=acme,cart=3"]
        assert header(message, "source") == [b"ingest"]


@pytest.mark.parametrize("loop", ["traced_messages", "message_context"])
def test_the_consumer_logs_the_baggage_and_sends_it_all_on(
    kafka_broker: EmbeddedBroker,
    kafka_topic: str,
    producer: Producer,
    json_logs: JsonLogs,
    loop: str,
) -> None:
    produce_in_incoming_trace(producer, kafka_topic, "03")
    consumer = make_consumer(kafka_broker, kafka_topic)
    onward: list[list[tuple[str, Any]]] = []
    try:
        if loop == "traced_messages":
            for _ in traced_messages(consumer, max_messages=2):
                log.info("handled")
                onward.append(inject_headers())
        else:
            handled = 0
            while handled < 2:
                message = consumer.poll(1.0)
                if message is None or message.error() is not None:
                    continue
                with message_context(message):
                    log.info("handled")
                    onward.append(inject_headers())
                handled += 1
    finally:
        consumer.close()
    lines = json_logs.lines("handled")
    assert [line["trace_id"] for line in lines] == [PEER_ID, PEER_ID]
    assert [line["tenant_id"] for line in lines] == ["acme", "acme"]
    assert all("cart" not in line for line in lines)  # carried, not allow-listed
    for headers in onward:
        sent = dict(headers)
        assert sent["trace_id"] == PEER_ID.encode()
        assert sent["traceparent"].endswith(b"-03")
        assert sent["tracestate"] == TRACESTATE.encode()
        assert sent["baggage"] == b"tenant_id=acme,cart=3"
    assert "tenant_id" not in current_fields()  # nothing left bound after the loop
