"""``Plan``: everything about one decorated function that is decided once, at decoration.

The bound fields and their ContextVars, the event names, the span name and attributes, the slow
threshold in nanoseconds, where the input record and the run id are among the arguments, which
optional steps (batch, run id, retries, start line, payload) a call takes at all: a call reads
these and does only what is left (see ``_call``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from moose_trace.decorators.dead_letters import DeadLetterSink, dead_letter_target
from moose_trace.logging.redaction import Redactor, default_redactor
from moose_trace.metrics import operation_metrics
from moose_trace.tracing.context import bound_pairs, current_fields
from moose_trace.tracing.ids import new_trace_id
from moose_trace.tracing.otel import LAYER_ATTRIBUTE

from ._kind import Kind
from ._metrics import CallMetrics

__all__ = ["DEFAULT_MAX_TRACE_IDS", "DEFAULT_SLOW_MS", "MISSING", "Plan"]

DEFAULT_SLOW_MS = 1000.0
"""A call slower than this (milliseconds) logs its completion at warning instead of info."""
DEFAULT_MAX_TRACE_IDS = 1000
"""At most this many distinct ``trace_ids`` (and span links) per batch; the rest are counted."""
MISSING: Any = object()
"""The input record of a call that has none (no argument where the record goes)."""

_RUN_ID_PARAMETERS = ("workflow_run_id", "run_id")
_RECORD_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: the first argument counts
        return []


class Plan:
    """Everything about one decorated function that is the same for every call."""

    __slots__ = (
        "attributes",
        "batch",
        "context_fields",
        "dlq",
        "dlq_target",
        "fields",
        "include_payload",
        "kind",
        "log_start",
        "max_trace_ids",
        "metrics",
        "per_call_fields",
        "plain_success",
        "record_index",
        "record_name",
        "redactor",
        "retries",
        "retry_backoff_s",
        "run_id_index",
        "run_id_name",
        "run_ids",
        "slow_ms",
        "slow_ns",
        "span_name",
        "success_event",
        "success_status",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        kind: Kind,
        *,
        name: str | None,
        layer: str | None,
        fields: Mapping[str, Any],
        slow_ms: float | None,
        dlq: DeadLetterSink | None,
        include_payload: bool,
        max_trace_ids: int,
        log_start: bool,
        retries: int,
        retry_backoff_ms: float,
    ) -> None:
        if dlq is not None and not callable(getattr(dlq, "send", None)):
            raise TypeError(
                f"dlq must have a send(record, error) method (a DeadLetterSink), got {dlq!r}"
            )
        if retries < 0 or retry_backoff_ms < 0 or max_trace_ids < 0:
            raise ValueError("retries, retry_backoff_ms and max_trace_ids must not be negative")
        if slow_ms is not None and slow_ms < 0:
            raise ValueError("slow_ms must be a number of milliseconds ≥ 0, or None")
        self.kind = kind
        self.batch = kind.batch
        self.run_ids = kind.run_id is not None
        resolved = name or getattr(fn, "__name__", None) or type(fn).__name__
        resolved_layer = layer or kind.layer
        bound = {"type": kind.type, "name": resolved, "layer": resolved_layer}
        bound.update((key, value) for key, value in fields.items() if value is not None)
        self.fields: dict[str, Any] = bound
        # The ContextVars of the bound fields, looked up once: a call only sets them.
        self.context_fields = bound_pairs(bound)
        self.success_event = kind.success_event
        self.success_status = kind.success_status
        self.span_name = f"{kind.type} {resolved}"
        # The span name carries type and name, the call's log line every field (joined by the
        # trace and span ids): per-call attributes would cost the SDK ~4 µs for nothing new.
        # The layer is the one attribute a trace view filters on that the name does not give.
        self.attributes: dict[str, Any] = {LAYER_ATTRIBUTE: resolved_layer}
        self.slow_ms = slow_ms
        self.slow_ns = float("inf") if slow_ms is None else slow_ms * 1_000_000
        self.dlq = dlq
        self.dlq_target = None if dlq is None else dead_letter_target(dlq)
        self.include_payload = include_payload
        self.redactor: Redactor = default_redactor
        self.max_trace_ids = max_trace_ids
        self.log_start = log_start
        self.metrics: CallMetrics | None = None
        self.retries = retries
        self.retry_backoff_s = retry_backoff_ms / 1000
        # Fields bound per call beyond the record's (a run id, the retry count).
        self.per_call_fields = self.run_ids or bool(retries)
        # A success line of status and latency only (unless slow): no batch, no payload.
        self.plain_success = not (kind.batch or include_payload)
        parameters = _parameters(fn)
        self.record_index = 1 if parameters and parameters[0].name in ("self", "cls") else 0
        record = parameters[self.record_index] if len(parameters) > self.record_index else None
        self.record_name = record.name if record is not None else None
        self.run_id_index: int | None = None
        self.run_id_name: str | None = None
        for index, parameter in enumerate(parameters):
            if parameter.name in _RUN_ID_PARAMETERS and kind.run_id is not None:
                self.run_id_name = parameter.name
                if parameter.kind in _RECORD_KINDS:
                    self.run_id_index = index
                break

    def call_metrics(self) -> CallMetrics | None:
        """Return the metrics to record this function's calls with; ``None``: nothing records."""
        recorder = operation_metrics()
        if recorder is None:
            return None
        cached = self.metrics
        if cached is None or cached.recorder is not recorder:
            io = self.batch or self.kind.type == "transform"
            cached = self.metrics = CallMetrics(recorder, self.fields, self.success_status, io=io)
        return cached

    def record_of(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Return the call's input record (first argument after ``self``), or ``MISSING``."""
        index = self.record_index
        if len(args) > index:
            return args[index]
        name = self.record_name
        return kwargs.get(name, MISSING) if name is not None and kwargs else MISSING

    def extra_fields(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any], fields: dict[str, Any]
    ) -> None:
        """Add the fields bound per call beyond the record's: the run id, the retry count."""
        if self.run_ids:
            run_id = self.run_id(args, kwargs)
            if run_id is not None:
                fields["workflow_run_id"] = run_id
        if self.retries:
            fields["retry_count"] = 0

    def run_id(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
        """Return the call's ``workflow_run_id``: an argument, the context's, or a new one."""
        value: Any = None
        if self.run_id_index is not None and len(args) > self.run_id_index:
            value = args[self.run_id_index]
        elif self.run_id_name is not None:
            value = kwargs.get(self.run_id_name)
        if value is not None:
            return str(value)
        if self.kind.run_id == "new":
            return new_trace_id()
        bound = current_fields().get("workflow_run_id")
        return None if bound is None else str(bound)
