"""Spans and metrics reach an OTLP/HTTP collector with no code: ``configure()`` and the env.

The collector is a real HTTP server written here (``OtlpReceiver``): it records every export
request and decodes it with OpenTelemetry's own protobuf classes. The app is a real process
that only calls ``moose_trace.configure()``; the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
``OTEL_METRICS_EXPORTER`` variables point it at the receiver.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="needs the otlp extra")

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from moose_trace.metrics import DURATION_BUCKETS
from moose_trace.tracing._otlp import span_exporters_from_env

RECORD_TRACE_ID = "01a25130-6f0e-7cc4-8f4e-2b1c9d5e7a10"


class OtlpReceiver(ThreadingHTTPServer):
    """An OTLP/HTTP (protobuf) collector that keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[tuple[Any, Any, dict[str, Any]]]:
        """Every span received: (span, its resource, its attributes as a dict)."""
        found = []
        for path, body, _ in self.requests:
            if path != "/v1/traces":
                continue
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: _value(a.value) for a in span.attributes}
                        found.append((span, resource_spans.resource, attributes))
        return found

    def metric_points(self) -> list[tuple[str, dict[str, Any], Any]]:
        found = []
        for path, body, _ in self.requests:
            if path != "/v1/metrics":
                continue
            request = ExportMetricsServiceRequest.FromString(body)
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data")
                        for point in getattr(metric, kind).data_points:
                            attributes = {a.key: _value(a.value) for a in point.attributes}
                            found.append((metric.name, attributes, point))
        return found


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value"))


class _Handler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:
            self.server.requests.append((self.path, body, dict(self.headers)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


APP = textwrap.dedent(
    f"""
    import moose_trace
    from moose_trace.decorators import traced_transform

    moose_trace.configure("orders", log_dir=False, stdout=False)

    @traced_transform(name="orders_to_totals")
    def transform(record):
        if record.get("fail"):
            raise TimeoutError("upstream timed out")
        return record

    transform({{"trace_id": "{RECORD_TRACE_ID}", "total": 3}})
    try:
        transform({{"fail": True}})
    except TimeoutError:
        pass
    """
)


def test_spans_and_metrics_reach_an_otlp_collector_from_the_environment(
    receiver: OtlpReceiver,
) -> None:
    environ = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme",
    }
    environ.pop("OTEL_TRACES_EXPORTER", None)
    done = subprocess.run(
        [sys.executable, "-c", APP],
        check=False,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # The processors flush at exit: everything has arrived when the process has ended.
    received = receiver.spans()
    assert [span.name for span, _, _ in received] == ["transform orders_to_totals"] * 2
    by_outcome = {attrs.get("error.category"): found for found in received for attrs in [found[2]]}
    ok_span, resource, ok_attrs = by_outcome[None]
    assert uuid.UUID(bytes=ok_span.trace_id) == uuid.UUID(RECORD_TRACE_ID)
    assert ok_attrs["moose.layer"] == "streaming"
    service = {a.key: _value(a.value) for a in resource.attributes}["service.name"]
    assert service == "orders"
    failed_span, _, failed_attrs = by_outcome["timeout_error"]
    assert uuid.UUID(bytes=failed_span.trace_id).version == 7  # a new UUIDv7 id of its own
    assert failed_attrs["moose.layer"] == "streaming"
    assert failed_attrs["error.type"] == "TimeoutError"
    # OTEL_EXPORTER_OTLP_HEADERS honoured on every request
    assert {headers.get("x-tenant") for _, _, headers in receiver.requests} == {"acme"}

    operations = {
        (attrs["status"], attrs.get("error_category")): point.as_int
        for name, attrs, point in receiver.metric_points()
        if name == "moose.operations"
    }
    assert operations == {("success", None): 1, ("failed", "timeout_error"): 1}
    # The duration histogram is kept in process and added to each push: the same series.
    durations = {
        attrs["status"]: point
        for name, attrs, point in receiver.metric_points()
        if name == "moose.operation.duration"
    }
    assert set(durations) == {"success", "failed"}
    ok = durations["success"]
    assert ok.count == 1
    assert sum(ok.bucket_counts) == 1
    assert list(ok.explicit_bounds) == list(DURATION_BUCKETS)
    assert len(ok.bucket_counts) == len(DURATION_BUCKETS) + 1
    assert 0 < ok.sum == ok.min == ok.max < 5  # seconds
    assert ok.start_time_unix_nano < ok.time_unix_nano


def test_exporters_chosen_by_the_standard_variables() -> None:
    assert span_exporters_from_env({}) == []
    assert span_exporters_from_env({"OTEL_TRACES_EXPORTER": "none"}) == []
    [otlp] = span_exporters_from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318"})
    assert type(otlp).__module__.startswith("opentelemetry.exporter.otlp.proto.http")
    [console] = span_exporters_from_env({"OTEL_TRACES_EXPORTER": "console"})
    assert type(console).__name__ == "ConsoleSpanExporter"
    with pytest.raises(ValueError, match="zipkin"):
        span_exporters_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ValueError, match="http/json"):
        span_exporters_from_env(
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        )
