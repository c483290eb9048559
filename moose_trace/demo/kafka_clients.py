"""The demo's Kafka clients and the small things its workers do with them.

Consumers are assigned partition 0 of their topics from the current end (no group rebalance to
wait for); producers are ``TracedProducer``s; the sync reads its lag from the broker and commits
past each batch it stored.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from moose_trace.demo.infra import kafka_logger
from moose_trace.tracing.context import bind_fields, trace_context

__all__ = [
    "assigned_consumer",
    "bind_lag",
    "close_producer",
    "commit_past",
    "consumer_lag",
    "flush_to",
    "traced_producer",
]

_log = structlog.get_logger("moose_trace.demo.pipeline")


def assigned_consumer(bootstrap_servers: str, group: str, topics: tuple[str, ...]) -> Any:
    """A consumer assigned to partition 0 of ``topics`` from their current end.

    ``assign`` instead of a group subscription: no rebalance wait, and the demo's topics have
    one partition. Starting at the end makes a rerun against an existing broker skip old records.
    """
    from confluent_kafka import (  # noqa: PLC0415 (optional dependency)
        Consumer,
        KafkaException,
        TopicPartition,
    )

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
            "fetch.min.bytes": 1,
            "logger": kafka_logger(),
        }
    )
    partitions = []
    for topic in topics:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        partitions.append(TopicPartition(topic, 0, high))
    consumer.assign(partitions)
    with contextlib.suppress(KafkaException):  # the start counts as committed: lag from 0
        consumer.commit(offsets=partitions, asynchronous=False)
    return consumer


def traced_producer(bootstrap_servers: str) -> Any:
    """Return a ``TracedProducer`` for the demo's broker (every record carries its trace)."""
    from confluent_kafka import Producer  # noqa: PLC0415 (optional dependency)

    from moose_trace.kafka import TracedProducer  # noqa: PLC0415

    return TracedProducer(
        Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "linger.ms": 0,
                "acks": "all",
                "logger": kafka_logger(),
            }
        )
    )


def consumer_lag(consumer: Any, topic: str) -> int | None:
    """Messages of ``topic`` (partition 0) not yet committed: high watermark − committed offset.

    Both read from the broker (``cached=False``); ``None`` when it cannot say.
    """
    from confluent_kafka import KafkaException, TopicPartition  # noqa: PLC0415 (optional)

    partition = TopicPartition(topic, 0)
    try:
        _low, high = consumer.get_watermark_offsets(partition, timeout=2, cached=False)
        [committed] = consumer.committed([partition], timeout=2)
    except (KafkaException, ValueError):
        return None
    if committed.offset < 0:
        return None
    return max(0, int(high) - int(committed.offset))


def commit_past(consumer: Any, last: Any) -> None:
    """Commit past ``last`` (synchronously: the next batch's lag reads it from the broker)."""
    from confluent_kafka import KafkaException, TopicPartition  # noqa: PLC0415 (optional)

    try:
        consumer.commit(
            offsets=[TopicPartition(last.topic(), last.partition(), last.offset() + 1)],
            asynchronous=False,
        )
    except KafkaException as failure:
        _log.warning("sync commit failed", error=failure, layer="sync")


def bind_lag(lag: int | None) -> None:
    if lag is not None:
        bind_fields(consumer_lag=lag)


def flush_to(producer: Any, topic: str) -> None:
    """Wait for the delivery of what was produced; its report is logged as the stream's."""
    with trace_context(type="stream", name=topic, layer="streaming"):
        producer.flush(5)


def close_producer(producer: Any) -> None:
    """Deliver what is left, then close (no reconnecting to a broker that is going away)."""
    producer.flush(5)
    close = getattr(producer, "close", None)
    if close is not None:
        close()
