"""Carry the trace across process boundaries: HTTP headers, Kafka headers, any text carrier.

Incoming (``extract_incoming``, the one parser every integration uses): the id header
(``X-Trace-Id`` on HTTP, ``trace_id`` on Kafka), W3C ``traceparent`` with its ``tracestate``,
and W3C ``baggage``. The rule when they disagree:

1. a valid ``traceparent`` decides the trace (its trace id, parent span and flags), so a W3C
   peer's trace is never orphaned; a valid id header naming another trace is kept as
   ``linked_trace_id`` (logged on the access line, a link on the server span);
2. else the id header's id; 3. else no trace (the caller starts one).

``traceparent`` sent more than once with different values is invalid (W3C: restart the trace),
and so is its ``tracestate``. Invalid id values count as absent and are reported (escaped, cut to
64 characters) so the caller can warn. ``tracestate`` and ``baggage`` are parsed only when present.

Outgoing (``outgoing_context``): the id header, ``traceparent`` with the trace flags as received
(sampled, random), the received ``tracestate`` and ``baggage``, from the active OpenTelemetry
span when there is one, else from the moose-trace context. ``TraceIdPropagator`` offers the same
as an OpenTelemetry ``TextMapPropagator``; ``outgoing_headers`` as a plain dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter, TextMapPropagator, default_setter

from moose_trace._fastpath import TRACE_ID_VAR
from moose_trace.tracing.baggage import (
    BAGGAGE_HEADER,
    Baggage,
    BaggageMember,
    baggage_fields,
    format_baggage,
    parse_baggage,
)
from moose_trace.tracing.context import (
    bind_fields,
    current_incoming,
    current_span_id,
    current_trace_id,
    new_span_id,
    set_incoming,
)
from moose_trace.tracing.ids import parse_trace_id, trace_id_from_int, trace_id_to_int
from moose_trace.tracing.tracestate import TRACESTATE_HEADER, format_tracestate, parse_tracestate

__all__ = [
    "BAGGAGE_HEADER",
    "HTTP_TRACE_HEADER",
    "KAFKA_TRACE_HEADER",
    "RANDOM_FLAG",
    "SAMPLED_FLAG",
    "TRACEPARENT_HEADER",
    "TRACESTATE_HEADER",
    "HeaderGetter",
    "IncomingTrace",
    "OutgoingTrace",
    "TraceIdPropagator",
    "Traceparent",
    "bind_incoming",
    "escape_header_value",
    "extract_incoming",
    "extract_trace_id",
    "header_getter",
    "otel_context_of",
    "outgoing_context",
    "outgoing_headers",
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
SAMPLED_FLAG = 0x01
"""W3C trace-flags bit: the caller may have recorded its span."""
RANDOM_FLAG = 0x02
"""W3C Level 2 trace-flags bit: the trace id's right 7 bytes are random."""

_KNOWN_FLAGS = SAMPLED_FLAG | RANDOM_FLAG
_ID_HEADERS = (HTTP_TRACE_HEADER, KAFKA_TRACE_HEADER)
_ESCAPED_MAX = 64
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_MAX_TRACEPARENT = 512
_OWS = " \t"


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
        return bytes(key).decode("latin-1").lower()
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
    """What a carrier said about the trace: the id to continue, its parent span, and the rest.

    Built by ``extract_incoming`` (and ``moose_trace.kafka.incoming_trace``); immutable.
    """

    trace_id: str | None
    """The valid incoming trace id (canonical), or ``None`` when the carrier had none."""
    parent_span_id: str | None = None
    """The caller's span id from ``traceparent`` (16 hex digits), when it sent one."""
    sampled: bool = True
    """The ``traceparent`` sampled flag (true when absent)."""
    rejected: str | None = None
    """An invalid id value the carrier held, escaped and cut for a warning log line."""
    trace_flags: int = SAMPLED_FLAG
    """The ``traceparent`` trace-flags the caller sent (sampled ``0x01``, random ``0x02``)."""
    tracestate: str | None = None
    """The ``tracestate`` to send on (normalized), when a valid one came with ``traceparent``."""
    baggage: Baggage = ()
    """The W3C baggage members the carrier held."""
    linked_trace_id: str | None = None
    """A valid id header that named another trace than ``traceparent`` (which won)."""

    @property
    def carries_state(self) -> bool:
        """Whether there is more to send on than the ids: flags other than sampled-only,
        ``tracestate`` or baggage."""
        return self.trace_flags != SAMPLED_FLAG or self.tracestate is not None or bool(self.baggage)

    @property
    def carries_more(self) -> bool:
        """Whether there is more to keep than the trace id (parent, flags, tracestate, baggage)."""
        return (
            self.parent_span_id is not None
            or self.trace_flags != SAMPLED_FLAG
            or self.tracestate is not None
            or bool(self.baggage)
        )


@dataclass(frozen=True, slots=True)
class Traceparent:
    """A parsed W3C ``traceparent``."""

    trace_id: str
    span_id: str
    sampled: bool
    flags: int = SAMPLED_FLAG
    """The trace-flags this SDK understands (sampled, random); unknown bits are cleared."""


def parse_traceparent(value: str | bytes | None) -> Traceparent | None:
    """Parse a W3C ``traceparent`` value; ``None`` for anything malformed or reserved.

    Surrounding spaces and tabs are ignored. Version ``ff``, an all-zero trace id or span id, and
    upper-case hex are refused, as the W3C Trace Context spec requires; later versions are read by
    their version-00 prefix.
    """
    text = _as_text(value)
    if text is None or len(text) > _MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.fullmatch(text.strip(_OWS))
    if match is None:
        return None
    version, hex_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id = parse_trace_id(hex_id)
    if trace_id is None or span_id == "0000000000000000":
        return None
    bits = int(flags, 16) & _KNOWN_FLAGS
    return Traceparent(trace_id, span_id, bool(bits & SAMPLED_FLAG), bits)


_NO_TRACE = IncomingTrace(None)
_FIELDS = (TRACEPARENT_HEADER, TRACESTATE_HEADER, BAGGAGE_HEADER)
_Found = tuple[list[Any], list[Any], list[Any], list[Any]]


def _collect_pairs(carrier: Any, id_headers: tuple[str, ...]) -> _Found:
    """The raw values of every header the parser reads, in one pass over the carrier.

    ``(ids, traceparents, tracestates, baggages)``; ids ordered by ``id_headers``' priority.
    """
    slots: dict[str, int] = {TRACEPARENT_HEADER: 1, TRACESTATE_HEADER: 2, BAGGAGE_HEADER: 3}
    by_id: dict[str, list[Any]] = {}
    for id_header in id_headers:
        lowered = id_header.lower()
        slots.setdefault(lowered, 0)
        by_id.setdefault(lowered, [])
    lists: _Found = ([], [], [], [])
    for key, value in _pairs(carrier):
        name = _key_text(key)
        if name is None:
            continue
        slot = slots.get(name)
        if slot is None:
            continue
        target = by_id[name] if slot == 0 else lists[slot]
        if isinstance(value, (list, tuple)):
            target.extend(value)
        else:
            target.append(value)
    for values in by_id.values():
        lists[0].extend(values)
    return lists


def _collect_getter(carrier: Any, getter: Getter[Any], id_headers: tuple[str, ...]) -> _Found:
    ids: list[Any] = []
    for name in dict.fromkeys(id_headers):
        ids.extend(getter.get(carrier, name) or ())
    parents, states, bags = (list(getter.get(carrier, name) or ()) for name in _FIELDS)
    return ids, parents, states, bags


def _incoming_id(values: list[Any]) -> tuple[str | None, str | None]:
    """The first valid id, and the first invalid value escaped (text rejects before bytes)."""
    rejected_text = rejected_raw = None
    for raw in values:
        if raw is None:
            continue
        text = _as_text(raw)
        if text is None:
            if rejected_raw is None:
                rejected_raw = escape_header_value(raw)
            continue
        trace_id = parse_trace_id(text)
        if trace_id is not None:
            break
        if rejected_text is None:
            rejected_text = escape_header_value(raw)
    else:
        trace_id = None
    return trace_id, rejected_text if rejected_text is not None else rejected_raw


def _texts(values: list[Any]) -> list[str]:
    return [text for text in map(_as_text, values) if text is not None]


def _resolve(found: _Found) -> IncomingTrace:
    """Apply the rules (module docstring) to the collected header values."""
    ids, parents, states, bags = found
    trace_id, rejected = _incoming_id(ids) if ids else (None, None)
    parent_texts = _texts(parents)
    # The same traceparent twice is one; two different ones are invalid (W3C: restart).
    parent = parse_traceparent(parent_texts[0]) if len(set(parent_texts)) == 1 else None
    baggage = parse_baggage(_texts(bags)) if bags else ()
    if parent is None:
        if trace_id is None and not baggage and rejected is None:
            return _NO_TRACE
        return IncomingTrace(trace_id, rejected=rejected, baggage=baggage)
    tracestate = None
    if states:
        members = parse_tracestate(_texts(states))
        tracestate = format_tracestate(members) if members else None
    linked = trace_id if trace_id is not None and trace_id != parent.trace_id else None
    return IncomingTrace(
        parent.trace_id,
        parent.span_id,
        parent.sampled,
        rejected,
        parent.flags,
        tracestate,
        baggage,
        linked,
    )


_last: tuple[object, IncomingTrace] = ((), _NO_TRACE)


def _resolve_cached(found: _Found) -> IncomingTrace:
    """``_resolve`` behind a one-entry cache: records of one request carry the same headers.

    Keyed by each header's value and its type (7 == 7.0 and b"x" != "x" must not share or
    split an entry); carriers with a header twice are resolved without it.
    """
    global _last  # noqa: PLW0603 - a one-entry cache, replaced atomically
    ids, parents, states, bags = found
    if len(ids) > 1 or len(parents) > 1 or len(states) > 1 or len(bags) > 1:
        return _resolve(found)
    an_id = ids[0] if ids else None
    parent = parents[0] if parents else None
    state = states[0] if states else None
    bag = bags[0] if bags else None
    key = (type(an_id), an_id, type(parent), parent, type(state), state, type(bag), bag)
    last = _last
    if last[0] == key:
        return last[1]
    incoming = _resolve(found)
    _last = (key, incoming)
    return incoming


def extract_incoming(
    carrier: Any, getter: Getter[Any] = header_getter, id_headers: Iterable[str] = _ID_HEADERS
) -> IncomingTrace:
    """Read the trace from a carrier by the rules in this module's docstring. Never raises.

    ``getter`` reads the carrier (OpenTelemetry's ``Getter`` shape; the default reads every
    header collection this SDK meets, raw bytes included); ``id_headers`` are the id header
    names in priority order. An id header holding no valid id is reported in ``rejected`` and
    never echoed.
    """
    names = tuple(id_headers)
    try:
        if getter is header_getter:
            found = _collect_pairs(carrier, names)
        else:
            found = _collect_getter(carrier, getter, names)
        return _resolve_cached(found)
    except Exception:
        return _NO_TRACE


def collect_kafka(headers: list[Any]) -> _Found | None:
    """The parser's input from a Kafka header list of ``(str, bytes)`` pairs (internal).

    The same values ``extract_incoming`` collects with ``id_headers=("trace_id",)``, gathered
    without its general carrier handling; ``None`` for any other shape (the caller then uses
    ``extract_incoming``). Names are matched exactly first; only names as long as a trace
    header's are lowercased.
    """
    found: _Found = ([], [], [], [])
    slots = _KAFKA_SLOTS
    lengths = _NAME_LENGTHS
    for pair in headers:
        if type(pair) is not tuple or len(pair) != 2:
            return None
        name = pair[0]
        try:
            slot = slots.get(name)
        except TypeError:  # an unhashable name: not a header list the fast reader knows
            return None
        if slot is None:
            if type(name) is not str:
                return None
            if len(name) not in lengths:
                continue
            slot = slots.get(name.lower())
            if slot is None:
                continue
        value = pair[1]
        if type(value) is list or type(value) is tuple:
            return None
        found[slot].append(value)
    return found


_KAFKA_SLOTS = {
    KAFKA_TRACE_HEADER: 0,
    TRACEPARENT_HEADER: 1,
    TRACESTATE_HEADER: 2,
    BAGGAGE_HEADER: 3,
}
_NAME_LENGTHS = frozenset(map(len, _KAFKA_SLOTS))


def resolve_found(found: _Found) -> IncomingTrace:
    """Apply the parser's rules to values from ``collect_kafka`` (internal). Never raises."""
    try:
        return _resolve_cached(found)
    except Exception:
        return _NO_TRACE


def extract_trace_id(carrier: Any) -> str | None:
    """Return the valid trace id a header collection carries, or ``None``. Never raises."""
    return extract_incoming(carrier).trace_id


def bind_incoming(incoming: IncomingTrace) -> None:
    """Keep ``incoming`` with the current trace context and log its allow-listed baggage.

    Call it just inside the ``trace_context`` of the incoming trace (the middleware and the
    Kafka helpers do): its parent span becomes the root's ``parent_span_id``, its flags,
    ``tracestate`` and baggage are sent on every outgoing call and record of that trace, and
    the baggage members named by ``moose_trace.tracing.baggage.configure_baggage`` become log
    fields.
    Everything ends with the context. Does nothing when there is nothing beyond the id.
    """
    if not incoming.carries_more:
        return
    set_incoming(incoming)
    if incoming.baggage:
        fields = baggage_fields(incoming.baggage)
        if fields:
            bind_fields(**fields)


@dataclass(frozen=True, slots=True)
class OutgoingTrace:
    """What goes out with a call or a record: ids, flags, ``tracestate`` and baggage."""

    trace_id: str
    span_id: str
    """The span the receiver will name as its parent."""
    trace_flags: int = SAMPLED_FLAG
    tracestate: str | None = None
    baggage: Baggage = ()

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` value."""
        return f"00-{self.trace_id.replace('-', '')}-{self.span_id}-{self.trace_flags:02x}"

    @property
    def baggage_header(self) -> str | None:
        """The W3C ``baggage`` value, or ``None`` without baggage."""
        return _baggage_text(self.baggage) or None if self.baggage else None


_last_baggage: tuple[Baggage, str] = ((), "")


def _baggage_text(baggage: Baggage) -> str:
    """``format_baggage`` behind a one-entry cache: a trace's records share one baggage tuple."""
    global _last_baggage  # noqa: PLW0603 - a one-entry cache, replaced atomically
    last = _last_baggage
    if last[0] is baggage:
        return last[1]
    text = format_baggage(baggage)
    _last_baggage = (baggage, text)
    return text


def _otel_baggage(context: Context | None) -> Baggage:
    entries = otel_baggage.get_all(context)
    if not entries:
        return ()
    return tuple(BaggageMember(str(key), str(value)) for key, value in entries.items())


def _merged_baggage(incoming: Baggage, context: Context | None) -> Baggage:
    """The incoming members, with OpenTelemetry baggage set in this context added or replacing."""
    extra = _otel_baggage(context)
    if not extra:
        return incoming
    keys = {member.key for member in extra}
    return (*(member for member in incoming if member.key not in keys), *extra)


def _bound_to_span(span_trace_id: int) -> bool:
    """Whether the active span may speak for this context: no moose-trace id is bound, or the
    bound id is the span's trace."""
    bound = TRACE_ID_VAR.get()
    if bound is Ellipsis or bound is None:
        return True
    try:
        return bool(trace_id_to_int(bound) == span_trace_id)
    except (TypeError, ValueError):  # a trace_id bound by hand that is not an id
        return True


def outgoing_context(context: Context | None = None) -> OutgoingTrace | None:
    """Return what to send onward from here, or ``None`` outside any trace.

    The active OpenTelemetry span wins when it is valid and of the trace the moose-trace context
    binds (its trace id is the trace id when the SDK is configured by moose-trace); otherwise
    the moose-trace context's ids are used — also when a span of another trace is active (an
    instrumentation's span around a consume loop: OpenTelemetry's confluent-kafka ``process``
    span is a trace of its own), so what is sent always names the trace the log lines carry. Trace
    flags, ``tracestate`` and baggage are the incoming ones of the same trace (the span's own
    ``tracestate`` when it has one; OpenTelemetry baggage set in the context is added).
    """
    incoming: IncomingTrace | None = current_incoming()
    span_context = otel_trace.get_current_span(context).get_span_context()
    if span_context.is_valid and _bound_to_span(span_context.trace_id):
        trace_id = trace_id_from_int(span_context.trace_id)
        span_id = f"{span_context.span_id:016x}"
        same = incoming is not None and incoming.trace_id == trace_id
        flags = int(span_context.trace_flags) & _KNOWN_FLAGS
        if same and incoming is not None:
            flags |= incoming.trace_flags & RANDOM_FLAG  # the id's property: the SDK drops it
        state = span_context.trace_state
        tracestate = (
            state.to_header() if state else (incoming.tracestate if same and incoming else None)
        )
    else:
        current = current_trace_id()
        if current is None:
            return None
        trace_id, span_id = current, current_span_id() or new_span_id()
        same = incoming is not None and incoming.trace_id == trace_id
        flags = incoming.trace_flags if same and incoming is not None else SAMPLED_FLAG
        tracestate = incoming.tracestate if same and incoming is not None else None
    baggage = _merged_baggage(incoming.baggage if incoming is not None else (), context)
    return OutgoingTrace(trace_id, span_id, flags, tracestate, baggage)


def outgoing_trace(context: Context | None = None) -> tuple[str, str] | None:
    """Return ``(trace_id, span_id)`` to send onward, or ``None`` outside any trace.

    The ids of ``outgoing_context``.
    """
    span_context = otel_trace.get_current_span(context).get_span_context()
    if span_context.is_valid and _bound_to_span(span_context.trace_id):
        return trace_id_from_int(span_context.trace_id), f"{span_context.span_id:016x}"
    trace_id = current_trace_id()
    if trace_id is None:
        return None
    return trace_id, current_span_id() or new_span_id()


def traceparent_for(
    trace_id: str, span_id: str, sampled: bool = True, *, flags: int | None = None
) -> str:
    """Return the W3C ``traceparent`` value for a trace id and span id.

    ``flags`` (the whole trace-flags byte, e.g. ``0x03``) wins over ``sampled`` when given.
    """
    bits = flags if flags is not None else (SAMPLED_FLAG if sampled else 0)
    return f"00-{trace_id.replace('-', '')}-{span_id}-{bits & 0xFF:02x}"


def outgoing_headers(id_header: str = "X-Trace-Id") -> dict[str, str]:
    """Return the headers to send with a call from here: id, ``traceparent``, ``tracestate``,
    ``baggage`` (the last two when there are any). ``{}`` outside any trace.

    For any client without a hook of its own (``urllib``, gRPC metadata, a queue's
    attributes): ``client.send(..., headers={**headers, **outgoing_headers()})``. It opens no
    span; ``moose_trace.http.client_span`` does, for a call of its own in the trace.
    """
    outgoing = outgoing_context()
    if outgoing is None:
        return {}
    return headers_of(outgoing, id_header)


def headers_of(outgoing: OutgoingTrace, id_header: str = "X-Trace-Id") -> dict[str, str]:
    """The header dict for ``outgoing`` (see ``outgoing_headers``)."""
    headers = {id_header: outgoing.trace_id, TRACEPARENT_HEADER: outgoing.traceparent}
    if outgoing.tracestate:
        headers[TRACESTATE_HEADER] = outgoing.tracestate
    baggage = outgoing.baggage_header
    if baggage:
        headers[BAGGAGE_HEADER] = baggage
    return headers


def otel_context_of(incoming: IncomingTrace, context: Context | None = None) -> Context:
    """Return an OpenTelemetry ``Context`` continuing ``incoming``: remote parent and baggage.

    The remote parent span carries the trace id, the caller's span id (a random one when it
    sent none), the flags and the ``tracestate``, so spans started under it, and
    OpenTelemetry's own propagators, send them on. Baggage members become OpenTelemetry baggage.
    ``context`` unchanged (or a new empty one) when ``incoming`` has no trace id.
    """
    base = context if context is not None else Context()
    if incoming.baggage:
        for member in incoming.baggage:
            base = otel_baggage.set_baggage(member.key, member.value, base)
    if incoming.trace_id is None:
        return base
    state = otel_trace.TraceState()
    if incoming.tracestate:
        members = parse_tracestate(incoming.tracestate) or ()
        state = otel_trace.TraceState(list(members))
    span_context = otel_trace.SpanContext(
        trace_id=trace_id_to_int(incoming.trace_id),
        span_id=int(incoming.parent_span_id or new_span_id(), 16),
        is_remote=True,
        trace_flags=otel_trace.TraceFlags(incoming.trace_flags),
        trace_state=state,
    )
    return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(span_context), base)


class TraceIdPropagator(TextMapPropagator):
    """An OpenTelemetry propagator for the moose-trace id header, W3C trace context and baggage.

    ``extract`` reads a carrier by ``extract_incoming``'s rules into a remote parent span
    (flags and ``tracestate`` included) and OpenTelemetry baggage; ``inject`` writes the id
    header (``X-Trace-Id`` by default, or ``trace_id`` for Kafka), ``traceparent`` with the
    flags of the context (``-00`` when it is not sampled), and ``tracestate`` and ``baggage``
    when there are any. Register it after OpenTelemetry's own in a ``CompositePropagator``
    (``moose_trace.tracing.otel.install_propagator`` does): it then has the last word on which
    trace a carrier continues, so OpenTelemetry's spans and the log lines agree.
    """

    def __init__(self, id_header: str = HTTP_TRACE_HEADER) -> None:
        self._id_header = id_header

    def extract(
        self,
        carrier: Any,
        context: Context | None = None,
        getter: Getter[Any] = header_getter,
    ) -> Context:
        """Return ``context`` with the carrier's trace as the remote parent span (if any).

        When the carrier held ``traceparent`` headers that the W3C rules refuse (duplicates,
        malformed) and no id header, the context gets no parent at all, also when a
        propagator before this one accepted one: a new trace starts.
        """
        incoming = extract_incoming(carrier, getter, (self._id_header, *_ID_HEADERS))
        base = context if context is not None else Context()
        if incoming.trace_id is None:
            if getter.get(carrier, TRACEPARENT_HEADER):
                base = otel_trace.set_span_in_context(otel_trace.INVALID_SPAN, base)
            return otel_context_of(incoming, base) if incoming.baggage else base
        return otel_context_of(incoming, base)

    def inject(
        self,
        carrier: Any,
        context: Context | None = None,
        setter: Setter[Any] = default_setter,
    ) -> None:
        """Write the id header, ``traceparent``, ``tracestate`` and ``baggage`` of the context."""
        outgoing = outgoing_context(context)
        if outgoing is None:
            return
        for name, value in headers_of(outgoing, self._id_header).items():
            setter.set(carrier, name, value)

    @property
    def fields(self) -> set[str]:
        """The header names ``inject`` writes."""
        return {self._id_header, TRACEPARENT_HEADER, TRACESTATE_HEADER, BAGGAGE_HEADER}
