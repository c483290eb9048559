"""The part of ``moose_trace.metrics`` that needs the SDK and exporters: imported only on use."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

__all__ = ["Installed", "current", "install", "retire"]

PROMETHEUS_PORT_ENV = "OTEL_EXPORTER_PROMETHEUS_PORT"
PROMETHEUS_HOST_ENV = "OTEL_EXPORTER_PROMETHEUS_HOST"
_DEFAULT_PORT = 9464
_DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class Installed:
    """One installed metrics pipeline: the provider, what exports it, the server if any."""

    provider: MeterProvider
    exporter: str
    url: str | None
    server: Any


_current: Installed | None = None


def current() -> Installed | None:
    """Return the pipeline installed last (not yet retired)."""
    return _current


def _missing(extra: str, error: ImportError) -> RuntimeError:
    return RuntimeError(
        f"metrics={extra!r} needs the {extra} exporter: pip install 'moose-trace[{extra}]' "
        f"({error})"
    )


def _prometheus(port: int | None, host: str | None) -> tuple[MetricReader, str, Any]:
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


def _otlp() -> MetricReader:
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter,
        )
    except ImportError as error:
        raise _missing("otlp", error) from error
    # The exporter and the reader read the standard OTEL_EXPORTER_OTLP_* and
    # OTEL_METRIC_EXPORT_* variables themselves.
    return PeriodicExportingMetricReader(OTLPMetricExporter())


def install(
    exporter: str | MetricReader, *, service: str | None, port: int | None, host: str | None
) -> Installed:
    """Make a ``MeterProvider`` exporting as asked and remember it as the current pipeline."""
    global _current  # noqa: PLW0603 - the process-wide pipeline, replaced as a whole
    server: Any = None
    url: str | None = None
    if isinstance(exporter, MetricReader):
        reader, name = exporter, "reader"
    elif exporter == "prometheus":
        reader, url, server = _prometheus(port, host)
        name = "prometheus"
    elif exporter == "otlp":
        reader, name = _otlp(), "otlp"
    else:
        raise ValueError(
            f"metrics must be 'prometheus', 'otlp' or a MetricReader, got {exporter!r}"
        )
    resource = Resource.create({"service.name": service} if service else {})
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    _current = Installed(provider=provider, exporter=name, url=url, server=server)
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
