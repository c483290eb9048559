"""Carry the trace id across process boundaries: HTTP headers, Kafka headers, any text carrier.

Incoming: ``X-Trace-Id`` (HTTP) or ``trace_id`` (Kafka) first, else W3C ``traceparent``; invalid
values count as absent and are reported (escaped, cut to 64 characters) so the caller can warn.
Outgoing: the id header plus ``traceparent``, from the active OpenTelemetry span when there is one,
else from the moose-trace context. The same logic is offered as an OpenTelemetry
``TextMapPropagator``, so it composes with whatever global propagators the user has set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter, TextMapPropagator, default_setter

from moose_trace.context import current_span_id, current_trace_id, new_span_id
from moose_trace.ids import parse_trace_id, trace_id_from_int, trace_id_to_int

__all__ = [
    "HTTP_TRACE_HEADER",
    "KAFKA_TRACE_HEADER",
    "TRACEPARENT_HEADER",
    "HeaderGetter",
    "IncomingTrace",
    "TraceIdPropagator",
    "escape_header_value",
    "extract_incoming",
    "extract_trace_id",
    "header_getter",
    "outgoing_trace",
    "parse_traceparent",
    "traceparent_for",
]

HTTP_TRACE_HEADER = "x-trace-id"
"""The HTTP header (any case on the wire) that carries the trace id in and out."""
KAFKA_TRACE_HEADER = "trace_id"
"""The Kafka message header that carries the trace id (UTF-8 bytes, canonical text)."""
TRACEPARENT_HEADER = "traceparent"
"""The W3C Trace Context header; its trace-id is the trace id's 32 hex digits."""

_ID_HEADERS = (HTTP_TRACE_HEADER, KAFKA_TRACE_HEADER)
_ESCAPED_MAX = 64
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_MAX_TRACEPARENT = 512


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _key_text(key: Any) -> str | None:
    if isinstance(key, str):
        return key.lower()
    if isinstance(key, (bytes, bytearray)):
        try:
            return bytes(key).decode("latin-1").lower()
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            return None
    return None


def _pairs(carrier: Any) -> Iterable[tuple[Any, Any]]:
    if carrier is None:
        return ()
    if isinstance(carrier, Mapping):
        return carrier.items()
    items = getattr(carrier, "items", None)
    if callable(items):  # dict-likes that are not Mappings (starlette Headers, email.Message)
        try:
            return list(items())
        except Exception:
            return ()
    if isinstance(carrier, (str, bytes, bytearray)):
        return ()
    try:
        return [pair for pair in carrier if isinstance(pair, tuple) and len(pair) == 2]
    except TypeError:
        return ()


def _raw_values(carrier: Any, key: str) -> list[Any]:
    wanted = key.lower()
    found: list[Any] = []
    for name, value in _pairs(carrier):
        if _key_text(name) != wanted:
            continue
        if isinstance(value, (list, tuple)):
            found.extend(value)
        else:
            found.append(value)
    return found


class HeaderGetter(Getter[Any]):
    """An OpenTelemetry ``Getter`` for every header collection this SDK meets.

    Reads dicts and dict-likes, ASGI raw header lists (``[(b"name", b"value")]``), and Kafka
    header lists (``[("name", b"value")]``, kafka-python and confluent-kafka alike). Names match
    case-insensitively; duplicate names yield every value; ``None`` values and values that are not
    UTF-8 are left out. Never raises.
    """

    def get(self, carrier: Any, key: str) -> list[str] | None:
        """Return the text values stored under ``key``, or ``None`` when there are none."""
        values = [text for text in map(_as_text, _raw_values(carrier, key)) if text is not None]
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        """Return every header name in the carrier, lowercased."""
        return [name for name in (_key_text(key) for key, _ in _pairs(carrier)) if name]


header_getter = HeaderGetter()
"""The shared ``HeaderGetter`` instance."""


def escape_header_value(value: Any) -> str:
    """Return ``value`` made safe to log: cut to 64 characters, control and non-ASCII escaped."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value[:_ESCAPED_MAX])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # shown byte by byte: \xff, once escaped
            text = raw.decode("latin-1")
    else:
        text = str(value)[:_ESCAPED_MAX]
    return text.encode("unicode_escape").decode("ascii")[:_ESCAPED_MAX]


@dataclass(frozen=True, slots=True)
class IncomingTrace:
    """What a carrier said about the trace: the id to continue, its parent span, and rejects."""

    trace_id: str | None
    """The valid incoming trace id (canonical), or ``None`` when the carrier had none."""
    parent_span_id: str | None = None
    """The caller's span id from ``traceparent`` when it belongs to ``trace_id``."""
    sampled: bool = True
    """The ``traceparent`` sampled flag (true when absent)."""
    rejected: str | None = None
    """An invalid id value the carrier held, escaped and cut for a warning log line."""


@dataclass(frozen=True, slots=True)
class Traceparent:
    """A parsed W3C ``traceparent``."""

    trace_id: str
    span_id: str
    sampled: bool


def parse_traceparent(value: str | bytes | None) -> Traceparent | None:
    """Parse a W3C ``traceparent`` value; ``None`` for anything malformed or reserved.

    Version ``ff``, an all-zero trace id or span id, and upper-case hex are refused, as the W3C
    Trace Context spec requires; later versions are read by their version-00 prefix.
    """
    text = _as_text(value)
    if text is None or len(text) > _MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.fullmatch(text)
    if match is None:
        return None
    version, hex_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id = parse_trace_id(hex_id)
    if trace_id is None or span_id == "0" * 16:
        return None
    return Traceparent(trace_id, span_id, bool(int(flags, 16) & 1))


def _undecodable(carrier: Any, key: str) -> str | None:
    """Return the first value under ``key`` that is not text (not UTF-8), escaped, or ``None``.

    ``HeaderGetter`` leaves such values out; extraction still reports them as rejected.
    """
    for raw in _raw_values(carrier, key):
        if raw is not None and _as_text(raw) is None:
            return escape_header_value(raw)
    return None


def extract_incoming(
    carrier: Any, getter: Getter[Any] = header_getter, id_headers: Iterable[str] = _ID_HEADERS
) -> IncomingTrace:
    """Read the trace from a carrier: the id header first, else ``traceparent``. Never raises.

    With duplicate headers the first valid value wins. An id header that holds no valid id is
    reported in ``rejected`` (and ``traceparent`` is still tried), so a bad client value is
    replaced, logged once by the caller, and never echoed back.
    """
    rejected: str | None = None
    trace_id: str | None = None
    try:
        for header in id_headers:
            for raw in getter.get(carrier, header) or ():
                trace_id = parse_trace_id(raw)
                if trace_id is not None:
                    break
                if rejected is None:
                    rejected = escape_header_value(raw)
            if trace_id is not None:
                break
            if rejected is None and getter is header_getter:
                rejected = _undecodable(carrier, header)
        parent = None
        for raw in getter.get(carrier, TRACEPARENT_HEADER) or ():
            parent = parse_traceparent(raw)
            if parent is not None:
                break
    except Exception:
        return IncomingTrace(trace_id, rejected=rejected)
    if parent is None:
        return IncomingTrace(trace_id, rejected=rejected)
    if trace_id is None:
        return IncomingTrace(parent.trace_id, parent.span_id, parent.sampled, rejected)
    if parent.trace_id == trace_id:
        return IncomingTrace(trace_id, parent.span_id, parent.sampled, rejected)
    return IncomingTrace(trace_id, rejected=rejected)


def extract_trace_id(carrier: Any) -> str | None:
    """Return the valid trace id a header collection carries, or ``None``. Never raises."""
    return extract_incoming(carrier).trace_id


def outgoing_trace(context: Context | None = None) -> tuple[str, str] | None:
    """Return ``(trace_id, span_id)`` to send onward, or ``None`` outside any trace.

    The active OpenTelemetry span wins when it is valid (its trace id is the trace id when the
    SDK is configured by moose-trace); otherwise the moose-trace context's ids are used.
    """
    span_context = otel_trace.get_current_span(context).get_span_context()
    if span_context.is_valid:
        return trace_id_from_int(span_context.trace_id), f"{span_context.span_id:016x}"
    trace_id = current_trace_id()
    if trace_id is None:
        return None
    return trace_id, current_span_id() or new_span_id()


def traceparent_for(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """Return the W3C ``traceparent`` value for a trace id and span id."""
    return f"00-{trace_id.replace('-', '')}-{span_id}-{'01' if sampled else '00'}"


class TraceIdPropagator(TextMapPropagator):
    """An OpenTelemetry propagator for the moose-trace id header and ``traceparent``.

    ``extract`` turns an incoming id into a remote parent span context, so spans started under
    it share the trace id; ``inject`` writes the id header (``X-Trace-Id`` by default, or
    ``trace_id`` for Kafka) and ``traceparent``. Register it next to others with OpenTelemetry's
    ``CompositePropagator``.
    """

    def __init__(self, id_header: str = HTTP_TRACE_HEADER) -> None:
        self._id_header = id_header

    def extract(
        self,
        carrier: Any,
        context: Context | None = None,
        getter: Getter[Any] = header_getter,
    ) -> Context:
        """Return ``context`` with the carrier's trace as the remote parent span (if any)."""
        incoming = extract_incoming(carrier, getter, (self._id_header, *_ID_HEADERS))
        if incoming.trace_id is None:
            return context if context is not None else Context()
        span_context = otel_trace.SpanContext(
            trace_id=trace_id_to_int(incoming.trace_id),
            span_id=int(incoming.parent_span_id or new_span_id(), 16),
            is_remote=True,
            trace_flags=otel_trace.TraceFlags(
                otel_trace.TraceFlags.SAMPLED if incoming.sampled else otel_trace.TraceFlags.DEFAULT
            ),
        )
        return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(span_context), context)

    def inject(
        self,
        carrier: Any,
        context: Context | None = None,
        setter: Setter[Any] = default_setter,
    ) -> None:
        """Write the id header and ``traceparent`` for the current (or given) context."""
        ids = outgoing_trace(context)
        if ids is None:
            return
        trace_id, span_id = ids
        setter.set(carrier, self._id_header, trace_id)
        setter.set(carrier, TRACEPARENT_HEADER, traceparent_for(trace_id, span_id))

    @property
    def fields(self) -> set[str]:
        """The header names ``inject`` writes."""
        return {self._id_header, TRACEPARENT_HEADER}
