"""The part of the OpenTelemetry bridge that needs the SDK: imported only when it is used."""

from __future__ import annotations

import random
from weakref import WeakKeyDictionary

import uuid_utils
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Sampler

from moose_trace._fastpath import TRACE_ID_VAR
from moose_trace.tracing.context import bind_pending
from moose_trace.tracing.ids import trace_id_to_int

__all__ = ["TraceIdGenerator", "install_provider"]

_uuid7 = uuid_utils.uuid7
_getrandbits = random.getrandbits
# The exporters added to each provider, so that configuring again adds none twice.
_exporters: WeakKeyDictionary[TracerProvider, list[SpanExporter]] = WeakKeyDictionary()


class TraceIdGenerator(IdGenerator):
    """An OpenTelemetry ``IdGenerator`` whose trace ids are moose-trace ids (UUIDv7).

    Inside a ``trace_context`` a new root span takes that context's trace id, so the span and
    the log lines share one id even when the id came from a client or a Kafka header; elsewhere
    a new UUIDv7. Span ids are random 64-bit, as OpenTelemetry's own.
    """

    def __init__(self) -> None:
        self._last: tuple[str, int] = ("", 0)

    def generate_trace_id(self) -> int:
        """Return the current trace context's id as an int, else a new UUIDv7's."""
        current = TRACE_ID_VAR.get()
        if current is Ellipsis:
            current = bind_pending()  # a consumed record's, read only now
        if current is not Ellipsis and current is not None:
            last_text, last_int = self._last
            if current is last_text or current == last_text:
                return last_int
            try:
                value = trace_id_to_int(current)
            except (TypeError, ValueError):  # a trace_id bound by hand that is not an id
                return int(_uuid7().int)
            self._last = (current, value)
            return value
        return int(_uuid7().int)

    def generate_span_id(self) -> int:
        """Return a random non-zero 64-bit span id."""
        value = _getrandbits(64)
        while not value:
            value = _getrandbits(64)
        return value


def install_provider(
    service: str | None,
    *,
    exporter: SpanExporter | None,
    batch: bool,
    sampler: Sampler | None,
    set_global: bool,
) -> TracerProvider:
    """Do the work of ``moose_trace.tracing.otel.configure_tracing`` (callers hold its lock)."""
    current = otel_trace.get_tracer_provider() if set_global else None
    if isinstance(current, TracerProvider):
        provider = current
        if not isinstance(provider.id_generator, TraceIdGenerator):
            provider.id_generator = TraceIdGenerator()  # type: ignore[assignment]
    else:
        resource = Resource.create({"service.name": service} if service else {})
        provider = TracerProvider(
            resource=resource, id_generator=TraceIdGenerator(), sampler=sampler
        )
        if set_global:
            otel_trace.set_tracer_provider(provider)
    added = _exporters.setdefault(provider, [])
    if exporter is not None and not any(known is exporter for known in added):
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        added.append(exporter)
    return provider
