"""A request's metrics: one operation (count, duration) labelled by primitive and outcome.

Recorded through ``moose_trace.metrics`` when the response is done; nothing while no
``MeterProvider`` is set. ``status`` is ``success`` (< 400), ``client_error`` (4xx), ``failed``
(5xx or an unhandled exception) or ``cancelled``; ``error_category`` is the access line's.
"""

from __future__ import annotations

from moose_trace._log_outputs import report_once
from moose_trace.errors import categorize_error
from moose_trace.metrics import OperationMetrics, operation_metrics

__all__ = ["record_request"]

_MAX_CACHED = 1024
# (recorder, type, layer, name) → the attributes of its successful requests, built once.
_success: dict[tuple[object, str, str, str], dict[str, str]] = {}


def _outcome(
    status: int, error: BaseException | None, category: str | None
) -> tuple[str, str | None]:
    if error is not None:
        if isinstance(error, Exception):
            return "failed", categorize_error(error)
        return "cancelled", None
    if status >= 500:
        return "failed", category
    if status >= 400:
        return "client_error", category
    return "success", None


def _success_attributes(
    recorder: OperationMetrics, primitive: str, layer: str, name: str
) -> dict[str, str]:
    key = (recorder, primitive, layer, name)
    attributes = _success.get(key)
    if attributes is None:
        if len(_success) >= _MAX_CACHED:
            _success.clear()
        attributes = _success[key] = recorder.attributes(primitive, layer, name, "success")
    return attributes


def record_request(
    primitive: str,
    layer: str,
    name: str,
    *,
    elapsed_ns: int,
    status: int,
    error: BaseException | None,
    category: str | None,
) -> None:
    """Record one finished request; never raises."""
    recorder = operation_metrics()
    if recorder is None:
        return
    try:
        outcome, error_category = _outcome(status, error, category)
        if outcome == "success":
            attributes = _success_attributes(recorder, primitive, layer, name)
        else:
            attributes = recorder.attributes(primitive, layer, name, outcome, error_category)
        recorder.operation(attributes, elapsed_ns / 1e9)
    except Exception as problem:  # a broken metrics pipeline must not break the response
        report_once(f"metrics:{type(problem).__name__}", f"cannot record metrics: {problem!r}")
