"""``traced``: the general decorator; every ``traced_*`` decorator is ``traced`` with presets.

A decorated function runs inside a ``trace_context`` binding ``type``, ``name``, ``layer`` and
your fields (so every log line inside it carries them), inside an OpenTelemetry span when a
tracer provider is set, and leaves one log line per call: completion at info with
``latency_ms`` (at warning when slower than ``slow_ms``), or failure at error with the error
fields. Sync and async functions, methods, class and static methods alike; the wrapper keeps
the function's name, docstring, signature and coroutine-ness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from moose_trace.decorators.dead_letters import DeadLetterSink

from ._kind import Kind, generic_kind
from ._plan import DEFAULT_MAX_TRACE_IDS, DEFAULT_SLOW_MS, Plan
from ._wrappers import wrap

__all__ = ["DEFAULT_MAX_TRACE_IDS", "DEFAULT_SLOW_MS", "traced"]

F = TypeVar("F", bound=Callable[..., Any])


def traced(
    type: str,
    name: str | None = None,
    layer: str | None = None,
    *,
    slow_ms: float | None = DEFAULT_SLOW_MS,
    dlq: DeadLetterSink | None = None,
    include_payload: bool = False,
    batch: bool = False,
    max_trace_ids: int = DEFAULT_MAX_TRACE_IDS,
    log_start: bool = False,
    retries: int = 0,
    retry_backoff_ms: float = 0,
    **fields: Any,
) -> Callable[[F], F]:
    """Trace every call of a function as the user primitive ``type`` named ``name``.

    - ``type``, ``name`` (default: the function's name), ``layer`` and ``fields`` (e.g.
      ``operation="batch_insert"``; ``None`` values are left out) are bound for the call.
    - The trace id is the caller's when one is bound (inside ``message_context``, a request),
      else the input record's (first argument after ``self``: a Kafka message's headers, a
      dict's ``trace_id``), else a new one.
    - ``slow_ms``: completion slower than this logs at warning (``None``: never).
    - ``dlq``: on an ``Exception``, ``dlq.send(record, error)`` inside the call's trace, log
      with ``dlq=<its topic or name>``, and return ``None`` instead of raising.
    - ``include_payload``: log the input and output (``payload``), redacted.
    - ``batch``: the first argument is a batch of records: log ``batch_size``, ``records``,
      ``throughput`` and the records' ``trace_ids`` (at most ``max_trace_ids``, the number
      left out in ``trace_ids_dropped``); the span links to each record's context.
    - ``log_start``: also log ``<type> started`` when the call begins.
    - ``retries``: call again up to this many times after an ``Exception``, waiting
      ``retry_backoff_ms``; each failed attempt logs ``<type> retrying`` at warning and the
      attempt number is bound as ``retry_count``.
    """
    kind = generic_kind(type, layer)
    if batch:
        kind = dataclasses.replace(kind, batch=True)
    return decorator(
        kind,
        name=name,
        layer=layer,
        fields=fields,
        slow_ms=slow_ms,
        dlq=dlq,
        include_payload=include_payload,
        max_trace_ids=max_trace_ids,
        log_start=log_start,
        retries=retries,
        retry_backoff_ms=retry_backoff_ms,
    )


def decorator(
    kind: Kind,
    *,
    name: str | None = None,
    layer: str | None = None,
    fields: Mapping[str, Any] | None = None,
    slow_ms: float | None = DEFAULT_SLOW_MS,
    dlq: DeadLetterSink | None = None,
    include_payload: bool = False,
    max_trace_ids: int = DEFAULT_MAX_TRACE_IDS,
    log_start: bool = False,
    retries: int = 0,
    retry_backoff_ms: float = 0,
) -> Callable[[F], F]:
    """Return the decorator for ``kind`` with these options (the presets' common machinery).

    Options are checked here, at decoration time, so a wrong one fails at import, not on the
    first record.
    """

    def plan_for(fn: Callable[..., Any]) -> Plan:
        return Plan(
            fn,
            kind,
            name=name,
            layer=layer,
            fields=fields or {},
            slow_ms=slow_ms,
            dlq=dlq,
            include_payload=include_payload,
            max_trace_ids=max_trace_ids,
            log_start=log_start,
            retries=retries,
            retry_backoff_ms=retry_backoff_ms,
        )

    plan_for(_check_options)  # fail now on bad options, not at the first decorated function

    def decorate(fn: F) -> F:
        return cast(F, wrap(fn, plan_for))

    return decorate


def _check_options(record: object) -> None:
    """Stands in for a function while the options are checked."""
