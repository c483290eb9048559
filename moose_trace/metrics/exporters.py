"""The part of ``moose_trace.metrics`` that needs the SDK: the provider, readers and exporters,
imported only when metrics are configured.

moose-trace's own routes (``"prometheus"``, ``"otlp"``) keep the duration histogram in process
(``OperationMetrics(durations_in_process=True)``) and add it to what they export when they
collect: Prometheus through a ``prometheus_client`` collector on the endpoint's registry, OTLP
through an exporter that adds it to each export of the SDK's ``MetricsData``. The counters and
the lag gauge go through the SDK provider as before (their per-call cost is already an addition
in process, or once per batch).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from moose_trace._fastpath import exporter_preferences
from moose_trace._version import __version__
from moose_trace.metrics.instruments import (
    DURATION,
    DURATION_BUCKETS,
    DURATION_DESCRIPTION,
    METER_NAME,
    DurationPoint,
    OperationMetrics,
)

__all__ = ["Installed", "current", "install", "retire"]

PROMETHEUS_PORT_ENV = "OTEL_EXPORTER_PROMETHEUS_PORT"
PROMETHEUS_HOST_ENV = "OTEL_EXPORTER_PROMETHEUS_HOST"
_DEFAULT_PORT = 9464
_DEFAULT_HOST = "127.0.0.1"


class Durations:
    """Where the exporters find the in-process durations: set once the instruments exist."""

    __slots__ = ("metrics",)

    def __init__(self) -> None:
        self.metrics: OperationMetrics | None = None

    def points(self) -> list[DurationPoint]:
        """The duration histogram's points now (``[]`` before any operation)."""
        metrics = self.metrics
        return [] if metrics is None else metrics.duration_points()


@dataclass(frozen=True)
class Installed:
    """One installed metrics pipeline: the provider, what exports it, the server if any."""

    provider: MeterProvider
    exporter: str
    url: str | None
    server: Any
    durations: Durations | None = field(default=None)
    """Set for moose-trace's own routes: they export the durations kept in process."""


_SCOPE_LABELS = {
    "otel_scope_name": METER_NAME,
    "otel_scope_version": __version__,
    "otel_scope_schema_url": "",
}


class _DurationCollector:
    """A ``prometheus_client`` collector serving the in-process duration histogram.

    The same family OpenTelemetry's Prometheus exporter would make from the SDK histogram
    (``moose_operation_duration_seconds`` with ``_bucket``/``_count``/``_sum``, the scope
    labels, missing labels as ``""``), next to the SDK's own metrics on the same registry.
    """

    def __init__(self, durations: Durations) -> None:
        self._durations = durations

    def describe(self) -> list[Any]:
        return []  # names are known only at collection; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import HistogramMetricFamily  # noqa: PLC0415 - optional
        from prometheus_client.utils import floatToGoString  # noqa: PLC0415

        points = self._durations.points()
        if not points:
            return
        keys = sorted({*_SCOPE_LABELS, *(key for point in points for key in point.attributes)})
        family = HistogramMetricFamily(
            "moose_operation_duration", DURATION_DESCRIPTION, labels=keys, unit="seconds"
        )
        bounds = [*map(floatToGoString, DURATION_BUCKETS), "+Inf"]
        for point in points:
            labels = {**_SCOPE_LABELS, **point.attributes}
            running = 0
            buckets = []
            for bound, count in zip(bounds, point.bucket_counts, strict=True):
                running += count
                buckets.append((bound, running))
            family.add_metric([labels.get(key, "") for key in keys], buckets, point.sum)
        yield family


class _WithDurations(MetricExporter):
    """An exporter adding the in-process duration histogram to each export, then the real one.

    The histogram is cumulative since recording began, whatever temporality the wrapped
    exporter prefers for the SDK's own instruments.
    """

    def __init__(self, exporter: MetricExporter, durations: Durations, resource: Resource):
        temporality, aggregation = exporter_preferences(exporter)
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self._exporter = exporter
        self._durations = durations
        self._resource = resource

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return self._exporter.export(
            self._with_durations(metrics_data), timeout_millis=timeout_millis, **kwargs
        )

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._exporter.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._exporter.shutdown(timeout_millis=timeout_millis, **kwargs)

    def _with_durations(self, data: MetricsData) -> MetricsData:
        points = self._durations.points()
        metrics = self._durations.metrics
        if not points or metrics is None:
            return data
        now = time.time_ns()
        metric = Metric(
            name=DURATION,
            description=DURATION_DESCRIPTION,
            unit="s",
            data=Histogram(
                data_points=[
                    HistogramDataPoint(
                        attributes=point.attributes,
                        start_time_unix_nano=metrics.started_ns,
                        time_unix_nano=now,
                        count=point.count,
                        sum=point.sum,
                        bucket_counts=point.bucket_counts,
                        explicit_bounds=DURATION_BUCKETS,
                        min=point.min,
                        max=point.max,
                    )
                    for point in points
                ],
                aggregation_temporality=AggregationTemporality.CUMULATIVE,
            ),
        )
        resources = list(data.resource_metrics) if data is not None else []
        if not resources:
            resources = [ResourceMetrics(self._resource, [], "")]
        first = resources[0]
        scopes = list(first.scope_metrics)
        for index, scope in enumerate(scopes):
            if scope.scope.name == METER_NAME:
                scopes[index] = ScopeMetrics(
                    scope.scope, [*scope.metrics, metric], scope.schema_url
                )
                break
        else:
            scopes.append(ScopeMetrics(InstrumentationScope(METER_NAME, __version__), [metric], ""))
        resources[0] = ResourceMetrics(first.resource, scopes, first.schema_url)
        return MetricsData(resources)


_current: Installed | None = None


def current() -> Installed | None:
    """Return the pipeline installed last (not yet retired)."""
    return _current


def _missing(extra: str, error: ImportError) -> RuntimeError:
    return RuntimeError(
        f"metrics={extra!r} needs the {extra} exporter: pip install 'moose-trace[{extra}]' "
        f"({error})"
    )


def _prometheus(
    port: int | None, host: str | None, durations: Durations
) -> tuple[MetricReader, str, Any]:
    try:
        from opentelemetry.exporter.prometheus import (  # noqa: PLC0415 - optional extra
            PrometheusMetricReader,
        )
        from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415
    except ImportError as error:
        raise _missing("prometheus", error) from error
    if port is None:
        text = os.environ.get(PROMETHEUS_PORT_ENV, "")
        try:
            port = int(text) if text else _DEFAULT_PORT
        except ValueError:
            raise ValueError(
                f"${PROMETHEUS_PORT_ENV} must be a port number, got {text!r}"
            ) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"metrics_port must be 0-65535, got {port}")
    host = host or os.environ.get(PROMETHEUS_HOST_ENV) or _DEFAULT_HOST
    # A registry of its own: configuring again (or twice in one process) never collides with
    # collectors registered before, and the endpoint serves exactly these metrics.
    registry = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(registry=registry)
    registry.register(_DurationCollector(durations))
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise OSError(
            f"cannot serve metrics on {host}:{port}: {error.strerror or error}; "
            "pass another metrics_port (0: any free port)"
        ) from error
    bound_port = server.server_port
    shown = f"[{host}]" if ":" in host else host
    return reader, f"http://{shown}:{bound_port}/metrics", server


def _otlp(durations: Durations, resource: Resource) -> MetricReader:
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter,
        )
    except ImportError as error:
        raise _missing("otlp", error) from error
    # The exporter and the reader read the standard OTEL_EXPORTER_OTLP_* and
    # OTEL_METRIC_EXPORT_* variables themselves.
    return PeriodicExportingMetricReader(_WithDurations(OTLPMetricExporter(), durations, resource))


def install(
    exporter: str | MetricReader, *, service: str | None, port: int | None, host: str | None
) -> Installed:
    """Make a ``MeterProvider`` exporting as asked and remember it as the current pipeline."""
    global _current  # noqa: PLW0603 - the process-wide pipeline, replaced as a whole
    server: Any = None
    url: str | None = None
    durations: Durations | None = None
    resource = Resource.create({"service.name": service} if service else {})
    if isinstance(exporter, MetricReader):
        reader, name = exporter, "reader"
    elif exporter == "prometheus":
        durations = Durations()
        reader, url, server = _prometheus(port, host, durations)
        name = "prometheus"
    elif exporter == "otlp":
        durations = Durations()
        reader, name = _otlp(durations, resource), "otlp"
    else:
        raise ValueError(
            f"metrics must be 'prometheus', 'otlp' or a MetricReader, got {exporter!r}"
        )
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    _current = Installed(
        provider=provider, exporter=name, url=url, server=server, durations=durations
    )
    return _current


def retire(installed: Installed) -> None:
    """Flush and shut down a pipeline and stop its server; never raises."""
    global _current  # noqa: PLW0603 - the process-wide pipeline
    if _current is installed:
        _current = None
    with contextlib.suppress(Exception):  # a failing exporter must not break reconfiguring
        installed.provider.shutdown()
    server = installed.server
    if server is not None:
        server.shutdown()
        server.server_close()
