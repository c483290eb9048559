"""The instruments moose-trace records with, their names and attributes, and the duration
histogram it can keep in process (see the package's docstring for what is recorded)."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation

from moose_trace._version import __version__

if TYPE_CHECKING:
    pass

__all__ = [
    "BYTES",
    "CONSUMER_LAG",
    "DEFAULT_METRICS_PORT",
    "DEFAULT_NAME_LIMIT",
    "DURATION",
    "DURATION_BUCKETS",
    "DURATION_DESCRIPTION",
    "METER_NAME",
    "OPERATIONS",
    "OTHER_NAME",
    "RECORDS",
    "DurationPoint",
    "OperationMetrics",
    "Series",
]

METER_NAME = "moose_trace"
"""The instrumentation scope of moose-trace's instruments."""
OPERATIONS = "moose.operations"
"""Counter of finished operations (calls, requests); Prometheus: ``moose_operations_total``."""
DURATION = "moose.operation.duration"
"""Histogram of operation durations in seconds; Prometheus: ``moose_operation_duration_seconds``."""
DURATION_DESCRIPTION = "Duration of operations."
"""The duration histogram's description (its Prometheus ``HELP``)."""
RECORDS = "moose.records"
"""Counter of records taken (``direction=in``) and produced (``out``) by transforms and syncs."""
BYTES = "moose.bytes"
"""Counter of the bytes of those records, where their size is known without encoding them."""
CONSUMER_LAG = "moose.consumer.lag"
"""Gauge: messages between a consumer's position and the end of its partition."""
OTHER_NAME = "other"
"""The ``name`` attribute of operations whose name came after the first ``name_limit``."""
DEFAULT_NAME_LIMIT = 100
"""Distinct ``name`` values recorded before new ones become ``other``."""
DEFAULT_METRICS_PORT = 9464
"""OpenTelemetry's Prometheus exporter port, which ``configure(metrics="prometheus")`` uses."""

DURATION_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""The duration histogram's bucket upper bounds, in seconds: 0.1 ms (a transform's record) to
60 s (a sync's batch). OpenTelemetry's default bounds (0 to 10,000, meant for milliseconds)
would put every call under a second into one or two buckets."""
_IN = "in"
_OUT = "out"


class Series:
    """One attribute set of an operation: its running totals, observed at each collection.

    Built by ``OperationMetrics.series`` and kept by the caller (a decorated function keeps
    the series of its successful calls), so a call adds to plain integers under a lock —
    about a tenth of what a synchronous SDK counter costs per ``add``. With durations kept in
    process (``configure_metrics("prometheus" | "otlp")``) the duration histogram is here too:
    its sum, min, max and one count per bucket of ``DURATION_BUCKETS`` (and one above them).
    """

    __slots__ = (
        "attributes",
        "buckets",
        "bytes_in",
        "bytes_out",
        "count",
        "duration_max",
        "duration_min",
        "duration_sum",
        "records_in",
        "records_out",
    )

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes
        """The attributes every instrument records this series with."""
        self.count = 0
        self.records_in = 0
        self.records_out = 0
        self.bytes_in: int | None = None  # None until a size was known: unknown is not zero
        self.bytes_out: int | None = None
        self.duration_sum = 0.0
        self.duration_min = float("inf")
        self.duration_max = float("-inf")
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)


@dataclass(frozen=True, slots=True)
class DurationPoint:
    """One series' duration histogram at a collection (cumulative since recording began)."""

    attributes: dict[str, str]
    count: int
    sum: float
    bucket_counts: list[int]
    """One count per bucket: ``(-inf, b0]``, ``(b0, b1]``, …, ``(b_last, +inf)``."""
    min: float
    max: float


class OperationMetrics:
    """moose-trace's instruments on one ``MeterProvider``, and the cap on ``name`` values.

    Counts (operations, records, bytes) are kept here and reported by observable counters
    when the provider collects (cumulative totals, as OpenTelemetry's counters report them).
    Durations: with ``durations_in_process`` (moose-trace's own exporters, see
    ``configure_metrics``) they are aggregated here too, into each series' buckets — a lookup
    and a few additions per operation — and the exporters read ``duration_points()`` when they
    collect; otherwise (a ``MeterProvider`` of your own, a ``MetricReader`` of your own) each
    operation is one SDK histogram ``record``, OpenTelemetry's per-measurement pipeline (it has
    no pre-aggregated histogram to hand over).
    """

    def __init__(
        self,
        provider: otel_metrics.MeterProvider,
        *,
        name_limit: int = DEFAULT_NAME_LIMIT,
        durations_in_process: bool = False,
    ) -> None:
        if name_limit < 0:
            raise ValueError("name_limit must be ≥ 0")
        self.provider = provider
        self._name_limit = name_limit
        self._names: set[str] = set()
        self._lock = threading.Lock()
        self._series: dict[tuple[tuple[str, str], ...], Series] = {}
        self.started_ns = time.time_ns()
        """When recording began: the start of the cumulative durations."""
        meter = provider.get_meter(METER_NAME, __version__)
        meter.create_observable_counter(
            OPERATIONS,
            [self._observe_operations],
            unit="{operation}",
            description="Finished operations: calls, requests.",
        )
        self._duration = (
            None
            if durations_in_process
            else meter.create_histogram(
                DURATION,
                unit="s",
                description=DURATION_DESCRIPTION,
                explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
            )
        )
        meter.create_observable_counter(
            RECORDS,
            [self._observe_records],
            unit="{record}",
            description="Records taken in and produced.",
        )
        meter.create_observable_counter(
            BYTES,
            [self._observe_bytes],
            unit="By",
            description="Bytes of the records taken in and produced.",
        )
        self._lag = meter.create_gauge(
            CONSUMER_LAG, unit="{message}", description="Messages not yet consumed."
        )

    def name_label(self, name: str) -> str:
        """Return ``name``, or ``other`` once ``name_limit`` other names have been recorded."""
        names = self._names
        if name in names:
            return name
        with self._lock:
            if len(names) < self._name_limit:
                names.add(name)
                return name
        return OTHER_NAME

    def series(
        self,
        type: str,
        layer: str,
        name: str | None,
        status: str | None,
        error_category: str | None = None,
    ) -> Series:
        """Return the series of these attributes (``name`` capped); the same object each time.

        ``status=None`` gives a series without ``status``, for ``io`` (records and bytes).
        """
        attributes = {"type": type, "layer": layer}
        if status is not None:
            attributes["status"] = status
        if error_category is not None:
            attributes["error_category"] = error_category
        if name is not None:
            attributes["name"] = self.name_label(name)
        key = tuple(attributes.items())
        found = self._series.get(key)
        if found is None:
            with self._lock:
                found = self._series.setdefault(key, Series(attributes))
        return found

    def operation(self, series: Series, seconds: float) -> None:
        """Count one finished operation of ``series`` and record its duration."""
        duration = self._duration
        if duration is None:
            bucket = _bucket_of(DURATION_BUCKETS, seconds)
            with self._lock:
                series.count += 1
                series.duration_sum += seconds
                series.buckets[bucket] += 1
                series.duration_min = min(series.duration_min, seconds)
                series.duration_max = max(series.duration_max, seconds)
            return
        with self._lock:
            series.count += 1
        duration.record(seconds, series.attributes)

    def duration_points(self) -> list[DurationPoint]:
        """The duration histogram of every series with operations, kept in process (internal:
        moose-trace's exporters read it when they collect). ``[]`` when durations go through
        the SDK histogram instead."""
        if self._duration is not None:
            return []
        with self._lock:
            return [
                DurationPoint(
                    series.attributes,
                    series.count,
                    series.duration_sum,
                    list(series.buckets),
                    series.duration_min,
                    series.duration_max,
                )
                for series in self._series.values()
                if series.count
            ]

    def io(
        self,
        series: Series,
        records_in: int,
        records_out: int,
        bytes_in: int | None = None,
        bytes_out: int | None = None,
    ) -> None:
        """Count the records (and bytes, when known) an operation took in and produced."""
        with self._lock:
            series.records_in += records_in
            series.records_out += records_out
            if bytes_in is not None:
                series.bytes_in = (series.bytes_in or 0) + bytes_in
            if bytes_out is not None:
                series.bytes_out = (series.bytes_out or 0) + bytes_out

    def consumer_lag(self, lag: int, attributes: Mapping[str, Any]) -> None:
        """Record how many messages a consumer's partition has left to read."""
        self._lag.set(lag, attributes)

    def _snapshot(self) -> list[Series]:
        with self._lock:
            return list(self._series.values())

    def _observe_operations(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(series.count, series.attributes)
            for series in self._snapshot()
            if series.count
        ]

    def _observe_records(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._directions(lambda series: (series.records_in, series.records_out))

    def _observe_bytes(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._directions(lambda series: (series.bytes_in, series.bytes_out))

    def _directions(self, totals: Any) -> list[Observation]:
        observed = []
        for series in self._snapshot():
            if "status" in series.attributes:
                continue  # an operation's series: no records of its own
            for direction, total in zip((_IN, _OUT), totals(series), strict=True):
                if total is not None and (series.records_in or series.records_out):
                    observed.append(
                        Observation(total, {**series.attributes, "direction": direction})
                    )
        return observed


_bucket_of = bisect_left  # the first bound ≥ the value: buckets include their upper bound
