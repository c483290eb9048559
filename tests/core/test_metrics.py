"""Metrics through the OpenTelemetry metrics API: what decorators and the middleware record.

In process, an SDK ``InMemoryMetricReader`` reads what was recorded (``configure_metrics`` with
``set_global=False``, so no test leaves a global provider behind). The Prometheus endpoint is
tested over HTTP against a real process that called ``configure(metrics="prometheus")``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from moose_trace.asgi import TraceMiddleware
from moose_trace.decorators import traced, traced_sync, traced_transform
from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.metrics import (
    DURATION,
    DURATION_BUCKETS,
    OPERATIONS,
    OTHER_NAME,
    RECORDS,
    OperationMetrics,
    configure_metrics,
    operation_metrics,
    shutdown_metrics,
)


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    configure_logging("svc", stream=io.StringIO(), log_dir=False)
    reader = InMemoryMetricReader()
    configure_metrics(reader, service="svc", set_global=False, name_limit=3)
    yield reader
    shutdown_metrics()
    shutdown_logging()


def points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any]]:
    data = reader.get_metrics_data()
    found = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        found.append(
                            (dict(point.attributes), value if value is not None else point)
                        )
    return found


def test_nothing_is_recorded_without_a_meter_provider() -> None:
    assert operation_metrics() is None  # no configure_metrics, no global provider in tests

    @traced_transform(name="quiet")
    def transform(record: dict[str, Any]) -> dict[str, Any]:
        return record

    assert transform({"a": 1}) == {"a": 1}


def test_a_transform_records_its_operations_durations_and_records(
    reader: InMemoryMetricReader,
) -> None:
    @traced_transform(name="orders_to_totals")
    def transform(record: bytes) -> list[bytes] | None:
        if record == b"boom":
            raise TimeoutError("upstream timed out")
        return [record, record] if record else None

    transform(b"abcd")
    transform(b"")
    with pytest.raises(TimeoutError):
        transform(b"boom")

    operations = {
        (attrs["status"], attrs.get("error_category")): value
        for attrs, value in points(reader, OPERATIONS)
    }
    assert operations == {("success", None): 2, ("failed", "timeout_error"): 1}
    [(attrs, _)] = [p for p in points(reader, OPERATIONS) if p[0]["status"] == "success"]
    assert attrs == {
        "type": "transform",
        "layer": "streaming",
        "status": "success",
        "name": "orders_to_totals",
    }
    durations = {attrs["status"]: point for attrs, point in points(reader, DURATION)}
    assert durations["success"].count == 2
    assert durations["failed"].count == 1
    assert 0 < durations["success"].sum < 5  # seconds
    records = {attrs["direction"]: value for attrs, value in points(reader, RECORDS)}
    assert records == {"in": 2, "out": 2}
    sizes = {attrs["direction"]: value for attrs, value in points(reader, "moose.bytes")}
    assert sizes == {"in": 4, "out": 8}


def test_a_sync_records_its_batch(reader: InMemoryMetricReader) -> None:
    @traced_sync("events")
    def insert(batch: list[bytes]) -> int:
        return len(batch) - 1  # one row rejected

    insert([b"a", b"bc", b"def"])
    records = {attrs["direction"]: value for attrs, value in points(reader, RECORDS)}
    assert records == {"in": 3, "out": 2}
    sizes = {attrs["direction"]: value for attrs, value in points(reader, "moose.bytes")}
    assert sizes == {"in": 6}


def test_names_beyond_the_limit_are_recorded_as_other(reader: InMemoryMetricReader) -> None:
    for index in range(6):
        traced("task", name=f"job_{index}")(lambda: None)()
    names = sorted(attrs["name"] for attrs, _ in points(reader, OPERATIONS))
    assert names == ["job_0", "job_1", "job_2", OTHER_NAME]
    [other] = [value for attrs, value in points(reader, OPERATIONS) if attrs["name"] == "other"]
    assert other == 3


def test_middleware_requests_are_operations(reader: InMemoryMetricReader) -> None:
    async def ok(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def missing(request: Any) -> PlainTextResponse:
        return PlainTextResponse("no", status_code=404)

    async def broken(request: Any) -> PlainTextResponse:
        raise ConnectionError("db down")

    app = Starlette(
        routes=[
            Route("/consumption/leaderboard", ok),
            Route("/consumption/missing", missing),
            Route("/consumption/broken", broken),
        ]
    )
    app.add_middleware(TraceMiddleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/consumption/leaderboard").status_code == 200
        assert client.get("/consumption/missing").status_code == 404
        assert client.get("/consumption/broken").status_code == 500
    seen = {
        (attrs["name"], attrs["status"], attrs.get("error_category")): value
        for attrs, value in points(reader, OPERATIONS)
    }
    assert seen == {
        ("leaderboard", "success", None): 1,
        ("missing", "client_error", "not_found_error"): 1,
        ("broken", "failed", "connection_error"): 1,
    }
    assert {attrs["layer"] for attrs, _ in points(reader, OPERATIONS)} == {"webserver"}


PROMETHEUS_APP = textwrap.dedent(
    """
    import sys
    import moose_trace
    from moose_trace.decorators import traced_transform

    setup = moose_trace.configure(
        "orders", metrics="prometheus", metrics_port=0, log_dir=False, stdout=False
    )

    @traced_transform(name="orders_to_totals")
    def transform(record):
        if record is None:
            raise ValueError("no record")
        return record

    for _ in range(3):
        transform(b"abc")
    try:
        transform(None)
    except ValueError:
        pass
    print(setup.metrics.url, flush=True)
    sys.stdin.read()  # serve until the test closes stdin
    """
)


def test_configure_serves_prometheus_text_over_http() -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra (dev installs it)")
    process = subprocess.Popen(
        [sys.executable, "-c", PROMETHEUS_APP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OTEL_METRICS_EXPORTER": ""},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/metrics")
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        success = {"type": "transform", "layer": "streaming", "name": "orders_to_totals"}
        assert _has_sample(text, "moose_operations_total", {**success, "status": "success"}, 3)
        failed = {**success, "status": "failed", "error_category": "validation_error"}
        assert _has_sample(text, "moose_operations_total", failed, 1)
        assert _has_sample(
            text, "moose_operation_duration_seconds_count", {**success, "status": "success"}, 3
        )
        assert _has_sample(text, "moose_records_total", {**success, "direction": "in"}, 3)
        # The histogram's buckets (kept in process, served from the aggregates): cumulative,
        # every call under the last bound, each bucket including its upper bound.
        ok = {**success, "status": "success"}
        assert _has_sample(text, "moose_operation_duration_seconds_bucket", {**ok, "le": "+Inf"}, 3)
        assert _has_sample(text, "moose_operation_duration_seconds_bucket", {**ok, "le": "60.0"}, 3)
        assert "moose_operation_duration_seconds_sum{" in text
        assert 'service_name="orders"' in text  # target_info carries the resource
    finally:
        process.stdin.close()  # type: ignore[union-attr]
        process.wait(timeout=20)


def _has_sample(text: str, name: str, labels: dict[str, str], value: float) -> bool:
    """Whether Prometheus text holds a sample of ``name`` with these labels and this value."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, _, sample = line[len(name) + 1 :].rpartition("} ")
        pairs = (part.split("=", 1) for part in label_text.split(",") if "=" in part)
        found = {key: raw.strip('"') for key, raw in pairs}
        if found == {**found, **labels} and float(sample) == value:
            return True
    return False


def test_durations_kept_in_process_match_the_sdk_histogram() -> None:
    # moose-trace's own exporters aggregate durations in process; the SDK's histogram (what a
    # MeterProvider of the user's own records) must give the same buckets, sum, min and max,
    # also for values exactly on a bound (a bucket includes its upper bound).
    sdk_reader = InMemoryMetricReader()
    through_sdk = OperationMetrics(MeterProvider(metric_readers=[sdk_reader]))
    in_process = OperationMetrics(
        MeterProvider(metric_readers=[InMemoryMetricReader()]), durations_in_process=True
    )
    values = [0.0, 0.0001, 0.00010001, 0.001, 0.3, 60.0, 61.5, *DURATION_BUCKETS]
    for metrics in (through_sdk, in_process):
        series = metrics.series("transform", "streaming", "t", "success")
        for seconds in values:
            metrics.operation(series, seconds)
    [(attributes, expected)] = points(sdk_reader, DURATION)
    [found] = in_process.duration_points()
    assert found.attributes == attributes
    assert found.bucket_counts == list(expected.bucket_counts)
    assert (found.count, found.min, found.max) == (expected.count, expected.min, expected.max)
    assert found.sum == pytest.approx(expected.sum)
    assert through_sdk.duration_points() == []  # its durations are the SDK's to export
