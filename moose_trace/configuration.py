"""``configure``: logging, tracing and metrics in one call, with the defaults most apps want.

(The module is ``setup`` rather than ``configure`` so that ``moose_trace.configure``, the function
re-exported by the package, never shadows a module of the same name.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from moose_trace.logging.config import LoggingSetup, configure_logging
from moose_trace.metrics import MetricsSetup, configure_metrics
from moose_trace.tracing._otlp import otlp_span_exporter, span_exporters_from_env
from moose_trace.tracing.otel import configure_tracing, sdk_available

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["METRICS_EXPORTER_ENV", "Configuration", "configure"]

METRICS_EXPORTER_ENV = "OTEL_METRICS_EXPORTER"
"""``prometheus`` or ``otlp``: the metrics ``configure`` sets up when not told (``none``: none)."""


@dataclass(frozen=True)
class Configuration:
    """What ``configure`` set up."""

    logging: LoggingSetup
    """The logging setup: service, level, where events go."""
    tracer_provider: TracerProvider | None
    """The OpenTelemetry SDK provider with moose-trace ids, or ``None`` (no SDK, or not asked)."""
    metrics: MetricsSetup | None = None
    """The metrics pipeline (its provider, exporter and Prometheus URL), or ``None``."""


def configure(
    service: str | None = None,
    *,
    tracing: bool = True,
    exporter: SpanExporter | Literal["otlp"] | None = None,
    metrics: Literal["prometheus", "otlp"] | MetricReader | None = None,
    metrics_port: int | None = None,
    **logging_options: Any,
) -> Configuration:
    """Set up logging, tracing and metrics for a service: call it once at start-up.

    Logging as ``configure_logging(service, **logging_options)`` (JSON Lines to stdout and the
    daily file, stdlib bridged, secrets redacted, ``LOG_LEVEL`` honoured).

    Tracing, unless ``tracing=False``: when ``opentelemetry-sdk`` is installed, a global
    ``TracerProvider`` whose trace ids are the moose-trace ids, exporting to ``exporter`` if
    given (``"otlp"``: OTLP/HTTP configured by the ``OTEL_EXPORTER_OTLP_*`` variables), else to
    what the standard variables ask for: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``,
    ``none``), or OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set. Without the SDK, spans stay no-ops and log
    lines still carry the ids.

    Metrics (see ``moose_trace.metrics``): ``metrics="prometheus"`` serves them at
    ``http://127.0.0.1:<metrics_port>/metrics`` (9464 by default), ``"otlp"`` pushes them, a
    ``MetricReader`` reads them; default ``$OTEL_METRICS_EXPORTER``, else none.

    Idempotent: calling it again replaces the logging and metrics setups and reuses the tracer
    provider (adding an exporter only once).
    """
    environ = os.environ
    logging_setup = configure_logging(service, **logging_options)
    name = logging_setup.service
    provider = None
    if tracing and sdk_available():
        if exporter == "otlp":
            exporters = [otlp_span_exporter(environ)]
        elif exporter is not None:
            exporters = [exporter]
        else:
            exporters = span_exporters_from_env(environ)
        provider = configure_tracing(name, exporter=exporters[0] if exporters else None)
        for extra in exporters[1:]:
            configure_tracing(name, exporter=extra)
    chosen = metrics if metrics is not None else _metrics_from_env(environ)
    metrics_setup = (
        configure_metrics(chosen, service=name, port=metrics_port) if chosen is not None else None
    )
    return Configuration(logging=logging_setup, tracer_provider=provider, metrics=metrics_setup)


def _metrics_from_env(environ: Mapping[str, str]) -> Literal["prometheus", "otlp"] | None:
    chosen = environ.get(METRICS_EXPORTER_ENV, "").strip().lower()
    if chosen in ("", "none"):
        return None
    if chosen == "prometheus":
        return "prometheus"
    if chosen == "otlp":
        return "otlp"
    raise ValueError(f"{METRICS_EXPORTER_ENV}={chosen!r} is not supported: use prometheus or otlp")
