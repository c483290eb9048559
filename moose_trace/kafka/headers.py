"""Kafka message headers: write the trace context into them, read it back out. Never raises.

Producer side: header ``trace_id`` (canonical text, UTF-8) and ``traceparent``, written first so
consumers find them at once; the caller's own headers follow, unchanged. Consumer side: header
``trace_id``, else ``traceparent``; an invalid value counts as absent. Works on confluent-kafka
messages (``.headers()``), kafka-python and aiokafka records (``.headers``), header lists and
dicts, without importing any Kafka client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from moose_trace.context import new_span_id
from moose_trace.ids import new_trace_id, parse_trace_id
from moose_trace.propagation import (
    KAFKA_TRACE_HEADER,
    TRACEPARENT_HEADER,
    IncomingTrace,
    extract_incoming,
    header_getter,
    outgoing_trace,
    parse_traceparent,
    traceparent_for,
)

__all__ = [
    "KafkaHeaders",
    "extract_trace_id",
    "incoming_trace",
    "inject_headers",
    "message_fields",
    "message_headers",
    "traced_headers",
]

KafkaHeaders = list[tuple[str, bytes | None]]
"""Headers as confluent-kafka takes and returns them: ``[(name, value bytes or None)]``."""

_TRACE_HEADERS = frozenset({KAFKA_TRACE_HEADER, TRACEPARENT_HEADER})
_KAFKA_ID_HEADERS = (KAFKA_TRACE_HEADER,)
_NOT_INCOMING = IncomingTrace(None)
_MISSING = object()
# The last valid id header seen and its canonical text: the records of one ingest request share
# one trace id, so a consumer meets the same bytes many times in a row.
_last_seen: tuple[bytes, str | None] = (b"", None)
_last_pair: tuple[str, str, tuple[tuple[str, bytes], tuple[str, bytes]]] = (
    "",
    "",
    (("", b""),) * 2,
)


def _header_name(name: Any) -> str:
    if isinstance(name, str):
        return name
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name).decode("utf-8", "replace")
    return str(name)


def _header_value(value: Any) -> bytes | None:
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
            kept.append((text, _header_value(value)))
    return kept


def _trace_pair(trace_id: str, span_id: str) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    global _last_pair  # noqa: PLW0603 - a one-entry cache, replaced atomically
    last = _last_pair
    if last[0] == trace_id and last[1] == span_id:
        return last[2]
    pair = (
        (KAFKA_TRACE_HEADER, trace_id.encode()),
        (TRACEPARENT_HEADER, traceparent_for(trace_id, span_id).encode()),
    )
    _last_pair = (trace_id, span_id, pair)
    return pair


def inject_headers(headers: Any = None) -> KafkaHeaders:
    """Return Kafka headers carrying the current trace context, plus the caller's own headers.

    ``headers`` may be ``None``, a list of ``(name, value)`` pairs or a dict; names become text,
    values bytes (text is UTF-8 encoded, ``None`` stays ``None``). ``trace_id`` and
    ``traceparent`` come first, from the active OpenTelemetry span or the moose-trace context
    (as ``TraceIdPropagator(id_header="trace_id")`` writes them); trace headers the caller
    passed are replaced, never duplicated. Outside any trace context only the caller's headers
    are returned (``traced_headers`` starts a new trace instead). Raises ``TypeError`` only for
    a ``headers`` argument that is not a collection of pairs.
    """
    ids = outgoing_trace()
    carrier: KafkaHeaders = [*_trace_pair(*ids)] if ids is not None else []
    if headers:
        carrier.extend(_user_headers(headers))
    return carrier


def traced_headers(headers: Any = None) -> tuple[KafkaHeaders, str]:
    """Return ``(headers, trace_id)``: ``inject_headers(headers)`` and the id it wrote.

    Outside any trace context a new trace is started for the record, so a record produced by a
    script or a batch job can still be followed downstream.
    """
    ids = outgoing_trace()
    trace_id, span_id = ids if ids is not None else (new_trace_id(), new_span_id())
    carrier: KafkaHeaders = [*_trace_pair(trace_id, span_id)]
    if headers:
        carrier.extend(_user_headers(headers))
    return carrier, trace_id


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


def _fast_trace_id(headers: Any) -> str | None:
    """The trace id when the first ``trace_id``-named header holds a valid one, else ``None``.

    Our producer writes ``trace_id`` first with a canonical value: this finds it without the
    general extraction. Any doubt (another spelling of the name first, an invalid value)
    returns ``None`` and the caller uses ``extract_incoming``, which gives the same answer.
    """
    if type(headers) is not list:
        return None
    for pair in headers:
        if type(pair) is not tuple or len(pair) != 2:
            return None
        name, value = pair
        if name == KAFKA_TRACE_HEADER:
            return _parse_id_header(value) if type(value) is bytes else None
        if type(name) is not str or (len(name) == 8 and name.lower() == KAFKA_TRACE_HEADER):
            return None
    return None


_ID_BYTES = 36
_ZERO_ID = b"00000000-0000-0000-0000-000000000000"
_ID_ALPHABET = b"0123456789abcdef-\n"


def _batch_trace_ids(messages: Sequence[Any]) -> list[str | None]:
    """The trace id of each message whose first header is ``trace_id`` with a canonical id.

    What ``traced_messages`` reads for a whole fetched batch at once: the candidate values are
    checked together with byte operations (lowercase hex, hyphens where a canonical UUID has
    them, not all zeros) instead of one regular-expression call each. ``None`` where a message
    has no such first header or its value is doubtful: the caller then reads that message's
    headers the general way (``incoming_trace``), which gives the same answer.
    """
    found: list[bytes | None] = []
    keep = found.append
    for message in messages:
        headers = message.headers()
        # A Message's headers are None or a list of pairs, but ``set_headers`` stores any
        # object: another shape is left to ``incoming_trace``, which never raises.
        if type(headers) is list and headers:
            pair = headers[0]
            if type(pair) is tuple and len(pair) == 2 and pair[0] == KAFKA_TRACE_HEADER:
                value = pair[1]
                if type(value) is bytes and len(value) == _ID_BYTES:
                    keep(value)
                    continue
        keep(None)
    candidates = [value for value in found if value is not None]
    joined = b"\n".join(candidates)
    if not candidates or not _canonical_ids(joined, len(candidates)):
        return [None if value is None else _parse_id_header(value) for value in found]
    texts = joined.decode("ascii").split("\n")
    if len(candidates) == len(found):  # the usual batch: every record carries its id
        return cast("list[str | None]", texts)
    remaining = iter(texts)
    return [None if value is None else next(remaining) for value in found]


def _canonical_ids(joined: bytes, count: int) -> bool:
    """Whether ``joined`` is ``count`` canonical lowercase ids, none all zeros, one per line."""
    step = _ID_BYTES + 1
    hyphens = b"-" * count
    return (
        len(joined) == step * count - 1
        and not joined.translate(None, _ID_ALPHABET)
        and joined.count(b"-") == 4 * count
        and joined.count(b"\n") == count - 1  # no line break inside a value: ids stay aligned
        and joined[_ID_BYTES::step] == b"\n" * (count - 1)
        and joined[8::step] == hyphens
        and joined[13::step] == hyphens
        and joined[18::step] == hyphens
        and joined[23::step] == hyphens
        and _ZERO_ID not in joined
    )


def _parse_id_header(value: bytes) -> str | None:
    global _last_seen  # noqa: PLW0603 - a one-entry cache, replaced atomically
    last = _last_seen
    if value == last[0]:
        return last[1]
    trace_id = parse_trace_id(value.decode("latin-1"))
    if trace_id is not None:
        _last_seen = (value, trace_id)
    return trace_id


def incoming_trace(message_or_headers: Any) -> IncomingTrace:
    """Return what a Kafka message or header collection says about its trace. Never raises.

    ``trace_id`` is read first, then ``traceparent``; duplicate headers, ``None`` values and
    bytes that are not UTF-8 are skipped, and a rejected id is reported escaped.
    """
    headers = message_headers(message_or_headers)
    if not headers:
        return _NOT_INCOMING
    trace_id = _fast_trace_id(headers)
    if trace_id is not None:
        return IncomingTrace(trace_id, _sender_span(headers, trace_id))
    return extract_incoming(headers, header_getter, _KAFKA_ID_HEADERS)


def _sender_span(headers: list[tuple[str, Any]], trace_id: str) -> str | None:
    """The span id of the ``traceparent`` of the same trace (the record's sender), if any."""
    for name, value in headers:
        if name == TRACEPARENT_HEADER and type(value) is bytes:
            parent = parse_traceparent(value)
            if parent is not None and parent.trace_id == trace_id:
                return parent.span_id
            return None
    return None


def extract_trace_id(message_or_headers: Any) -> str | None:
    """Return the valid trace id of a Kafka message or header collection, or ``None``.

    Accepts a confluent-kafka ``Message``, a kafka-python/aiokafka record, a header list or a
    dict. Reads header ``trace_id``, else ``traceparent``. Headers may be ``None``, hold
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
