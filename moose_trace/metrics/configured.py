"""Which instruments record: the ones ``configure_metrics`` set up, else OpenTelemetry's global
``MeterProvider``'s, else none (``operation_metrics``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import metrics as otel_metrics

from moose_trace._fastpath import meter_provider_reader
from moose_trace.metrics.instruments import DEFAULT_NAME_LIMIT, OperationMetrics

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader

__all__ = ["MetricsSetup", "configure_metrics", "operation_metrics", "shutdown_metrics"]

_explicit: OperationMetrics | None = None
_from_global: tuple[object, OperationMetrics | None] = (None, None)
_lock = threading.Lock()


# OpenTelemetry's global ``MeterProvider``: ``None`` until ``set_meter_provider``
# (``get_meter_provider`` answers with a proxy either way).
_global_provider = meter_provider_reader()


def operation_metrics() -> OperationMetrics | None:
    """Return the instruments to record with, or ``None`` when no ``MeterProvider`` is set.

    ``configure_metrics``'s provider first, else OpenTelemetry's global one.
    """
    explicit = _explicit
    if explicit is not None:
        return explicit
    provider = _global_provider()
    if provider is None:
        return None
    cached = _from_global
    if cached[0] is not provider:
        with _lock:
            cached = _from_global_for(provider)
    return cached[1]


def _from_global_for(provider: Any) -> tuple[object, OperationMetrics | None]:
    global _from_global  # noqa: PLW0603 - a one-entry cache, replaced as a whole
    if _from_global[0] is not provider:
        try:
            _from_global = (provider, OperationMetrics(provider))
        except Exception:  # a provider that cannot make our instruments: record nothing
            _from_global = (provider, None)
    return _from_global


@dataclass(frozen=True)
class MetricsSetup:
    """What ``configure_metrics`` set up."""

    provider: MeterProvider
    """The OpenTelemetry SDK ``MeterProvider`` the instruments record to."""
    exporter: str
    """``prometheus``, ``otlp`` or ``reader`` (your own ``MetricReader``)."""
    url: str | None
    """Where Prometheus scrapes, ``http://<host>:<port>/metrics``; ``None`` for other exporters."""


def configure_metrics(
    exporter: Literal["prometheus", "otlp"] | MetricReader,
    *,
    service: str | None = None,
    port: int | None = None,
    host: str | None = None,
    name_limit: int = DEFAULT_NAME_LIMIT,
    set_global: bool = True,
) -> MetricsSetup:
    """Record moose-trace's metrics to an SDK ``MeterProvider`` exported as asked.

    - ``"prometheus"``: serve Prometheus text at ``http://<host>:<port>/metrics`` from a
      background thread. ``port`` defaults to ``$OTEL_EXPORTER_PROMETHEUS_PORT``, else 9464
      (``0``: any free port; ``MetricsSetup.url`` says which); ``host`` to
      ``$OTEL_EXPORTER_PROMETHEUS_HOST``, else ``127.0.0.1`` (use ``0.0.0.0`` for a scraper on
      another machine). Needs the ``prometheus`` extra.
    - ``"otlp"``: push every ``$OTEL_METRIC_EXPORT_INTERVAL`` ms (60 s) over OTLP/HTTP, to
      ``$OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` or ``$OTEL_EXPORTER_OTLP_ENDPOINT`` (default
      ``http://localhost:4318``), with the other standard ``OTEL_EXPORTER_OTLP_*`` settings.
      Needs the ``otlp`` extra.
    - a ``MetricReader`` (e.g. the SDK's ``InMemoryMetricReader``): read by it.

    ``service`` is the ``service.name`` resource attribute. With ``set_global`` the provider
    also becomes OpenTelemetry's global one when none is set yet, so your own instruments
    share it. Calling again replaces the previous setup (its server is stopped).
    """
    global _explicit  # noqa: PLW0603 - the process-wide metrics setup
    from moose_trace.metrics import exporters  # noqa: PLC0415 - the SDK is optional: import it on use

    with _lock:
        previous = exporters.current()
        made = exporters.install(exporter, service=service, port=port, host=host)
        _explicit = OperationMetrics(
            made.provider, name_limit=name_limit, durations_in_process=made.durations is not None
        )
        if made.durations is not None:
            made.durations.metrics = _explicit
        if set_global and _global_provider() is None:
            otel_metrics.set_meter_provider(made.provider)
        if previous is not None:
            exporters.retire(previous)
    return MetricsSetup(provider=made.provider, exporter=made.exporter, url=made.url)


def shutdown_metrics() -> None:
    """Stop recording to ``configure_metrics``'s provider: flush it, stop its server."""
    global _explicit  # noqa: PLW0603 - the process-wide metrics setup
    from moose_trace.metrics import exporters  # noqa: PLC0415 - the SDK is optional: import it on use

    with _lock:
        _explicit = None
        previous = exporters.current()
        if previous is not None:
            exporters.retire(previous)
