"""structlog processors that give every log event the moose-trace fields.

Each is a plain structlog processor ``(logger, method_name, event_dict) -> event_dict``, so it
can go into any chain (``structlog.configure(processors=[...])`` or a stdlib
``ProcessorFormatter``'s ``foreign_pre_chain``). ``configure_logging`` puts them in this order::

    merge_context → add_log_level → add_error_fields → drop_payload → redact
    → TraceFields(service) → add_timestamp → JSON

They are built for the hot path: on an event without an error or secrets each costs a few
dictionary look-ups.
"""

from __future__ import annotations

import contextvars
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog.contextvars as _structlog_cv
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from moose_trace._fastpath import FRAME_VAR as _FRAME
from moose_trace._fastpath import OTEL_CONTEXT_VAR as _OTEL_CONTEXT_VAR
from moose_trace._fastpath import OTEL_SPAN_KEY as _OTEL_SPAN_KEY
from moose_trace._fastpath import SHARES_STRUCTLOG_REGISTRY, STRUCTLOG_KEY_PREFIX
from moose_trace._fastpath import STRUCTLOG_VARS as _STRUCTLOG_VARS
from moose_trace._fastpath import TRACE_ID_VAR as _TRACE_ID
from moose_trace.errors.categories import error_fields
from moose_trace.errors.signature import error_signature
from moose_trace.logging.levels import LEVEL_BY_SPELLING as _LEVEL_ALIASES
from moose_trace.logging.levels import level_name
from moose_trace.logging.redaction import default_redactor
from moose_trace.tracing.context import bind_pending
from moose_trace.tracing.ids import trace_id_from_int
from moose_trace.tracing.otel import ContextParent

__all__ = [
    "ERROR_KEYS",
    "PAYLOAD_KEYS",
    "TraceFields",
    "add_error_fields",
    "add_log_level",
    "add_timestamp",
    "add_trace_fields",
    "drop_payload",
    "iso_timestamp",
    "level_name",
    "merge_context",
    "redact",
]

EventDict = MutableMapping[str, Any]

_structlog_merge = _structlog_cv.merge_contextvars
_PREFIX_LEN = len(STRUCTLOG_KEY_PREFIX)
# Whether ``_STRUCTLOG_VARS`` is structlog's own registry (else only structlog's merge sees all).
_SHARED_REGISTRY = SHARES_STRUCTLOG_REGISTRY
_MAX_KNOWN = 64
_known: tuple[tuple[str, contextvars.ContextVar[Any]], ...] | None = ()
_known_size = 0


def _refresh_known() -> None:
    global _known, _known_size  # noqa: PLW0603 - a snapshot replaced as a whole
    size = len(_STRUCTLOG_VARS)
    variables = tuple(_STRUCTLOG_VARS.values())  # one C call: safe while other threads bind
    _known = (
        tuple((var.name[_PREFIX_LEN:], var) for var in variables)
        if _SHARED_REGISTRY and size <= _MAX_KNOWN
        else None
    )
    _known_size = size


def merge_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Add the context's fields to the event: a faster ``structlog.contextvars.merge_contextvars``.

    Same result: every key bound in this context, by ``trace_context``, ``bind_fields`` or
    structlog's ``bind_contextvars``, is added unless the event has it already. structlog's
    merge copies the whole ``contextvars`` context and tests every variable's name; this one
    reads only the variables structlog keeps for its keys (when an application has bound more
    than 64 distinct keys, it does as structlog does). Inside ``traced_messages`` it also binds
    the current record's trace and Kafka fields, which the loop leaves pending until a reader
    needs them (structlog's own merge does not: use this one in your own chains).
    """
    if _TRACE_ID.get() is Ellipsis:
        bind_pending()  # a consumed record's trace, read only now that a line needs it
    if len(_STRUCTLOG_VARS) != _known_size:
        _refresh_known()
    known = _known
    if known is None:
        return _structlog_merge(logger, method_name, event_dict)
    for key, var in known:
        value = var.get(Ellipsis)
        if value is not Ellipsis and key not in event_dict:
            event_dict[key] = value
    return event_dict


def add_log_level(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Set ``level`` from the logging method: one of debug, info, warning, error, critical.

    Unlike structlog's own, it also maps ``fatal``, upper-case stdlib names and other spellings,
    so every writer agrees on five values the query tool can filter on.
    """
    event_dict["level"] = _LEVEL_ALIASES.get(method_name) or level_name(method_name)
    return event_dict


_now_ns = time.time_ns
_second_format: tuple[int, str] = (-1, "")


def iso_timestamp(epoch_ns: int | None = None) -> str:
    """Return ``epoch_ns`` (default: now) as ISO 8601 UTC with microseconds.

    Always 27 characters, ``2026-01-09T10:30:00.123456Z``, so timestamps sort as text. Several
    times faster than structlog's ``TimeStamper``: the date and time up to the second are
    formatted once per second.
    """
    global _second_format  # noqa: PLW0603 - a one-entry cache, replaced atomically
    second, micros = divmod((_now_ns() if epoch_ns is None else epoch_ns) // 1000, 1_000_000)
    cached = _second_format
    if cached[0] != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S.%%06dZ", time.gmtime(second))
        cached = _second_format = (second, text)
    return cached[1] % micros


def add_timestamp(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Set ``timestamp`` to now, ISO 8601 UTC with microseconds (see ``iso_timestamp``)."""
    second, micros = divmod(_now_ns() // 1000, 1_000_000)
    cached = _second_format
    if cached[0] != second:
        event_dict["timestamp"] = iso_timestamp(second * 1_000_000_000 + micros * 1000)
    else:  # ``iso_timestamp`` inlined: this runs once per log line
        event_dict["timestamp"] = cached[1] % micros
    return event_dict


_INVALID_SPAN = otel_trace.INVALID_SPAN
_Span = otel_trace.Span
_SPAN_KEY: str = _OTEL_SPAN_KEY or ""
# The cheapest reader of OpenTelemetry's current context (a ``dict``): its ContextVar's own
# ``get`` under the default runtime, else the API.
_otel_current: Callable[[], Any] = (
    _OTEL_CONTEXT_VAR.get if _OTEL_CONTEXT_VAR is not None else otel_context.get_current
)
_get_current_span_api = otel_trace.get_current_span
_trace_text_cache: tuple[int, str] = (0, "")


def _trace_text(trace_id: int) -> str:
    global _trace_text_cache  # noqa: PLW0603 - a one-entry cache, replaced atomically
    cached = _trace_text_cache
    if cached[0] != trace_id:
        cached = _trace_text_cache = (trace_id, trace_id_from_int(trace_id))
    return cached[1]


class TraceFields:
    """Add ``trace_id``, ``span_id``, ``parent_span_id`` (and ``service``) to every event.

    ``resource``: more fields that describe the process (``service_version``,
    ``deployment_environment``, ``cloud_region``… see ``moose_trace.logging.resource``), added to
    every event that does not have them.

    Ids come from the active OpenTelemetry span when there is a valid local one (so a log line
    inside a span carries that span's id), else from the moose-trace context
    (``trace_context``). ``trace_id`` is normally already there from ``merge_context``; it is
    added here when missing, and an OpenTelemetry span's ids are used only when its trace is
    the event's trace. Fields already in the event are kept.
    """

    __slots__ = ("resource", "service")

    def __init__(
        self, service: str | None = None, resource: Mapping[str, Any] | None = None
    ) -> None:
        self.service = service
        self.resource: tuple[tuple[str, Any], ...] = tuple((resource or {}).items())

    def __repr__(self) -> str:
        return f"TraceFields(service={self.service!r}, resource={dict(self.resource)!r})"

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        """Add the fields to ``event_dict``."""
        service = self.service
        if service is not None and "service" not in event_dict:
            event_dict["service"] = service
        for key, value in self.resource:
            if key not in event_dict:
                event_dict[key] = value
        span = _otel_current().get(_SPAN_KEY) if _SPAN_KEY else _get_current_span_api()
        if (
            span is not None
            and span is not _INVALID_SPAN
            and type(span) is not ContextParent  # remote: never a line's span, and lazy
            and isinstance(span, _Span)
            and _add_span_ids(span, event_dict)
        ):
            return event_dict
        if "span_id" in event_dict:
            return event_dict
        frame = _FRAME.get()
        if frame is None:  # outside any trace_context
            return event_dict
        trace_id = _TRACE_ID.get()
        if trace_id is Ellipsis:
            trace_id = bind_pending()
            if trace_id is Ellipsis:
                trace_id = None
            else:  # a consumed record's trace, bound just now: its own frame is current
                frame = _FRAME.get()
        if event_dict.setdefault("trace_id", trace_id) == trace_id:
            span_ids = _span_ids_of(frame)
            event_dict["span_id"] = span_ids[0]
            if span_ids[1] is not None:
                event_dict["parent_span_id"] = span_ids[1]
        return event_dict


# The span ids of the last context a line was written in: a context's ids never change, and a
# run of lines comes from the same context (held strongly, so its identity cannot be reused).
_last_frame_ids: tuple[object, str, str | None] = (None, "", None)


def _span_ids_of(frame: Any) -> tuple[str, str | None]:
    global _last_frame_ids  # noqa: PLW0603 - a one-entry cache, replaced atomically
    cached = _last_frame_ids
    if cached[0] is not frame:
        cached = _last_frame_ids = (frame, frame.span_id, frame.parent_span_id)
    return cached[1], cached[2]


def _add_span_ids(span: otel_trace.Span, event_dict: EventDict) -> bool:
    """Add a valid local OpenTelemetry span's ids; false when the span does not apply."""
    span_context = span.get_span_context()
    if not span_context.is_valid or span_context.is_remote:
        return False
    span_trace = _trace_text(span_context.trace_id)
    if event_dict.setdefault("trace_id", span_trace) != span_trace:
        return False
    if "span_id" not in event_dict:
        event_dict["span_id"] = f"{span_context.span_id:016x}"
        parent = getattr(span, "parent", None)
        if parent is not None:
            event_dict["parent_span_id"] = f"{parent.span_id:016x}"
    return True


add_trace_fields = TraceFields()
"""``TraceFields`` without a service name: the processor for your own chains."""

ERROR_KEYS = frozenset({"exc_info", "error", "exception", "exc", "err", "error_type"})
"""Keys that make ``add_error_fields`` look at an event: an event without any is left as is."""
_EXCEPTION_KEYS = ("error", "exception", "exc", "err")


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        value = exc_info[1] if len(exc_info) == 3 else None
        return value if isinstance(value, BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


def add_error_fields(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Turn a logged exception into the error fields (see ``moose_trace.errors.error_fields``).

    The exception comes from ``exc_info`` (``log.exception(...)``, ``exc_info=True``, an
    exception or a ``sys.exc_info()`` tuple, stdlib records alike) or from an exception object
    logged as ``error=``, ``exception=``, ``exc=`` or ``err=``; that key is replaced by the
    fields. Fields the event already has win (a decorator may know a better category). An event
    with an ``error_type`` but no exception gets its ``error_signature`` too.
    """
    if ERROR_KEYS.isdisjoint(event_dict):
        return event_dict
    exc = _exception_of(event_dict.pop("exc_info", None))
    if exc is None:
        for key in _EXCEPTION_KEYS:
            value = event_dict.get(key)
            if isinstance(value, BaseException):
                exc = value
                del event_dict[key]
                break
    if exc is not None:
        for key, value in error_fields(exc).items():
            event_dict.setdefault(key, value)
    elif "error_type" in event_dict and "error_signature" not in event_dict:
        event_dict["error_signature"] = error_signature(
            event_dict["error_type"], event_dict.get("error_message", "")
        )
    return event_dict


PAYLOAD_KEYS = ("payload", "input", "output")
"""Keys that hold record data; logged only when the user opts in (``include_payload=True``)."""


def drop_payload(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Remove ``payload``, ``input`` and ``output``: record data is logged only on opt-in.

    ``configure_logging(include_payload=True)`` leaves this processor out; the data is then
    still redacted like every other field.
    """
    for key in PAYLOAD_KEYS:
        if key in event_dict:
            del event_dict[key]
    return event_dict


redact = default_redactor
"""The default ``Redactor`` as a processor: sensitive keys and secret-looking values hidden."""
