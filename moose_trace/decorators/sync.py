"""``traced_sync``: a batch of records synced from a topic into a table, traced as one call.

A batch spans many traces: its span links to each record's context and its log line lists the
records' ``trace_ids``, so ``moose-trace logs --trace <id>`` finds the insert that carried a
record. The line also says how big the batch was and how fast it went.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from moose_trace.decorators.dead_letters import DeadLetterSink

from ._kind import Kind
from ._plan import DEFAULT_MAX_TRACE_IDS, DEFAULT_SLOW_MS
from .core import decorator

__all__ = ["traced_sync"]

F = TypeVar("F", bound=Callable[..., Any])

SYNC = Kind(
    type="olap_table",
    layer="sync",
    success_event="batch synced",
    failure_event="batch sync failed",
    start_event="batch sync started",
    retry_event="batch sync retrying",
    batch=True,
)
"""How sync calls read in the logs."""


def traced_sync(
    table: str,
    consumer_group: str | None = None,
    *,
    dlq: DeadLetterSink | None = None,
    name: str | None = None,
    layer: str | None = None,
    operation: str | None = "batch_insert",
    slow_ms: float | None = DEFAULT_SLOW_MS,
    max_trace_ids: int = DEFAULT_MAX_TRACE_IDS,
    include_payload: bool = False,
    **fields: Any,
) -> Callable[[F], F]:
    """Trace a batch sync into ``table``: ``type=olap_table``, ``name=<table>``, ``layer=sync``.

    The first argument (after ``self``) is the batch: a list of confluent-kafka messages (trace
    ids from their headers) or of dict records (their ``trace_id``). Each call logs ``batch
    synced`` with ``table``, ``consumer_group``, ``operation`` (``batch_insert``),
    ``kafka_topic`` (when all messages share one), ``batch_size``, ``records`` (the function's
    ``int`` result when it returns one, else the batch size), ``throughput`` (records/s),
    ``latency_ms`` and ``trace_ids`` (at most ``max_trace_ids`` distinct ones; the number left
    out in ``trace_ids_dropped``). On failure, ``batch sync failed`` at error; with ``dlq``,
    each record is sent there inside its own trace and the call returns ``None``.
    """
    return decorator(
        SYNC,
        name=name or table,
        layer=layer,
        fields={
            "table": table,
            "consumer_group": consumer_group,
            "operation": operation,
            **fields,
        },
        slow_ms=slow_ms,
        dlq=dlq,
        include_payload=include_payload,
        max_trace_ids=max_trace_ids,
    )
