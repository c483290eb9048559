"""``configure``: logging and tracing in one call, with the defaults most apps want.

(The module is ``setup`` rather than ``configure`` so that ``moose_trace.configure``, the function
re-exported by the package, never shadows a module of the same name.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moose_trace.log_config import LoggingSetup, configure_logging
from moose_trace.otel import configure_tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["Configuration", "configure"]


@dataclass(frozen=True)
class Configuration:
    """What ``configure`` set up."""

    logging: LoggingSetup
    """The logging setup: service, level, where events go."""
    tracer_provider: TracerProvider | None
    """The OpenTelemetry SDK provider with moose-trace ids, or ``None`` (no SDK, or not asked)."""


def configure(
    service: str | None = None,
    *,
    tracing: bool = True,
    exporter: SpanExporter | None = None,
    **logging_options: Any,
) -> Configuration:
    """Set up logging and tracing for a service: call it once at start-up.

    Logging as ``configure_logging(service, **logging_options)`` (JSON Lines to stdout and the
    daily file, stdlib bridged, secrets redacted, ``LOG_LEVEL`` honoured). Tracing, unless
    ``tracing=False``: when ``opentelemetry-sdk`` is installed, a global ``TracerProvider`` whose
    trace ids are the moose-trace ids, exporting to ``exporter`` if given; without the SDK, spans
    stay no-ops and log lines still carry the ids. Idempotent: calling it again replaces the
    logging setup and reuses the tracer provider.
    """
    logging_setup = configure_logging(service, **logging_options)
    provider = configure_tracing(logging_setup.service, exporter=exporter) if tracing else None
    return Configuration(logging=logging_setup, tracer_provider=provider)
