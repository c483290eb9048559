"""Span exporters from the standard OpenTelemetry environment variables (``configure``).

``OTEL_TRACES_EXPORTER`` picks the exporters (``otlp``, ``console``, ``none``; comma-separated);
when it is not set, setting ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is enough to export over OTLP. The OTLP exporter is the
OTLP/HTTP one of the ``otlp`` extra (``http/protobuf``, OpenTelemetry's default protocol);
it reads the endpoint, headers, timeout, compression and certificates from the same
``OTEL_EXPORTER_OTLP_*`` variables itself. ``grpc`` works when
``opentelemetry-exporter-otlp-proto-grpc`` is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["TRACES_EXPORTER_ENV", "otlp_span_exporter", "span_exporters_from_env"]

TRACES_EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
_ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROTOCOL_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def _protocol(environ: Mapping[str, str]) -> str:
    for name in _PROTOCOL_ENVS:
        value = environ.get(name, "").strip().lower()
        if value:
            return value
    return "http/protobuf"


def otlp_span_exporter(environ: Mapping[str, str]) -> SpanExporter:
    """Return an OTLP span exporter for the protocol the environment asks for.

    Raises ``RuntimeError`` naming the package to install when its exporter is missing, and
    ``ValueError`` for a protocol OpenTelemetry Python cannot speak.
    """
    protocol = _protocol(environ)
    if protocol == "http/protobuf":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )
        except ImportError as error:
            raise RuntimeError(
                f"exporting spans over OTLP needs: pip install 'moose-trace[otlp]' ({error})"
            ) from error
        exporter: SpanExporter = OTLPSpanExporter()
        return exporter
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError as error:
            raise RuntimeError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs: pip install "
                f"opentelemetry-exporter-otlp-proto-grpc (or use http/protobuf) ({error})"
            ) from error
        grpc_exporter: SpanExporter = GrpcSpanExporter()
        return grpc_exporter
    raise ValueError(
        f"OTLP protocol {protocol!r} is not supported here: use http/protobuf (default) or grpc"
    )


def span_exporters_from_env(environ: Mapping[str, str]) -> list[SpanExporter]:
    """Return the span exporters the standard variables ask for (often none)."""
    chosen = [
        name.strip().lower()
        for name in environ.get(TRACES_EXPORTER_ENV, "").split(",")
        if name.strip()
    ]
    if not chosen:
        chosen = ["otlp"] if any(environ.get(name) for name in _ENDPOINT_ENVS) else []
    if "none" in chosen:
        return []
    exporters: list[SpanExporter] = []
    for name in dict.fromkeys(chosen):
        if name == "otlp":
            exporters.append(otlp_span_exporter(environ))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(
                f"{TRACES_EXPORTER_ENV}={name!r} is not supported: use otlp, console or none"
            )
    return exporters
