"""The default logging chain of ``configure_logging`` compiled into one function.

``configure_logging`` hands structlog a chain of processors::

    merge_context → add_log_level → add_error_fields → (your extra processors) → drop_payload
    → redact → (add_caller_location) → TraceFields(service, resource) → add_timestamp → Emitter

``compile_line`` returns one function that does the same work in the same order on an event
dict, without structlog's per-processor dispatch: the processors whose work is a cheap test
on most events (errors, payload keys) are tested inline and called only when the test says so,
the others are called directly. Your extra processors run in their place, so adding some keeps
the fast path. The output is byte for byte the chain's (``tests/core/test_fast_line.py`` runs
random events through both).

Cost, and why: a structlog call spends more time in dispatch (the bound logger, the context
copy, one Python call per processor, the final logger call) than in the work itself (reading
the context, the timestamp, redaction's cached verdicts, ``orjson.dumps``, one ``write``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from structlog.typing import Processor

from moose_trace._fastpath import FRAME_VAR
from moose_trace.logging._outputs import Emitter
from moose_trace.logging.caller import add_caller_location
from moose_trace.logging.processors import (
    ERROR_KEYS,
    PAYLOAD_KEYS,
    TraceFields,
    add_error_fields,
    add_timestamp,
    drop_payload,
    merge_context,
)
from moose_trace.logging.redaction import Redactor
from moose_trace.tracing.context import PendingFrame

__all__ = ["LineFunction", "compile_line", "shared_processors"]

LineFunction = Callable[[str, str, dict[str, Any]], None]
"""``line(method_name, level, event_dict)``: process and write one event (it is consumed)."""


def shared_processors(
    *,
    service: str,
    redactor: Redactor | None,
    include_payload: bool,
    extra_processors: Sequence[Processor],
    caller: bool = False,
    resource: Mapping[str, Any] | None = None,
) -> list[Processor]:
    """Return the processors between the level and the timestamp, in chain order.

    ``configure_logging``'s structlog chain is ``[merge_context, add_log_level, *these,
    add_timestamp, emitter]``; its stdlib bridge runs ``[merge_context, *these]`` (a record
    brings its own level and time).
    """
    chain: list[Processor] = [add_error_fields, *extra_processors]
    if not include_payload:
        chain.append(drop_payload)
    if redactor is not None:
        chain.append(redactor)
    if caller:
        chain.append(add_caller_location)
    chain.append(TraceFields(service, resource))
    return chain


def compile_line(
    *,
    service: str,
    redactor: Redactor | None,
    include_payload: bool,
    extra_processors: Sequence[Processor],
    emitter: Emitter,
    caller: bool = False,
    resource: Mapping[str, Any] | None = None,
) -> LineFunction:
    """Return ``configure_logging``'s chain for these settings as one function."""
    extras = tuple(extra_processors)
    trace_fields = TraceFields(service, resource)
    locate = add_caller_location if caller else None
    no_error_keys = ERROR_KEYS.isdisjoint
    payload_keys = PAYLOAD_KEYS
    merge = merge_context
    stamp = add_timestamp
    emit = emitter.line_writer()
    dropping_payload = not include_payload
    redact = redactor
    # The frame's own trace id passes redaction unread (see ``Redactor.redact_event``), unless a
    # subclass changed what redacting an event does.
    redact_event = (
        redactor.redact_event
        if redactor is not None and type(redactor).__call__ is Redactor.__call__
        else None
    )
    current_frame = FRAME_VAR.get
    pending_frame = PendingFrame
    drop_event = structlog.DropEvent

    def line(method_name: str, level: str, event_dict: dict[str, Any]) -> None:
        merge(None, method_name, event_dict)
        event_dict["level"] = level
        if not no_error_keys(event_dict):
            add_error_fields(None, method_name, event_dict)
        if extras:
            processed: Any = event_dict
            try:
                for processor in extras:
                    processed = processor(None, method_name, processed)
            except drop_event:
                return
            event_dict = processed
        if dropping_payload:
            for key in payload_keys:
                if key in event_dict:
                    del event_dict[key]
        if redact_event is not None:
            frame = current_frame()  # (a pending record's was bound by the merge above)
            trusted = None
            if frame is not None and not isinstance(frame, pending_frame):
                trusted = frame.trace_id
            redact_event(event_dict, trusted)
        elif redact is not None:
            redact(None, method_name, event_dict)
        if locate is not None:
            locate(None, method_name, event_dict)
        trace_fields(None, method_name, event_dict)
        stamp(None, method_name, event_dict)
        emit(None, method_name, event_dict)

    return line
