"""Hooks on moose-lib itself: Moose's own log lines carry the trace, outputs keep their input's.

- Moose writes its structured lines (``{"__moose_structured_log__": true, ...}`` on stderr)
  with ``json.dump``/``json.dumps`` in ``moose_lib.utilities.structured_logging`` and
  ``moose_lib.commons`` (``cli_log``). Those two modules get a ``json`` that adds
  ``trace_id`` and ``span_id`` of the current context to such a line, and to an error line an
  ``error_category``: the failed user function's (with its ``error_type``) when the line
  belongs to the record it failed on, else ``unknown_error`` — never an empty category.
  Everything else is the real ``json`` module.
- The runner calls each user function through ``StructuredLogContext.run``. Its result is
  looked at there, inside the record's trace: each output that will be sent (``None`` and
  ``None`` items of a list are not) queues that trace's headers, which ``KafkaProducer.send``
  takes in order when the runner sends the batch's outputs.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from typing import Any

from moose_trace._fastpath import FRAME_VAR, TRACE_ID_VAR
from moose_trace.errors.categories import UNKNOWN_ERROR, categorize_error, error_type_name
from moose_trace.kafka.headers import inject_headers, trace_headers
from moose_trace.moose._state import guard, thread_state
from moose_trace.tracing.context import (
    current_incoming,
    current_span_id,
    current_trace_id,
    trace_context,
)

__all__ = ["STRUCTURED_MARKER", "TracedMooseJson", "traced_run"]

STRUCTURED_MARKER = "__moose_structured_log__"
"""The key that marks Moose's structured log lines."""

_ERROR_LEVEL = "error"


def _with_trace(line: Any) -> Any:
    if type(line) is not dict or line.get(STRUCTURED_MARKER) is not True or not guard.on:
        return line
    trace_id = TRACE_ID_VAR.get()
    if (
        trace_id is not Ellipsis
        and "trace_id" not in line
        and (line.get("level") != _ERROR_LEVEL or "error_category" in line)
    ):
        # The usual line: inside a record's trace, no error to categorize. A new dict: the
        # caller's own is left as it was.
        frame = FRAME_VAR.get()
        if frame is None:
            return {**line, "trace_id": trace_id}
        return {**line, "trace_id": trace_id, "span_id": frame.span_id}
    return _with_trace_in_general(line)


def _with_trace_in_general(line: dict[str, Any]) -> Any:
    trace_id = current_trace_id()  # also an OpenTelemetry span's, outside any trace context
    uncategorized = line.get("level") == _ERROR_LEVEL and "error_category" not in line
    if (trace_id is None or "trace_id" in line) and not uncategorized:
        return line
    try:
        traced = dict(line)
        if trace_id is not None and "trace_id" not in line:
            traced["trace_id"] = trace_id
            span_id = current_span_id()
            if span_id is not None:
                traced["span_id"] = span_id
        if uncategorized:
            state = thread_state
            failure = state.failure
            record = state.record
            if failure is None or record is None or failure[0] is not record:
                traced["error_category"] = UNKNOWN_ERROR
            else:
                traced["error_category"] = failure[1]
                traced.setdefault("error_type", failure[2])
        return traced
    except Exception as exc:
        guard.failed(exc)
        return line


class TracedMooseJson(types.ModuleType):
    """The ``json`` module as Moose's logging modules see it once instrumented.

    ``dump`` and ``dumps`` add the trace to Moose's structured lines; every other attribute is
    the real module's.
    """

    def __init__(self, real: types.ModuleType = json) -> None:
        super().__init__(real.__name__, real.__doc__)
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def dump(self, obj: Any, fp: Any, *args: Any, **kwargs: Any) -> None:
        """``json.dump``, with the trace added to a Moose structured line."""
        if args or kwargs:
            self._real.dump(_with_trace(obj), fp, *args, **kwargs)
        else:
            # The same text as ``json.dump(obj, fp)``, in one write: ``dump`` encodes with the
            # pure-Python encoder and writes each token separately (about 20 writes a line).
            fp.write(self._real.dumps(_with_trace(obj)))

    def dumps(self, obj: Any, *args: Any, **kwargs: Any) -> str:
        """``json.dumps``, with the trace added to a Moose structured line."""
        text: str = self._real.dumps(_with_trace(obj), *args, **kwargs)
        return text


def _queue_outputs(record: trace_context, result: Any) -> None:
    # The record's own span is the outputs' parent: any span the function opened has ended by
    # now. A record that came with flags, tracestate or baggage sends them on (inject_headers
    # reads them from the record's context); the usual record needs only the two ids. One
    # header list per input, shared by all its outputs.
    if current_incoming() is None:
        headers = trace_headers(record.trace_id, record.span_id)
    else:
        headers = inject_headers()
    entry = (record.trace_id, headers)
    if isinstance(result, list):  # the runner sends a list's items one by one
        thread_state.pending.extend([entry for item in result if item is not None])
    else:
        thread_state.pending.append(entry)


def traced_run(original: Callable[..., Any]) -> Callable[..., Any]:
    """``StructuredLogContext.run`` that notes, inside the record's trace, what the call made."""

    def run(self: Any, context: Any, func: Callable[[], Any]) -> Any:
        state = thread_state
        record = state.record
        if record is None or not guard.on:
            return original(self, context, func)
        state.in_function = True
        try:
            result = original(self, context, func)
        except Exception as exc:
            try:
                state.failure = (record, categorize_error(exc), error_type_name(exc))
                state.dead_letter_for = record
            except Exception as hook_exc:
                guard.failed(hook_exc)
            raise
        finally:
            state.in_function = False
        if result is not None:
            try:
                if type(result) is not list and current_incoming() is None:
                    # The usual record and one output: its two ids, in line.
                    state.pending.append(
                        (record.trace_id, trace_headers(record.trace_id, record.span_id))
                    )
                else:
                    _queue_outputs(record, result)
            except Exception as exc:
                guard.failed(exc)
        return result

    return run
