"""Kafka test fixtures: a producer on the session broker, and real JSON logs to read."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
import structlog
from confluent_kafka import Producer
from kafka_helpers import JsonLogs

from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.testing.broker import EmbeddedBroker


@pytest.fixture
def producer(kafka_broker: EmbeddedBroker) -> Iterator[Producer]:
    """A confluent-kafka producer on the session broker, flushed at teardown."""
    made = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 1})
    yield made
    made.flush(10)


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonLogs]:
    """Logging configured for real (JSON, debug level), captured in memory."""
    for name in [name for name in os.environ if name.startswith("LOG_LEVEL")]:
        monkeypatch.delenv(name)
    stream = io.StringIO()
    configure_logging("kafka-tests", level="debug", stream=stream, json=True, log_dir=False)
    yield JsonLogs(stream)
    shutdown_logging()
    structlog.contextvars.clear_contextvars()
