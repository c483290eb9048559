"""What a traced call's input says about itself: its trace, its Kafka position, its data.

Inputs come in three shapes: confluent-kafka ``Message`` objects (``headers()``, ``topic()``,
``value()`` methods), kafka-python / aiokafka records (the same as attributes), and plain
records (a ``dict`` with a ``trace_id`` key). Anything else carries no trace. Nothing here
raises: a record that cannot be read is a record without a trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from moose_trace._fastpath import TRACE_ID_VAR
from moose_trace.kafka.headers import incoming_trace, message_fields
from moose_trace.logging.redaction import Redactor
from moose_trace.tracing.baggage import BAGGAGE_HEADER
from moose_trace.tracing.context import bind_pending, current_incoming
from moose_trace.tracing.ids import parse_trace_id
from moose_trace.tracing.propagation import (
    KAFKA_TRACE_HEADER,
    TRACEPARENT_HEADER,
    IncomingTrace,
    extract_incoming,
)
from moose_trace.tracing.tracestate import TRACESTATE_HEADER

__all__ = [
    "NO_ORIGIN",
    "Origin",
    "RecordTrace",
    "is_kafka_record",
    "kafka_fields",
    "payload_of",
    "record_incoming",
    "record_origin",
    "record_trace",
]

_TRACE_KEYS = (KAFKA_TRACE_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER, BAGGAGE_HEADER)

RecordTrace = tuple[str, str | None]
"""A record's ``(trace_id, parent_span_id)``; the parent comes from its ``traceparent``."""


def record_trace(record: object) -> RecordTrace | None:
    """Return the trace a record carries, or ``None``; never raises (see ``record_incoming``)."""
    incoming = record_incoming(record)
    if incoming is None or incoming.trace_id is None:
        return None
    return incoming.trace_id, incoming.parent_span_id


def record_incoming(record: object) -> IncomingTrace | None:
    """Return what a record says about its trace, or ``None`` without a valid id; never raises.

    Kafka messages: their headers; dict records: their ``trace_id``, ``traceparent``,
    ``tracestate`` and ``baggage`` keys; both by
    ``moose_trace.tracing.propagation.extract_incoming``'s rules (a valid ``traceparent``
    decides, else ``trace_id``), flags, ``tracestate`` and baggage included.
    """
    try:
        if type(record) is dict or isinstance(record, Mapping):
            # The one parser, on the record's trace keys only (a record may be large).
            carrier = {key: record[key] for key in _TRACE_KEYS if key in record}
            if not carrier:
                return None
            if len(carrier) == 1 and type(value := carrier.get(KAFKA_TRACE_HEADER)) is str:
                # A lone valid id (what Moose records carry): extract_incoming's answer is
                # IncomingTrace(parse_trace_id(value)); an invalid one goes the general way.
                trace_id = parse_trace_id(value)
                if trace_id is not None:
                    return IncomingTrace(trace_id)
            incoming = extract_incoming(carrier, id_headers=(KAFKA_TRACE_HEADER,))
        elif not hasattr(record, "headers"):
            return None
        else:
            incoming = incoming_trace(record)
    except Exception:
        return None
    return None if incoming.trace_id is None else incoming


Origin = tuple[str | None, str | None, IncomingTrace | None]
"""``(trace id to enter, parent span, incoming trace to send on)`` of a call's input record."""
NO_ORIGIN: Origin = (None, None, None)
"""A call whose input says nothing: the enclosing trace (or a new one), no parent of its own."""
_trace_id_var = TRACE_ID_VAR
_ONLY_ID = frozenset(_TRACE_KEYS[1:])  # a record with none of these carries only its id


def record_origin(record: Any, kafka: bool) -> Origin:
    """Return ``(trace id to enter, parent span, what to send on)`` for a call handling ``record``.

    Outside a trace, the record's trace and sender; inside one, the sender of a Kafka record of
    the same trace (the span whose ``traceparent`` it carries), so the call's line names the
    span that produced its input as its parent, whether or not a context encloses the call.
    The third part is the record's incoming trace when it carries flags, ``tracestate`` or
    baggage that the call's own outgoing records and calls must pass on (and no enclosing
    context keeps them already); else ``None``. ``kafka``: ``record`` is a Kafka message.
    """
    current = _trace_id_var.get()
    if current is Ellipsis:
        current = bind_pending()  # inside traced_messages: the loop's record, read only now
    if current is Ellipsis or current is None:  # not in a trace yet: the record's, if any
        if type(record) is dict:
            value = record.get(KAFKA_TRACE_HEADER)
            if type(value) is str and _ONLY_ID.isdisjoint(record):
                # A lone id (what Moose records carry): no parent, nothing to send on.
                return parse_trace_id(value), None, None
        found = record_incoming(record)
        if found is None:
            return NO_ORIGIN
        return found.trace_id, found.parent_span_id, found if found.carries_state else None
    if kafka:
        found = record_incoming(record)
        if found is not None and found.trace_id == current:
            kept = current_incoming()
            carried = found.carries_state and (kept is None or kept.trace_id != current)
            return None, found.parent_span_id, found if carried else None
    return NO_ORIGIN


def is_kafka_record(record: object) -> bool:
    """Return whether ``record`` looks like a Kafka message (headers, topic, offset)."""
    return hasattr(record, "offset") and hasattr(record, "topic") and hasattr(record, "headers")


def kafka_fields(record: object) -> dict[str, Any]:
    """Return a Kafka message's topic, partition and offset as log fields, or ``{}``."""
    return message_fields(record) if is_kafka_record(record) else {}


def payload_of(value: object, redactor: Redactor) -> Any:
    """Return ``value`` as a log line shows it, secrets redacted.

    A Kafka message shows its value; bytes are decoded (and parsed when they hold JSON), so a
    password inside a JSON payload is found by key like in any dict.
    """
    if is_kafka_record(value):
        try:
            raw = getattr(value, "value", None)
            value = raw() if callable(raw) else raw
        except Exception:
            value = None
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = data.decode("utf-8", "backslashreplace")
    return redactor.redact(value)
