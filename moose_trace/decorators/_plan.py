"""The machinery behind every ``traced_*`` decorator: a plan made once, a call made per call.

``Plan`` holds everything that does not change between calls (the bound fields, the event
names, the span name and attributes, where the input record is among the arguments), so a call
only reads its record, enters a ``trace_context``, starts a span when a tracer provider is set,
and writes one log line at the end.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from moose_trace._fastpath import TRACE_ID_VAR, TRACER_PROVIDER_FROM_ENV
from moose_trace._fastpath import global_tracer_provider as _global_tracer_provider
from moose_trace.decorators.dead_letters import DeadLetterSink, dead_letter_target
from moose_trace.errors.categories import error_fields, error_message, error_type_name
from moose_trace.logging._outputs import report_once
from moose_trace.logging.config import direct_logger
from moose_trace.logging.redaction import Redactor, default_redactor
from moose_trace.metrics import operation_metrics
from moose_trace.tracing.context import (
    bind_fields,
    bound_pairs,
    current_fields,
    current_incoming,
    enter_prepared,
    trace_context,
)
from moose_trace.tracing.ids import new_trace_id
from moose_trace.tracing.otel import LAYER_ATTRIBUTE
from moose_trace.tracing.propagation import IncomingTrace, bind_incoming

from ._inputs import (
    RecordTrace,
    is_kafka_record,
    kafka_fields,
    payload_of,
    record_incoming,
    record_trace,
)
from ._metrics import CallMetrics
from ._spans import (
    attach_record_context,
    detach,
    end_span,
    start_span,
)

__all__ = [
    "DECORATOR_LOG",
    "DEFAULT_MAX_TRACE_IDS",
    "DEFAULT_SLOW_MS",
    "Call",
    "Kind",
    "Plan",
]

DEFAULT_SLOW_MS = 1000.0
"""A call slower than this (milliseconds) logs its completion at warning instead of info."""
DEFAULT_MAX_TRACE_IDS = 1000
"""At most this many distinct ``trace_ids`` (and span links) per batch; the rest are counted."""

_MISSING: Any = object()
DECORATOR_LOG = direct_logger("moose_trace.decorators")
"""The logger of the decorators' lines (``logger`` field ``moose_trace.decorators``)."""
_log = DECORATOR_LOG
_INFO = logging.INFO
_perf_ns = time.perf_counter_ns
_trace_id_var = TRACE_ID_VAR
_PROVIDER_FROM_ENV = TRACER_PROVIDER_FROM_ENV
_RUN_ID_PARAMETERS = ("workflow_run_id", "run_id")
_RECORD_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class Kind:
    """How one decorator's calls read in the logs: primitive type, default layer, events."""

    type: str
    layer: str
    success_event: str
    failure_event: str
    start_event: str
    retry_event: str
    success_status: str = "success"
    batch: bool = False
    run_id: Literal["new", "inherit"] | None = None
    """``new``: each call is a workflow run with its own id; ``inherit``: a task of one."""


def generic_kind(kind: str, layer: str | None) -> Kind:
    """Return the ``Kind`` of ``traced(type=kind)``: events ``<type> started/completed/failed``."""
    return Kind(
        type=kind,
        layer=layer or "",
        success_event=f"{kind} completed",
        failure_event=f"{kind} failed",
        start_event=f"{kind} started",
        retry_event=f"{kind} retrying",
    )


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
        "record_index",
        "record_name",
        "redactor",
        "retries",
        "retry_backoff_s",
        "run_id_index",
        "run_id_name",
        "run_ids",
        "simple",
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
        # No batch, run id, retries, start line or payload: calls take the short path (begin).
        self.simple = not (kind.batch or self.run_ids or retries or log_start or include_payload)
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
        """Return the call's input record (first argument after ``self``), or ``_MISSING``."""
        index = self.record_index
        if len(args) > index:
            return args[index]
        name = self.record_name
        return kwargs.get(name, _MISSING) if name is not None and kwargs else _MISSING

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


@dataclass
class Batch:
    """What a batch argument holds: its size, its records' traces, their common topic."""

    size: int
    traces: dict[str, str | None]
    dropped: int
    topic: str | None


def _batch_of(value: Any, limit: int) -> Batch | None:
    if (
        value is _MISSING
        or isinstance(value, (str, bytes, bytearray, Mapping, Iterator))
        or not isinstance(value, Collection)
    ):
        return None  # not a batch, or one that reading would consume
    traces: dict[str, str | None] = {}
    overflow: set[str] = set()
    topics: set[Any] = set()
    for record in value:
        found = record_trace(record)
        if found is not None and found[0] not in traces:
            if len(traces) < limit:
                traces[found[0]] = found[1]
            else:
                overflow.add(found[0])
        if is_kafka_record(record):
            topics.add(kafka_fields(record).get("kafka_topic"))
    topic = next(iter(topics)) if len(topics) == 1 else None
    return Batch(len(value), traces, len(overflow), topic if isinstance(topic, str) else None)


def begin(plan: Plan, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """Start a call of a ``simple`` plan: ``(record, context, span)``; the wrapper does the rest.

    The same steps as ``Call``'s, for plans without batch, run id, retries, start line or
    payload: what most calls take, without building a ``Call`` unless the call fails.
    """
    index = plan.record_index
    if len(args) > index:
        record = args[index]
    elif kwargs and plan.record_name is not None:
        record = kwargs.get(plan.record_name, _MISSING)
    else:
        record = _MISSING
    fields = plan.context_fields
    trace_id: str | None = None
    parent: str | None = None
    carried: IncomingTrace | None = None
    if record is not _MISSING:
        kafka = type(record) is not dict and is_kafka_record(record)
        trace_id, parent, carried = _record_origin(record, kafka)
        if kafka:
            extra = kafka_fields(record)
            if extra:
                fields = fields + bound_pairs(extra)
    context = enter_prepared(trace_id, fields, None, parent)
    if carried is not None:
        bind_incoming(carried)
    if _PROVIDER_FROM_ENV or _global_tracer_provider() is not None:
        span = _start_span_safely(plan, context.trace_id, context.parent_span_id, None)
        return record, context, span
    return record, context, None


Origin = tuple[str | None, str | None, IncomingTrace | None]
_NO_ORIGIN: Origin = (None, None, None)


def _record_origin(record: Any, kafka: bool) -> Origin:
    """Return ``(trace id to enter, parent span, what to send on)`` for a call handling ``record``.

    Outside a trace, the record's trace and sender; inside one, the sender of a Kafka record of
    the same trace (the span whose ``traceparent`` it carries), so the call's line names the
    span that produced its input as its parent, whether or not a context encloses the call.
    The third part is the record's incoming trace when it carries flags, ``tracestate`` or
    baggage that the call's own outgoing records and calls must pass on (and no enclosing
    context keeps them already); else ``None``.
    """
    current = _trace_id_var.get()
    if current is Ellipsis or current is None:  # not in a trace yet: the record's, if any
        found = record_incoming(record)
        if found is None:
            return _NO_ORIGIN
        return found.trace_id, found.parent_span_id, found if found.carries_state else None
    if kafka:
        found = record_incoming(record)
        if found is not None and found.trace_id == current:
            kept = current_incoming()
            carried = found.carries_state and (kept is None or kept.trace_id != current)
            return None, found.parent_span_id, found if carried else None
    return _NO_ORIGIN


def _start_span_safely(plan: Plan, trace_id: str, parent: str | None, batch: Batch | None) -> Any:
    attributes: dict[str, Any] = plan.attributes
    linked: Any = ()
    if batch is not None:
        attributes = {**attributes, "moose.batch_size": batch.size}
        linked = batch.traces.items()
    try:
        return start_span(plan.span_name, attributes, trace_id, parent, linked)
    except Exception as error:  # a broken tracer must not break the user's function
        report_once(f"span:{type(error).__name__}", f"cannot start a span: {error!r}")
        return None


def finish(plan: Plan, record: Any, context: Any, span: Any, start: int, *, result: Any) -> None:
    """Close a call begun with ``begin`` that returned ``result``: its line, span and context.

    The usual call (not slow) logs its completion here, as ``Call.succeeded`` does, without
    building a ``Call``; a slow one goes the long way. One plain call for both wrappers.
    """
    elapsed = _perf_ns() - start
    if elapsed >= plan.slow_ns:
        Call.resumed(plan, record, context, span, start).succeeded(result)
        return
    try:  # latency in milliseconds, to the microsecond
        _log.log(
            _INFO,
            plan.success_event,
            {"status": plan.success_status, "latency_ms": (elapsed + 500) // 1000 / 1000},
        )
        metrics = plan.call_metrics()
        if metrics is not None:
            metrics.succeeded(elapsed, record, result, None)
    finally:
        if span is None:
            context.__exit__(None, None, None)
        else:
            try:
                end_span(span, None)
            finally:
                context.__exit__(None, None, None)


class Call:
    """One call of a decorated function, from its start to its one log line."""

    __slots__ = ("_batch", "_context", "_plan", "_record", "_span", "_start", "retry_count")

    def __init__(self, plan: Plan, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        self._plan = plan
        self.retry_count = 0
        index = plan.record_index
        if len(args) > index:
            record = args[index]
        elif kwargs and plan.record_name is not None:
            record = kwargs.get(plan.record_name, _MISSING)
        else:
            record = _MISSING
        self._record = record
        fields = plan.context_fields
        extra: dict[str, Any] | None = None
        trace_id: str | None = None
        parent: str | None = None
        carried: IncomingTrace | None = None
        self._batch = None
        if plan.batch:
            batch = self._batch = _batch_of(record, plan.max_trace_ids)
            if batch is not None and batch.topic is not None:
                extra = {"kafka_topic": batch.topic}
        elif record is not _MISSING:
            kafka = type(record) is not dict and is_kafka_record(record)
            trace_id, parent, carried = _record_origin(record, kafka)
            if kafka:
                extra = kafka_fields(record)
        if plan.run_ids:
            run_id = plan.run_id(args, kwargs)
            if run_id is not None:
                extra = {**(extra or {}), "workflow_run_id": run_id}
        if plan.retries:
            extra = {**(extra or {}), "retry_count": 0}
        if extra:
            fields = fields + bound_pairs(extra)  # set after the plan's: the same keys win
        context = self._context = enter_prepared(trace_id, fields, None, parent)
        if carried is not None:
            bind_incoming(carried)
        # No tracer provider (OpenTelemetry's module global still None): no span, no call.
        if _PROVIDER_FROM_ENV or _global_tracer_provider() is not None:
            self._span = self._start_span(context.trace_id, context.parent_span_id)
        else:
            self._span = None
        if plan.log_start:
            _log.info(plan.kind.start_event, status="started")
        self._start = _perf_ns()

    @classmethod
    def resumed(cls, plan: Plan, record: Any, context: Any, span: Any, start: int) -> Call:
        """The ``Call`` of a call begun with ``begin``: to finish it the long way (failed, slow)."""
        call = _new_call(cls)
        call._plan = plan
        call.retry_count = 0
        call._record = record
        call._batch = None
        call._context = context
        call._span = span
        call._start = start
        return call

    def _start_span(self, trace_id: str, parent: str | None) -> Any:
        return _start_span_safely(self._plan, trace_id, parent, self._batch)

    def _close(self, error: BaseException | None) -> None:
        span = self._span
        if span is None:
            self._context.__exit__(None, None, None)
            return
        try:
            end_span(span, error)
        finally:
            self._context.__exit__(None, None, None)

    def _batch_fields(self, fields: dict[str, Any], result: Any, elapsed_ns: int) -> None:
        batch = self._batch
        if batch is None:
            return
        fields["batch_size"] = batch.size
        records = result if type(result) is int and result >= 0 else batch.size
        fields["records"] = records
        if elapsed_ns > 0:
            fields["throughput"] = round(records * 1e9 / elapsed_ns, 1)
        fields["trace_ids"] = list(batch.traces)
        if batch.dropped:
            fields["trace_ids_dropped"] = batch.dropped

    def _payload(self, **values: Any) -> dict[str, Any]:
        redactor = self._plan.redactor
        return {key: payload_of(value, redactor) for key, value in values.items()}

    def succeeded(self, result: Any) -> None:
        """Log the completion (at warning when slow) and close the span and the context."""
        elapsed = _perf_ns() - self._start
        plan = self._plan
        try:
            metrics = plan.call_metrics()
            if metrics is not None:
                batch = self._batch
                size = None if batch is None else batch.size
                metrics.succeeded(elapsed, self._input(), result, size)
            if self._batch is None and elapsed < plan.slow_ns and not plan.include_payload:
                _log.log(
                    _INFO,
                    plan.success_event,
                    {"status": plan.success_status, "latency_ms": (elapsed + 500) // 1000 / 1000},
                )
                return
            fields: dict[str, Any] = {
                "status": plan.kind.success_status,
                "latency_ms": (elapsed + 500) // 1000 / 1000,
            }
            self._batch_fields(fields, result, elapsed)
            if plan.include_payload:
                fields["payload"] = self._payload(input=self._input(), output=result)
            if elapsed >= plan.slow_ns:
                fields["slow_threshold_ms"] = plan.slow_ms
                _log.warning(plan.kind.success_event, **fields)
            else:
                _log.info(plan.kind.success_event, **fields)
        finally:
            self._close(None)

    def _input(self) -> Any:
        record = self._record
        return None if record is _MISSING else record

    def retry_delay(self, error: BaseException) -> float | None:
        """Log a failed attempt that will be retried; the seconds to wait, or ``None``: give up."""
        plan = self._plan
        if self.retry_count >= plan.retries or not isinstance(error, Exception):
            return None
        self.retry_count += 1
        _log.warning(
            plan.kind.retry_event,
            status="retrying",
            retry_count=self.retry_count,
            backoff_ms=plan.retry_backoff_s * 1000,
            **error_fields(error),
        )
        bind_fields(retry_count=self.retry_count)
        return plan.retry_backoff_s

    def failed(self, error: BaseException) -> bool:
        """Log the failure and close the call; true when the input went to the dead-letter sink.

        Only an ``Exception`` goes to the sink; cancellation and exits (``CancelledError``,
        ``KeyboardInterrupt``) are logged at warning as ``cancelled`` and always propagate.
        """
        plan = self._plan
        elapsed = _perf_ns() - self._start
        handled = False
        try:
            fields: dict[str, Any] = {
                "latency_ms": (elapsed + 500) // 1000 / 1000,
                **error_fields(error),
            }
            metrics = plan.call_metrics()
            if metrics is not None:
                status = "failed" if isinstance(error, Exception) else "cancelled"
                metrics.failed(elapsed, status, fields.get("error_category"))
            if not isinstance(error, Exception):
                _log.warning(plan.kind.failure_event, status="cancelled", **fields)
                return False
            fields["status"] = "failed"
            if self._batch is not None:
                fields["batch_size"] = self._batch.size
                fields["trace_ids"] = list(self._batch.traces)
                if self._batch.dropped:
                    fields["trace_ids_dropped"] = self._batch.dropped
            if plan.include_payload:
                fields["payload"] = self._payload(input=self._input())
            if plan.dlq is not None and self._record is not _MISSING:
                fields["dlq"] = plan.dlq_target
                problem = self._dead_letter(plan.dlq, error)
                if problem is None:
                    handled = True
                else:
                    fields["dlq_error_type"] = error_type_name(problem)
                    fields["dlq_error_message"] = error_message(problem)
            _log.error(plan.kind.failure_event, **fields)
        finally:
            self._close(error)
        return handled

    def _dead_letter(self, sink: DeadLetterSink, error: BaseException) -> Exception | None:
        """Send the input to ``sink``; a batch record by record, each in its own trace."""
        record = self._record
        if self._batch is None:
            try:
                sink.send(record, error)
            except Exception as problem:
                return problem
            return None
        first_problem: Exception | None = None
        for item in record:
            try:
                _send_in_record_trace(sink, item, error, record_trace(item))
            except Exception as problem:
                first_problem = first_problem or problem
        return first_problem


_new_call = object.__new__


def _send_in_record_trace(
    sink: DeadLetterSink, record: Any, error: BaseException, trace: RecordTrace | None
) -> None:
    """Send one record of a batch inside its own trace, so what the sink produces carries it."""
    if trace is None:
        sink.send(record, error)
        return
    with trace_context(trace[0]):
        token = attach_record_context(*trace)
        try:
            sink.send(record, error)
        finally:
            detach(token)
