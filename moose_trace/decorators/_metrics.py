"""A traced call's metrics: one operation (count, duration) and, for transforms and syncs, its I/O.

Recorded through ``moose_trace.metrics`` after the call's log line; nothing at all while no
``MeterProvider`` is set. The attribute sets of a function's successful calls are built once per
provider and reused (the SDK keys its series by them).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from moose_trace.logging._outputs import report_once
from moose_trace.metrics import OperationMetrics

from ._inputs import is_kafka_record

__all__ = ["CallMetrics", "byte_size", "output_count"]


def byte_size(record: object) -> int | None:
    """Return a record's size in bytes when known without encoding it (bytes, Kafka values)."""
    kind = type(record)
    if kind is dict or kind is str or record is None:  # a plain record: no size without encoding
        return None
    if isinstance(record, (bytes, bytearray, memoryview)):
        return len(record)
    if is_kafka_record(record):
        try:
            raw = getattr(record, "value", None)
            value = raw() if callable(raw) else raw
        except Exception:
            return None
        if isinstance(value, (bytes, bytearray, memoryview)):
            return len(value)
    return None


def _total_size(records: Collection[Any]) -> int | None:
    total = 0
    for record in records:
        size = byte_size(record)
        if size is None:
            return None
        total += size
    return total


def output_count(result: object) -> int:
    """Return how many records a transform produced: ``None`` none, a list its length, else one."""
    if result is None:
        return 0
    if isinstance(result, (list, tuple)):
        return len(result)
    return 1


class CallMetrics:
    """The metrics of one decorated function's calls, for the current ``MeterProvider``."""

    __slots__ = ("_io", "_io_series", "_layer", "_name", "_success", "_type", "recorder")

    def __init__(
        self, recorder: OperationMetrics, fields: dict[str, Any], status: str, *, io: bool
    ) -> None:
        """``io``: also count records and bytes (transforms, and batches such as syncs)."""
        self.recorder = recorder
        self._type = str(fields.get("type", ""))
        self._layer = str(fields.get("layer", ""))
        self._name = str(fields.get("name", ""))
        self._success = recorder.series(self._type, self._layer, self._name, status)
        self._io = io
        self._io_series = recorder.series(self._type, self._layer, self._name, None)

    def succeeded(self, elapsed_ns: int, record: Any, result: Any, batch_size: int | None) -> None:
        """Record a successful call (and its records, for transforms and syncs)."""
        try:
            self.recorder.operation(self._success, elapsed_ns / 1e9)
            if self._io:
                self._record_io(record, result, batch_size)
        except Exception as error:  # a broken metrics pipeline must not break the user's call
            report_once(f"metrics:{type(error).__name__}", f"cannot record metrics: {error!r}")

    def failed(self, elapsed_ns: int, status: str, error_category: str | None) -> None:
        """Record a failed or cancelled call."""
        try:
            series = self.recorder.series(
                self._type, self._layer, self._name, status, error_category
            )
            self.recorder.operation(series, elapsed_ns / 1e9)
        except Exception as error:
            report_once(f"metrics:{type(error).__name__}", f"cannot record metrics: {error!r}")

    def _record_io(self, record: Any, result: Any, batch_size: int | None) -> None:
        if batch_size is not None:
            records_in = batch_size
            records_out = result if type(result) is int and result >= 0 else batch_size
            bytes_in = _total_size(record) if isinstance(record, Collection) else None
            bytes_out = None
        else:
            records_in = 1
            records_out = output_count(result)
            bytes_in = byte_size(record)
            if isinstance(result, (list, tuple)):
                bytes_out = _total_size(result)
            else:
                bytes_out = 0 if result is None else byte_size(result)
        self.recorder.io(self._io_series, records_in, records_out, bytes_in, bytes_out)
