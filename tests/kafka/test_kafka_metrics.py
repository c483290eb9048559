"""traced_messages records each partition's consumer lag, read from the client's end offsets."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition
from kafka_helpers import make_consumer
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from moose_trace.kafka import traced_messages
from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.metrics import CONSUMER_LAG, configure_metrics, shutdown_metrics
from moose_trace.testing.broker import EmbeddedBroker


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    configure_logging("svc", stream=io.StringIO(), log_dir=False)
    reader = InMemoryMetricReader()
    configure_metrics(reader, set_global=False)
    yield reader
    shutdown_metrics()
    shutdown_logging()


def lag_points(reader: InMemoryMetricReader) -> list[tuple[dict[str, Any], int]]:
    data = reader.get_metrics_data()
    return [
        (dict(point.attributes), point.value)
        for resource in (data.resource_metrics if data else ())
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == CONSUMER_LAG
        for point in metric.data.data_points
    ]


def test_the_lag_left_after_a_batch_is_recorded(
    kafka_broker: EmbeddedBroker, kafka_topic: str, producer: Producer, reader: InMemoryMetricReader
) -> None:
    for index in range(10):
        producer.produce(kafka_topic, value=str(index).encode())
    producer.flush(10)
    consumer = make_consumer(kafka_broker, kafka_topic)
    try:
        # Let the client fetch the whole partition: its end offset is then known locally.
        deadline = time.monotonic() + 20
        partition = TopicPartition(kafka_topic, 0)
        while consumer.get_watermark_offsets(partition, cached=True)[1] < 10:
            assert time.monotonic() < deadline, "the client never learned the end offset"
            first = consumer.poll(0.1)
            if first is not None:
                consumer.seek(TopicPartition(kafka_topic, 0, first.offset()))
        handled = [
            message.offset()
            for message in traced_messages(
                consumer, max_messages=4, batch_size=4, consumer_group="totals"
            )
        ]
    finally:
        consumer.close()
    assert handled == [0, 1, 2, 3]
    assert lag_points(reader) == [
        ({"kafka_topic": kafka_topic, "kafka_partition": 0, "consumer_group": "totals"}, 6)
    ]
