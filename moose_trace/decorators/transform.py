"""``traced_transform``: one streaming transform call per record, traced from its input.

The record's trace id (from its Kafka headers, or a dict's ``trace_id``) becomes the call's,
unless the caller already runs in a trace (``message_context``); records produced inside the
call with ``TracedProducer`` therefore carry the input's trace. Failures can go to a
dead-letter sink instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from moose_trace.decorators.dead_letters import DeadLetterSink

from ._kind import Kind
from ._plan import DEFAULT_SLOW_MS
from .core import decorator

__all__ = ["traced_transform"]

F = TypeVar("F", bound=Callable[..., Any])

TRANSFORM = Kind(
    type="transform",
    layer="streaming",
    success_event="record transformed",
    failure_event="transform failed",
    start_event="transform started",
    retry_event="transform retrying",
)
"""How transform calls read in the logs."""


@overload
def traced_transform(name: F, /) -> F: ...


@overload
def traced_transform(
    name: str | None = None,
    *,
    source: str | None = None,
    target: str | None = None,
    include_payload: bool = False,
    dlq: DeadLetterSink | None = None,
    slow_ms: float | None = DEFAULT_SLOW_MS,
    layer: str | None = None,
    **fields: Any,
) -> Callable[[F], F]: ...


def traced_transform(
    name: Any = None,
    *,
    source: str | None = None,
    target: str | None = None,
    include_payload: bool = False,
    dlq: DeadLetterSink | None = None,
    slow_ms: float | None = DEFAULT_SLOW_MS,
    layer: str | None = None,
    **fields: Any,
) -> Any:
    """Trace a transform: ``type=transform``, ``layer=streaming``, ``source`` and ``target``.

    The first argument (after ``self``) is the input record: a Kafka message or a dict. Each
    call logs ``record transformed`` at info with ``latency_ms`` (warning past ``slow_ms``), or
    ``transform failed`` at error with the error fields, then re-raises — or, with ``dlq``,
    sends the input there (``dlq=<topic>`` in the line) and returns ``None``. With
    ``include_payload=True`` the line holds ``payload: {input, output}``, redacted. Works
    bare (``@traced_transform``) too.
    """
    options = decorator(
        TRANSFORM,
        name=None if callable(name) else name,
        layer=layer,
        fields={"source": source, "target": target, **fields},
        slow_ms=slow_ms,
        dlq=dlq,
        include_payload=include_payload,
    )
    return options(name) if callable(name) else options
