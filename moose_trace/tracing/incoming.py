"""Incoming: what a carrier says about the trace, by one rule for every integration.

``extract_incoming`` reads the id header (``id_header``), W3C ``traceparent`` with its
``tracestate``, and W3C ``baggage`` out of a carrier (``carriers``) and decides which trace the
code continues (the rules are in ``propagation``'s docstring); ``bind_incoming`` keeps that with
the running trace context; ``otel_context_of`` gives OpenTelemetry the same parent. The Kafka
integrations' per-record path collects a header list directly (``collect_kafka``) and resolves it
by the same rules (``resolve_found``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter

from moose_trace.tracing.baggage import BAGGAGE_HEADER, Baggage, baggage_fields, parse_baggage
from moose_trace.tracing.carriers import header_getter, header_name, header_pairs, header_text
from moose_trace.tracing.context import bind_fields, new_span_id, set_incoming
from moose_trace.tracing.id_header import ID_HEADERS, KAFKA_TRACE_HEADER, first_valid_id
from moose_trace.tracing.ids import trace_id_to_int
from moose_trace.tracing.traceparent import SAMPLED_FLAG, TRACEPARENT_HEADER, parse_traceparent
from moose_trace.tracing.tracestate import TRACESTATE_HEADER, format_tracestate, parse_tracestate

__all__ = [
    "CollectedHeaders",
    "IncomingTrace",
    "bind_incoming",
    "collect_kafka",
    "extract_incoming",
    "extract_trace_id",
    "otel_context_of",
    "resolve_found",
]


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


_NO_TRACE = IncomingTrace(None)
_FIELDS = (TRACEPARENT_HEADER, TRACESTATE_HEADER, BAGGAGE_HEADER)
CollectedHeaders = tuple[list[Any], list[Any], list[Any], list[Any]]
"""The raw header values the rules read: ``(ids, traceparents, tracestates, baggages)``."""


def _collect_pairs(carrier: Any, id_headers: tuple[str, ...]) -> CollectedHeaders:
    """The raw values of every header the parser reads, in one pass over the carrier.

    ``(ids, traceparents, tracestates, baggages)``; ids ordered by ``id_headers``' priority.
    """
    slots: dict[str, int] = {TRACEPARENT_HEADER: 1, TRACESTATE_HEADER: 2, BAGGAGE_HEADER: 3}
    by_id: dict[str, list[Any]] = {}
    for id_header in id_headers:
        lowered = id_header.lower()
        slots.setdefault(lowered, 0)
        by_id.setdefault(lowered, [])
    lists: CollectedHeaders = ([], [], [], [])
    for key, value in header_pairs(carrier):
        name = header_name(key)
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


def _collect_getter(
    carrier: Any, getter: Getter[Any], id_headers: tuple[str, ...]
) -> CollectedHeaders:
    ids: list[Any] = []
    for name in dict.fromkeys(id_headers):
        ids.extend(getter.get(carrier, name) or ())
    parents, states, bags = (list(getter.get(carrier, name) or ()) for name in _FIELDS)
    return ids, parents, states, bags


def _texts(values: list[Any]) -> list[str]:
    return [text for text in map(header_text, values) if text is not None]


def _resolve(found: CollectedHeaders) -> IncomingTrace:
    """Apply the rules (``propagation``'s docstring) to the collected header values."""
    ids, parents, states, bags = found
    trace_id, rejected = first_valid_id(ids) if ids else (None, None)
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


def _resolve_cached(found: CollectedHeaders) -> IncomingTrace:
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
    carrier: Any, getter: Getter[Any] = header_getter, id_headers: Iterable[str] = ID_HEADERS
) -> IncomingTrace:
    """Read the trace from a carrier by the rules in ``propagation``'s docstring. Never raises.

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


def collect_kafka(headers: list[Any]) -> CollectedHeaders | None:
    """The parser's input from a Kafka header list of ``(str, bytes)`` pairs (internal).

    The same values ``extract_incoming`` collects with ``id_headers=("trace_id",)``, gathered
    without its general carrier handling; ``None`` for any other shape (the caller then uses
    ``extract_incoming``). Names are matched exactly first; only names as long as a trace
    header's are lowercased.
    """
    found: CollectedHeaders = ([], [], [], [])
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


def resolve_found(found: CollectedHeaders) -> IncomingTrace:
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
