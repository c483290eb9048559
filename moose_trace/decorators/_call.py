"""``Call``: one call of a decorated function, from its start to its one log line.

Starting a call reads its input record (its trace, its sender, its Kafka position), enters the
call's ``trace_context`` with the plan's prepared fields, starts a span only when a tracer
provider is set, and starts the clock. It ends in exactly one of ``succeeded`` (the completion
line; at warning when slow) or ``failed`` (the failure line, the dead-letter sink), each of
which records the metrics and leaves the span and the context. ``retry_delay`` logs an attempt
that will be tried again. Every step the plan decided away costs one attribute test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from moose_trace.decorators.dead_letters import DeadLetterSink
from moose_trace.errors.categories import error_fields, error_message, error_type_name
from moose_trace.logging._latency import latency_ms
from moose_trace.logging._outputs import report_once
from moose_trace.logging.config import direct_logger
from moose_trace.tracing.context import bind_fields, bound_pairs, enter_prepared
from moose_trace.tracing.propagation import bind_incoming
from moose_trace.tracing.spans import end_span, start_span, tracer_provider_set

from ._batch import Batch, batch_of, send_each_in_its_trace
from ._inputs import is_kafka_record, kafka_fields, payload_of, record_origin
from ._plan import MISSING, Plan

__all__ = ["DECORATOR_LOG", "Call"]

DECORATOR_LOG = direct_logger("moose_trace.decorators")
"""The logger of the decorators' lines (``logger`` field ``moose_trace.decorators``)."""
_log = DECORATOR_LOG
_INFO = logging.INFO
_perf_ns = time.perf_counter_ns


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
            record = kwargs.get(plan.record_name, MISSING)
        else:
            record = MISSING
        self._record = record
        pairs = plan.context_fields
        extra: dict[str, Any] | None = None
        trace_id = parent = carried = None
        batch = None
        if plan.batch:
            batch = batch_of(record, plan.max_trace_ids)
            if batch is not None and batch.topic is not None:
                extra = {"kafka_topic": batch.topic}
        elif record is not MISSING:
            kafka = type(record) is not dict and is_kafka_record(record)
            trace_id, parent, carried = record_origin(record, kafka)
            if kafka:
                extra = kafka_fields(record)
        self._batch = batch
        if plan.per_call_fields:
            extra = {} if extra is None else dict(extra)
            plan.extra_fields(args, kwargs, extra)
        if extra:
            pairs = pairs + bound_pairs(extra)  # set after the plan's: the same keys win
        context = self._context = enter_prepared(trace_id, pairs, None, parent)
        if carried is not None:
            bind_incoming(carried)
        self._span = (
            self._start_span(context.trace_id, context.parent_span_id)
            if (tracer_provider_set())
            else None
        )
        if plan.log_start:
            _log.info(plan.kind.start_event, status="started")
        self._start = _perf_ns()

    def _start_span(self, trace_id: str, parent: str | None) -> Any:
        plan = self._plan
        attributes = plan.attributes
        batch = self._batch
        linked: Any = ()
        if batch is not None:
            attributes = {**attributes, "moose.batch_size": batch.size}
            linked = batch.traces.items()
        try:
            return start_span(plan.span_name, attributes, trace_id, parent, linked)
        except Exception as error:  # a broken tracer must not break the user's function
            report_once(f"span:{type(error).__name__}", f"cannot start a span: {error!r}")
            return None

    def _close(self, error: BaseException | None) -> None:
        span = self._span
        if span is None:
            self._context.__exit__(None, None, None)
            return
        try:
            end_span(span, error)
        finally:
            self._context.__exit__(None, None, None)

    def _input(self) -> Any:
        record = self._record
        return None if record is MISSING else record

    def _payload(self, **values: Any) -> dict[str, Any]:
        redactor = self._plan.redactor
        return {key: payload_of(value, redactor) for key, value in values.items()}

    def succeeded(self, result: Any) -> None:
        """Log the completion (at warning when slow), record the metrics, close the call."""
        elapsed = _perf_ns() - self._start
        plan = self._plan
        try:
            if plan.plain_success and elapsed < plan.slow_ns:
                _log.log(
                    _INFO,
                    plan.success_event,
                    {"status": plan.success_status, "latency_ms": latency_ms(elapsed)},
                )
            else:
                self._log_full_success(result, elapsed)
            metrics = plan.call_metrics()
            if metrics is not None:
                batch = self._batch
                size = None if batch is None else batch.size
                metrics.succeeded(elapsed, self._input(), result, size)
        finally:
            self._close(None)

    def _log_full_success(self, result: Any, elapsed: int) -> None:
        """The completion line with a batch's counts, the payload or the slow threshold."""
        plan = self._plan
        fields: dict[str, Any] = {
            "status": plan.success_status,
            "latency_ms": latency_ms(elapsed),
        }
        batch = self._batch
        if batch is not None:
            fields["batch_size"] = batch.size
            records = result if type(result) is int and result >= 0 else batch.size
            fields["records"] = records
            if elapsed > 0:
                fields["throughput"] = round(records * 1e9 / elapsed, 1)
            fields["trace_ids"] = list(batch.traces)
            if batch.dropped:
                fields["trace_ids_dropped"] = batch.dropped
        if plan.include_payload:
            fields["payload"] = self._payload(input=self._input(), output=result)
        if elapsed >= plan.slow_ns:
            fields["slow_threshold_ms"] = plan.slow_ms
            _log.warning(plan.success_event, **fields)
        else:
            _log.info(plan.success_event, **fields)

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
            fields: dict[str, Any] = {"latency_ms": latency_ms(elapsed), **error_fields(error)}
            metrics = plan.call_metrics()
            if metrics is not None:
                status = "failed" if isinstance(error, Exception) else "cancelled"
                metrics.failed(elapsed, status, fields.get("error_category"))
            if not isinstance(error, Exception):
                _log.warning(plan.kind.failure_event, status="cancelled", **fields)
                return False
            fields["status"] = "failed"
            batch = self._batch
            if batch is not None:
                batch.line_fields(fields)
            if plan.include_payload:
                fields["payload"] = self._payload(input=self._input())
            if plan.dlq is not None and self._record is not MISSING:
                fields["dlq"] = plan.dlq_target
                problem = self._dead_letter(plan.dlq, error, batch)
                if problem is None:
                    handled = True
                else:
                    fields["dlq_error_type"] = error_type_name(problem)
                    fields["dlq_error_message"] = error_message(problem)
            _log.error(plan.kind.failure_event, **fields)
        finally:
            self._close(error)
        return handled

    def _dead_letter(
        self, sink: DeadLetterSink, error: BaseException, batch: Batch | None
    ) -> Exception | None:
        """Send the input to ``sink``; a batch record by record, each in its own trace."""
        record = self._record
        if batch is not None:
            return send_each_in_its_trace(sink, record, error)
        try:
            sink.send(record, error)
        except Exception as problem:
            return problem
        return None
