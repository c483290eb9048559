"""Kafka integration: the trace id in message headers, traced producing and consuming, a DLQ.

- Headers: ``inject_headers``, ``extract_trace_id``, ``incoming_trace``, ``message_fields`` —
  no Kafka client needed; confluent-kafka messages, kafka-python/aiokafka records, header
  lists and dicts alike.
- Producing: ``TracedProducer`` wraps a confluent-kafka ``Producer``.
- Consuming: ``message_context`` for one message, ``traced_messages`` for a poll loop.
- Failures: ``DeadLetterQueue`` sends a failed record to a dead-letter topic with its context.

Importing this package does not import confluent-kafka; the wrappers import it when used.
"""

from __future__ import annotations

from moose_trace.kafka.consumer import message_context, traced_messages
from moose_trace.kafka.dlq import DeadLetterQueue
from moose_trace.kafka.headers import (
    KafkaHeaders,
    extract_trace_id,
    incoming_trace,
    inject_headers,
    message_fields,
    message_headers,
    trace_headers,
    traced_headers,
)
from moose_trace.kafka.producer import TracedProducer

__all__ = [
    "DeadLetterQueue",
    "KafkaHeaders",
    "TracedProducer",
    "extract_trace_id",
    "incoming_trace",
    "inject_headers",
    "message_context",
    "message_fields",
    "message_headers",
    "trace_headers",
    "traced_headers",
    "traced_messages",
]
