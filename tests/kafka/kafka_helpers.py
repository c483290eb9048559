"""Kafka test helpers: read a topic with assign() (no group join) and look at headers."""

from __future__ import annotations

import io
import time
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from moose_trace.testing.broker import EmbeddedBroker


def make_consumer(broker: EmbeddedBroker, topic: str, offset: int = 0, **conf: Any) -> Consumer:
    """A consumer assigned to partition 0 of ``topic`` from ``offset`` (no group join)."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "moose-trace-tests",
            "enable.auto.commit": False,
            **conf,
        }
    )
    consumer.assign([TopicPartition(topic, 0, offset)])
    return consumer


def read_topic(broker: EmbeddedBroker, topic: str, count: int, timeout: float = 60.0) -> list[Any]:
    """Read ``count`` messages from partition 0 of ``topic``, failing after ``timeout`` s."""
    consumer = make_consumer(broker, topic)
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < count:
            assert time.monotonic() < deadline, f"only {len(messages)} of {count} messages"
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                messages.append(message)
    finally:
        consumer.close()
    return messages


def header(message: Any, name: str) -> list[bytes | None]:
    """Every value of header ``name`` on a consumed message, in order."""
    return [value for key, value in message.headers() or [] if key == name]


class JsonLogs:
    """The JSON lines written by a real ``configure_logging`` setup, parsed."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self, event: str | None = None) -> list[dict[str, Any]]:
        """Every line so far, or those whose ``event`` is ``event``."""
        parsed = [orjson.loads(line) for line in self.stream.getvalue().splitlines()]
        return [line for line in parsed if event is None or line.get("event") == event]
