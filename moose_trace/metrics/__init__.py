"""Metrics: what every traced call and request did, counted through the OpenTelemetry metrics API.

The decorators (``traced_*``), ``TraceMiddleware`` and ``traced_messages`` record:

- ``moose.operations``, counter (``{operation}``) and ``moose.operation.duration``, histogram
  (seconds): attributes ``type``, ``layer``, ``status``, ``error_category``, ``name``;
- ``moose.records`` (``{record}``) and ``moose.bytes`` (``By``, when the size is known: bytes,
  Kafka values), counters: ``type``, ``layer``, ``name``, ``direction`` (``in`` or ``out``);
- ``moose.consumer.lag``, gauge (``{message}``): ``kafka_topic``, ``kafka_partition``,
  ``consumer_group``.

``status`` is ``success``, ``failed`` or ``cancelled`` (for requests also ``client_error`` for
a 4xx); ``error_category`` is set on failures only, with the log lines' categories. ``name`` is
the primitive's name (``UserEvent``, ``leaderboard``) while fewer than ``name_limit`` distinct
names (default 100) have been seen; later names are recorded as ``other`` so that a bug naming
things by record (an id in a path) cannot blow up the number of series.

Nothing is recorded while no ``MeterProvider`` is set (OpenTelemetry's default): a traced call
then pays one module-global read. ``configure(metrics="prometheus")`` (or ``configure_metrics``)
sets one up: Prometheus text at ``http://127.0.0.1:9464/metrics``, or OTLP push with
``metrics="otlp"``; a ``MeterProvider`` you set yourself with
``opentelemetry.metrics.set_meter_provider`` is used as well.
"""

from moose_trace.metrics.configured import (
    MetricsSetup,
    configure_metrics,
    operation_metrics,
    shutdown_metrics,
)
from moose_trace.metrics.instruments import (
    BYTES,
    CONSUMER_LAG,
    DEFAULT_METRICS_PORT,
    DEFAULT_NAME_LIMIT,
    DURATION,
    DURATION_BUCKETS,
    DURATION_DESCRIPTION,
    METER_NAME,
    OPERATIONS,
    OTHER_NAME,
    RECORDS,
    DurationPoint,
    OperationMetrics,
    Series,
)

__all__ = [
    "BYTES",
    "CONSUMER_LAG",
    "DEFAULT_METRICS_PORT",
    "DEFAULT_NAME_LIMIT",
    "DURATION",
    "DURATION_BUCKETS",
    "DURATION_DESCRIPTION",
    "METER_NAME",
    "OPERATIONS",
    "OTHER_NAME",
    "RECORDS",
    "DurationPoint",
    "MetricsSetup",
    "OperationMetrics",
    "Series",
    "configure_metrics",
    "operation_metrics",
    "shutdown_metrics",
]
