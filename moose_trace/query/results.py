"""What an engine answers: events, group counts, histogram buckets, comparisons, error groups.

Every engine returns these same types, whatever it ran on, so one set of renderers serves all
and tests can compare engines answer for answer. ``skipped`` counts the lines that were not log
events (not JSON objects); every result carries it so the command can report it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, Protocol, TypeAlias

from moose_trace._record import record
from moose_trace.query.ast import Query, Window

__all__ = [
    "ERROR_LEVELS",
    "Bucket",
    "ComparisonResult",
    "Engine",
    "ErrorGroup",
    "ErrorGroupsResult",
    "EventsResult",
    "GroupCount",
    "GroupsResult",
    "HistogramResult",
    "Result",
    "WindowStats",
    "bucket_us",
    "error_signature",
    "finish_throughput",
    "quantile",
    "sort_error_groups",
    "sort_groups",
]


ERROR_LEVELS = ("error", "critical")
"""Levels that count as errors for error rates and ``--errors``."""


@record
class EventsResult:
    """The matching events (normalized dicts), oldest first."""

    events: Iterator[dict[str, Any]] | list[dict[str, Any]]
    skipped: Callable[[], int] = lambda: 0
    """Lines skipped; a callable because a streamed result knows it only once consumed."""


@record
class GroupCount:
    """One group of ``--group-by``: its field values (``None`` = field missing) and count."""

    key: tuple[str | None, ...]
    count: int


@record
class GroupsResult:
    """``--group-by``: groups most frequent first."""

    fields: tuple[str, ...]
    groups: list[GroupCount]
    skipped: int = 0


@record
class Bucket:
    """One ``--histogram`` bucket: its start (microseconds since the epoch) and count."""

    start_us: int
    count: int


def bucket_us(interval: timedelta) -> int:
    """Return the width of ``interval``-long histogram buckets in microseconds (at least 1)."""
    return max(1, round(interval.total_seconds() * 1_000_000))


@record
class HistogramResult:
    """``--histogram``: non-empty buckets in time order (``filled`` adds the empty ones)."""

    interval: timedelta
    buckets: list[Bucket]
    untimed: int = 0
    """Matching events without a readable timestamp (in no bucket)."""
    skipped: int = 0

    @property
    def step_us(self) -> int:
        """Return the bucket width in microseconds."""
        return bucket_us(self.interval)

    def filled(self, span: tuple[int | None, int | None] = (None, None)) -> list[Bucket]:
        """Return every bucket from the first to the last, empty ones as count 0.

        ``span`` (microseconds, either end open) widens the range to the time asked about
        (``--since``/``--until``), so quiet stretches at either end show as zeros too.
        """
        step = self.step_us
        counts = {bucket.start_us: bucket.count for bucket in self.buckets}
        starts = list(counts)
        low, high = span
        if low is not None:
            starts.append(low // step * step)
        if high is not None:
            starts.append((high - 1) // step * step)
        if not starts:
            return []
        return [
            Bucket(start, counts.get(start, 0))
            for start in range(min(starts), max(starts) + 1, step)
        ]


@record
class WindowStats:
    """Performance of the matching events in one ``--compare`` window."""

    window: Window
    count: int
    errors: int
    latency_count: int
    latency_avg: float | None
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    throughput: float | None
    """Messages per second: the mean ``throughput`` field, else messages / the window's length
    (``None``: not enough data, see ``finish_throughput``)."""

    @property
    def error_rate(self) -> float | None:
        """Return the fraction of events at error level or above (``None`` for no events)."""
        return None if self.count == 0 else self.errors / self.count


@record
class ComparisonResult:
    """``--compare``: one ``WindowStats`` per window, in the order given."""

    windows: list[WindowStats]
    skipped: int = 0


@record
class ErrorGroup:
    """One ``--errors`` group: events sharing an error signature."""

    signature: str
    count: int
    first_us: int | None
    last_us: int | None
    category: str | None
    layer: str | None
    error_type: str | None
    example: str | None
    trace_id: str | None


@record
class ErrorGroupsResult:
    """``--errors``: error groups most frequent first."""

    groups: list[ErrorGroup]
    skipped: int = 0


Result: TypeAlias = (
    "EventsResult | GroupsResult | HistogramResult | ComparisonResult | ErrorGroupsResult"
)


class Engine(Protocol):
    """Anything that answers a ``Query``: the DuckDB file engine, the Python engine, …"""

    def run(self, query: Query) -> Result:
        """Answer ``query``."""
        ...


def sort_groups(groups: Sequence[GroupCount]) -> list[GroupCount]:
    """Return groups most frequent first; ties by key (missing values last)."""
    return sorted(
        groups,
        key=lambda group: (-group.count, [(part is None, part or "") for part in group.key]),
    )


def sort_error_groups(groups: Sequence[ErrorGroup]) -> list[ErrorGroup]:
    """Return error groups most frequent first; ties by latest occurrence, then signature."""
    return sorted(groups, key=lambda group: (-group.count, -(group.last_us or 0), group.signature))


def quantile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Return the ``fraction`` quantile with linear interpolation (DuckDB's quantile_cont)."""
    if not sorted_values:
        return None
    position = fraction * (len(sorted_values) - 1)
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * weight


MIN_RATE_SECONDS = 1.0
"""A window shorter than this has no messages-per-second rate of its own ("not enough data")."""


def finish_throughput(
    throughput_avg: float | None, units: float | None, window: Window
) -> float | None:
    """Return a window's throughput in messages per second from the engines' partial sums.

    The mean of the events' own ``throughput`` field when any has one (a batch's rate, as the
    SDK writes it); else the messages processed (``batch_size``, else ``records``, else 1 per
    event with a ``latency_ms``) counted over the window's length. ``None`` ("not enough
    data") when the window is shorter than ``MIN_RATE_SECONDS`` or holds fewer than 2.
    """
    if throughput_avg is not None:
        return throughput_avg
    seconds = (window.end - window.start).total_seconds()
    if units is None or units < 2 or seconds < MIN_RATE_SECONDS:
        return None
    return units / seconds


def error_signature(
    signature: str | None, error_type: str | None, message: str | None, event: str | None
) -> str | None:
    """Return what errors group by: ``error_signature``, else ``type: message``, else either."""
    if signature is not None:
        return signature
    if error_type is not None and message is not None:
        return f"{error_type}: {message}"
    return next((text for text in (error_type, message, event) if text is not None), None)
