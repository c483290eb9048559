"""Kafka message headers: write the trace context into them, read it back out. Never raises.

Producer side: header ``trace_id`` (canonical text, UTF-8) and ``traceparent``, written first so
consumers find them at once, then ``tracestate`` and ``baggage`` when the trace has them; the
caller's own headers follow, unchanged. Consumer side: ``moose_trace.tracing.propagation``'s one
parser and its rules (a valid ``traceparent`` decides the trace, else ``trace_id``); an
invalid value counts as absent. Works on confluent-kafka messages (``.headers()``), kafka-python
and aiokafka records (``.headers``), header lists and dicts, without importing any Kafka client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moose_trace.tracing.baggage import BAGGAGE_HEADER
from moose_trace.tracing.context import new_span_id
from moose_trace.tracing.ids import new_trace_id, parse_trace_id
from moose_trace.tracing.incoming import collect_kafka, resolve_found
from moose_trace.tracing.propagation import (
    KAFKA_TRACE_HEADER,
    TRACEPARENT_HEADER,
    IncomingTrace,
    OutgoingTrace,
    extract_incoming,
    header_getter,
    outgoing_context,
    traceparent_for,
)
from moose_trace.tracing.tracestate import TRACESTATE_HEADER

__all__ = [
    "KafkaHeaders",
    "extract_trace_id",
    "incoming_trace",
    "inject_headers",
    "message_fields",
    "message_headers",
    "trace_headers",
    "traced_headers",
    "usual_trace_ids",
]

KafkaHeaders = list[tuple[str, bytes | None]]
"""Headers as confluent-kafka takes and returns them: ``[(name, value bytes or None)]``."""

_TRACE_HEADERS = frozenset(
    {KAFKA_TRACE_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER, BAGGAGE_HEADER}
)
_KAFKA_ID_HEADERS = (KAFKA_TRACE_HEADER,)
_NOT_INCOMING = IncomingTrace(None)
_MISSING = object()
_last_pair: tuple[str, str, int, tuple[tuple[str, bytes], tuple[str, bytes]]] = (
    "",
    "",
    0,
    (("", b""),) * 2,
)


def _header_name(name: Any) -> str:
    if isinstance(name, str):
        return name
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name).decode("utf-8", "replace")
    return str(name)


def header_bytes(value: Any) -> bytes | None:
    """A header value as Kafka carries it: bytes (``None`` stays ``None``; text is UTF-8)."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


def _user_headers(headers: Any) -> KafkaHeaders:
    """The caller's headers as a fresh list, minus any trace headers (they get replaced)."""
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    kept: KafkaHeaders = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"Kafka headers must be (name, value) pairs, not {pair!r:.80}")
        name, value = pair
        text = _header_name(name)
        if text.lower() not in _TRACE_HEADERS:
            kept.append((text, header_bytes(value)))
    return kept


def _trace_pair(
    trace_id: str, span_id: str, flags: int
) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    global _last_pair  # noqa: PLW0603 - a one-entry cache, replaced atomically
    last = _last_pair
    if last[0] == trace_id and last[1] == span_id and last[2] == flags:
        return last[3]
    pair = (
        (KAFKA_TRACE_HEADER, trace_id.encode()),
        (TRACEPARENT_HEADER, traceparent_for(trace_id, span_id, flags=flags).encode()),
    )
    _last_pair = (trace_id, span_id, flags, pair)
    return pair


def _trace_headers(outgoing: OutgoingTrace) -> KafkaHeaders:
    carrier: KafkaHeaders = [
        *_trace_pair(outgoing.trace_id, outgoing.span_id, outgoing.trace_flags)
    ]
    if outgoing.tracestate:
        carrier.append((TRACESTATE_HEADER, outgoing.tracestate.encode()))
    if outgoing.baggage:
        baggage = outgoing.baggage_header
        if baggage:
            carrier.append((BAGGAGE_HEADER, baggage.encode()))
    return carrier


def trace_headers(trace_id: str, span_id: str) -> KafkaHeaders:
    """Return the ``trace_id`` and ``traceparent`` headers (sampled) for known ids.

    What ``inject_headers`` writes first, for a caller that holds the ids already (a record's
    outputs sent after its context has ended). ``trace_id`` must be canonical, ``span_id`` 16
    lowercase hex digits.
    """
    # Built here rather than through the one-entry cache: each record's ids are new.
    return [
        (KAFKA_TRACE_HEADER, trace_id.encode()),
        (TRACEPARENT_HEADER, f"00-{trace_id.replace('-', '')}-{span_id}-01".encode()),
    ]


def inject_headers(headers: Any = None) -> KafkaHeaders:
    """Return Kafka headers carrying the current trace context, plus the caller's own headers.

    ``headers`` may be ``None``, a list of ``(name, value)`` pairs or a dict; names become text,
    values bytes (text is UTF-8 encoded, ``None`` stays ``None``). ``trace_id`` and
    ``traceparent`` (with the trace flags as received) come first, then ``tracestate`` and
    ``baggage`` when the trace has them, from the active OpenTelemetry span or the moose-trace
    context (as ``TraceIdPropagator(id_header="trace_id")`` writes them); trace headers the
    caller passed are replaced, never duplicated. Outside any trace context only the caller's
    headers are returned (``traced_headers`` starts a new trace instead). Raises ``TypeError``
    only for a ``headers`` argument that is not a collection of pairs.
    """
    outgoing = outgoing_context()
    carrier: KafkaHeaders = _trace_headers(outgoing) if outgoing is not None else []
    if headers:
        carrier.extend(_user_headers(headers))
    return carrier


def traced_headers(headers: Any = None) -> tuple[KafkaHeaders, str]:
    """Return ``(headers, trace_id)``: ``inject_headers(headers)`` and the id it wrote.

    Outside any trace context a new trace is started for the record, so a record produced by a
    script or a batch job can still be followed downstream.
    """
    outgoing = outgoing_context() or OutgoingTrace(new_trace_id(), new_span_id())
    carrier = _trace_headers(outgoing)
    if headers:
        carrier.extend(_user_headers(headers))
    return carrier, outgoing.trace_id


def message_headers(message_or_headers: Any) -> Any:
    """Return the header collection of a Kafka message or record (or the argument itself).

    A confluent-kafka ``Message`` has a ``headers()`` method, a kafka-python or aiokafka record a
    ``headers`` attribute; a list or dict of headers is returned as it is. ``None`` when the
    message cannot tell (a broken object never raises here).
    """
    if message_or_headers is None or isinstance(message_or_headers, (list, Mapping)):
        return message_or_headers
    try:
        headers = getattr(message_or_headers, "headers", _MISSING)
        if headers is _MISSING:  # a tuple of pairs, or something the header reader will refuse
            return message_or_headers
        return headers() if callable(headers) else headers
    except Exception:
        return None


_SPAN_HEX = re.compile("[0-9a-f]{16}").fullmatch
_ZERO_SPAN_TEXT = "0" * 16


_ID_BYTES = 36
_TRACEPARENT_BYTES = 55
_LOWER_HEX_AND_HYPHEN = b"0123456789abcdef-"
_ZERO_SPAN_BYTES = b"0" * 16
_ZERO_ID_BYTES = b"00000000-0000-0000-0000-000000000000"


def _producer_pair(an_id: bytes, parent: bytes) -> bool:
    """Whether 36 + 55 bytes are exactly what this library's producers write, by byte checks.

    A canonical lowercase non-zero id and ``00-<that id's hex>-<non-zero span>-01``: the same
    verdict ``parse_trace_id`` and the ``traceparent`` rules give such a pair, without building
    any text. Anything else (another spelling, other flags) is left to the general rules.
    """
    return (
        parent[:3] == b"00-"
        and parent[52:] == b"-01"
        and parent[35] == 45  # "-"
        and parent.count(b"-") == 3  # so 3..35 and 36..52 hold no hyphen
        and not parent.translate(None, _LOWER_HEX_AND_HYPHEN)
        and an_id[8] == an_id[13] == an_id[18] == an_id[23] == 45
        # The id's 32 other bytes equal the traceparent's lowercase hex (an extra hyphen
        # would make them fewer than 32).
        and an_id.replace(b"-", b"") == parent[3:35]
        and an_id != _ZERO_ID_BYTES
        and parent[36:52] != _ZERO_SPAN_BYTES
    )


def usual_trace_ids(headers: Any) -> tuple[str, str | None] | None:
    """A record's ``(trace_id, parent span id)`` when its header list has a usual shape, else
    ``None`` (then ``incoming_trace`` reads it by the general rules). Never raises.

    The usual shapes, read without the general carrier handling: only ``trace_id`` with a
    valid id (what the seed plan's ingest writes; no parent), or exactly ``trace_id`` then
    ``traceparent`` of that same trace, version 00, flags 01 (what this library's producers
    write; the parent is the ``traceparent``'s span). Both give what ``incoming_trace`` would,
    with nothing else to send on.
    """
    if type(headers) is not list:
        return None
    count = len(headers)
    if count == 1:
        first = headers[0]
        if type(first) is not tuple or len(first) != 2 or first[0] != KAFKA_TRACE_HEADER:
            return None
        value = first[1]
        if type(value) is not bytes or len(value) != _ID_BYTES:
            return None
        trace_id = parse_trace_id(value.decode("latin-1"))
        return None if trace_id is None else (trace_id, None)
    if count != 2:
        return None
    try:
        (id_name, an_id), (parent_name, parent) = headers
    except (TypeError, ValueError):  # not pairs
        return None
    if (
        id_name != KAFKA_TRACE_HEADER
        or parent_name != TRACEPARENT_HEADER
        or type(an_id) is not bytes
        or type(parent) is not bytes
        or len(an_id) != _ID_BYTES
        or len(parent) != _TRACEPARENT_BYTES
    ):
        return None
    if _producer_pair(an_id, parent):  # exactly what our producers write: no text checks
        return an_id.decode("ascii"), parent[36:52].decode("ascii")
    trace_id = parse_trace_id(an_id.decode("latin-1"))
    if trace_id is None:
        return None
    text = parent.decode("latin-1")
    span = text[36:52]
    if (
        text[:3] != "00-"
        or text[52:] != "-01"
        or text[35] != "-"
        or text[3:35] != trace_id.replace("-", "")
        or _SPAN_HEX(span) is None
        or span == _ZERO_SPAN_TEXT
    ):
        return None
    return trace_id, span


def incoming_trace(message_or_headers: Any) -> IncomingTrace:
    """Return what a Kafka message or header collection says about its trace. Never raises.

    Exactly ``extract_incoming(headers, id_headers=("trace_id",))``: ids, parent span, flags,
    ``tracestate`` and baggage by its rules; duplicate headers, ``None`` values and bytes that
    are not UTF-8 are skipped, and a rejected id is reported escaped. Header lists of
    ``(str, bytes)`` pairs (every Kafka client's) are read without the general carrier handling.
    """
    headers = message_headers(message_or_headers)
    if not headers:
        return _NOT_INCOMING
    if type(headers) is list:
        collected = collect_kafka(headers)
        if collected is not None:  # the usual shape: read without the general carrier handling
            return resolve_found(collected)
    return extract_incoming(headers, header_getter, _KAFKA_ID_HEADERS)


def extract_trace_id(message_or_headers: Any) -> str | None:
    """Return the valid trace id of a Kafka message or header collection, or ``None``.

    Accepts a confluent-kafka ``Message``, a kafka-python/aiokafka record, a header list or a
    dict. A valid ``traceparent`` decides, else header ``trace_id``. Headers may be ``None``, hold
    duplicate names, ``None`` values or bytes that are not UTF-8: all handled, never raises;
    an invalid id counts as absent.
    """
    return incoming_trace(message_or_headers).trace_id


def message_fields(message: Any) -> dict[str, Any]:
    """Return ``kafka_topic``, ``kafka_partition``, ``kafka_offset`` of a message, for logging.

    Reads confluent-kafka messages (methods) and kafka-python/aiokafka records (attributes);
    fields the message does not know (``None``, missing, broken) are left out. Never raises.
    """
    fields: dict[str, Any] = {}
    for key, attribute in (
        ("kafka_topic", "topic"),
        ("kafka_partition", "partition"),
        ("kafka_offset", "offset"),
    ):
        try:
            value = getattr(message, attribute, None)
            if callable(value):
                value = value()
        except Exception:
            continue
        if value is not None:
            fields[key] = value
    return fields
