"""A request's metrics: one operation (count, duration) labelled by primitive and outcome.

Recorded through ``moose_trace.metrics`` when the response is done; nothing while no
``MeterProvider`` is set. ``status`` is ``success`` (< 400), ``client_error`` (4xx), ``failed``
(5xx or an unhandled exception) or ``cancelled``; ``error_category`` is the access line's.
"""

from __future__ import annotations

from moose_trace.errors.categories import categorize_error
from moose_trace.logging._outputs import report_once
from moose_trace.metrics import OperationMetrics, Series, operation_metrics

__all__ = ["record_request"]

_MAX_CACHED = 1024
# (recorder, type, layer, name) → the series of its successful requests, looked up once.
_success: dict[tuple[object, str, str, str], Series] = {}


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


def _success_series(recorder: OperationMetrics, primitive: str, layer: str, name: str) -> Series:
    key = (recorder, primitive, layer, name)
    series = _success.get(key)
    if series is None:
        if len(_success) >= _MAX_CACHED:
            _success.clear()
        series = _success[key] = recorder.series(primitive, layer, name, "success")
    return series


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
            series = _success_series(recorder, primitive, layer, name)
        else:
            series = recorder.series(primitive, layer, name, outcome, error_category)
        recorder.operation(series, elapsed_ns / 1e9)
    except Exception as problem:  # a broken metrics pipeline must not break the response
        report_once(f"metrics:{type(problem).__name__}", f"cannot record metrics: {problem!r}")
