"""moose-trace's Kafka helpers stacked with OpenTelemetry's own Kafka instrumentations.

``opentelemetry-instrumentation-kafka-python`` and ``-confluent-kafka`` (installed beside the
dev environment by ``otel_kafka_env.py``: their pins conflict with it) patch the same clients our
helpers wrap. With both on, one trace id must hold: the record's headers, OpenTelemetry's
producer and consumer spans where they continue the record's trace, our log lines, and the
records produced while handling it (docs/standards.md, "Kafka, stacked with OpenTelemetry").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from kafka_helpers import JsonLogs, header, read_topic
from opentelemetry import propagate
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moose_trace.kafka import TracedProducer, extract_trace_id, traced_messages
from moose_trace.testing.broker import EmbeddedBroker
from moose_trace.tracing.context import current_trace_id, trace_context
from moose_trace.tracing.ids import new_trace_id, trace_id_from_int
from moose_trace.tracing.otel import configure_tracing

sys.path.insert(0, os.path.dirname(__file__))
from otel_kafka_env import TARGET, ready

if not ready():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{TARGET} is missing: .ci/run installs it (otel_kafka_env.py)")
    pytest.skip(
        "OpenTelemetry's Kafka instrumentations are not installed: run "
        "python tests/kafka/otel_kafka_env.py",
        allow_module_level=True,
    )
sys.path.append(str(TARGET))

log = structlog.get_logger("tests.otel_kafka")


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """A global SDK tracer provider with moose-trace ids, exporting to memory."""
    saved = (otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done)
    propagator = propagate.get_global_textmap()
    spans = InMemorySpanExporter()
    provider = configure_tracing("otel-kafka-test", exporter=spans, batch=False)
    assert provider is not None
    yield spans
    provider.shutdown()
    otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done = saved
    propagate.set_global_textmap(propagator)


def traceparent_traces(message: Any) -> set[str]:
    return {
        value.decode().split("-")[1]
        for value in header(message, "traceparent")
        if value is not None
    }


def test_kafka_python_instrumentation_and_our_helpers_keep_one_trace(
    kafka_broker: EmbeddedBroker,
    kafka_topic: str,
    exporter: InMemorySpanExporter,
    json_logs: JsonLogs,
) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: PLC0415 - found once TARGET is on sys.path
    from opentelemetry.instrumentation.kafka import KafkaInstrumentor  # noqa: PLC0415 - found once TARGET is on sys.path

    instrumentor = KafkaInstrumentor()
    # skip_dep_check: the module is kafka-python-ng's, the distribution name it checks differs.
    instrumentor.instrument(skip_dep_check=True)
    try:
        producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, linger_ms=1)
        trace_id = new_trace_id()
        with trace_context(trace_id):
            TracedProducer(producer).send(kafka_topic, value=b"v")
        producer.flush(timeout=10)
        producer.close(timeout=10)
        (message,) = read_topic(kafka_broker, kafka_topic, 1)
        hex_id = trace_id.replace("-", "")
        assert header(message, "trace_id") == [trace_id.encode()]
        assert traceparent_traces(message) == {hex_id}  # ours and OpenTelemetry's: one trace
        (send_span,) = [s for s in exporter.get_finished_spans() if s.kind.name == "PRODUCER"]
        assert send_span.context is not None
        assert trace_id_from_int(send_span.context.trace_id) == trace_id

        consumer = KafkaConsumer(
            bootstrap_servers=kafka_broker.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        consumer.assign([TopicPartition(kafka_topic, 0)])
        try:
            for _record in traced_messages(consumer, max_messages=1):
                assert current_trace_id() == trace_id
                log.info("handled")
        finally:
            consumer.close()
        assert [line["trace_id"] for line in json_logs.lines("handled")] == [trace_id]
    finally:
        instrumentor.uninstrument()


def test_confluent_kafka_instrumentation_and_our_helpers_keep_one_trace(
    kafka_broker: EmbeddedBroker,
    kafka_topic: str,
    exporter: InMemorySpanExporter,
    json_logs: JsonLogs,
) -> None:
    import confluent_kafka  # noqa: PLC0415 - found once TARGET is on sys.path
    from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor  # noqa: PLC0415 - found once TARGET is on sys.path
    from opentelemetry.instrumentation.confluent_kafka.utils import _kafka_getter  # noqa: PLC0415 - found once TARGET is on sys.path

    instrumentor = ConfluentKafkaInstrumentor()
    instrumentor.instrument()
    try:
        producer = confluent_kafka.Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
        trace_id = new_trace_id()
        with trace_context(trace_id):
            TracedProducer(producer).produce(kafka_topic, value=b"v")
        assert producer.flush(10) == 0
        (message,) = read_topic(kafka_broker, kafka_topic, 1)
        hex_id = trace_id.replace("-", "")
        assert header(message, "trace_id") == [trace_id.encode()]
        assert traceparent_traces(message) == {hex_id}  # ours and OpenTelemetry's: one trace
        sends = [s for s in exporter.get_finished_spans() if s.kind.name == "PRODUCER"]
        assert [trace_id_from_int(s.context.trace_id) for s in sends if s.context] == [trace_id]

        onward = f"{kafka_topic}-onward"
        kafka_broker.create_topics([onward], partitions=1)
        consumer = confluent_kafka.Consumer(
            {
                "bootstrap.servers": kafka_broker.bootstrap_servers,
                "group.id": f"g-{new_trace_id()}",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.assign([confluent_kafka.TopicPartition(kafka_topic, 0, 0)])
        try:
            for _message in traced_messages(consumer, max_messages=1, timeout=5):
                assert current_trace_id() == trace_id
                log.info("handled")
                TracedProducer(producer).produce(onward, value=b"next")
        finally:
            consumer.close()
        assert producer.flush(10) == 0
        assert [line["trace_id"] for line in json_logs.lines("handled")] == [trace_id]
        (next_message,) = read_topic(kafka_broker, onward, 1)
        # The record sent while handling: ours come first and name the record's trace. Every
        # reader continues it: moose-trace (a valid traceparent, else trace_id) and
        # OpenTelemetry's getter (the first traceparent).
        assert header(next_message, "trace_id") == [trace_id.encode()]
        assert (
            header(next_message, "traceparent")[0]
            == header(message, "traceparent")[0][:3]
            + hex_id.encode()
            + header(next_message, "traceparent")[0][35:]
        )
        assert extract_trace_id(next_message) == trace_id
        theirs = propagate.extract(next_message.headers(), getter=_kafka_getter)
        their_span = otel_trace.get_current_span(theirs).get_span_context()
        assert trace_id_from_int(their_span.trace_id) == trace_id
        # OpenTelemetry's own consumer span is, by its design, the root of a trace of its own
        # that links to the record's; inside our loop the record's trace is the one bound.
        (process,) = [s for s in exporter.get_finished_spans() if s.name.endswith(" process")]
        assert [trace_id_from_int(link.context.trace_id) for link in process.links] == [trace_id]
    finally:
        instrumentor.uninstrument()
