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
from moose_trace.logging.levels import ERROR_LEVELS
from moose_trace.query.ast import Query, Window

__all__ = [
    "CHART_RANGE_US",
    "ERROR_LEVELS",
    "MAX_BUCKETS",
    "Bucket",
    "ComparisonResult",
    "Engine",
    "ErrorGroup",
    "ErrorGroupsResult",
    "EventsResult",
    "GroupCount",
    "GroupsResult",
    "HistogramChart",
    "HistogramResult",
    "OperationStats",
    "Result",
    "StatsResult",
    "WindowStats",
    "bucket_us",
    "error_signature",
    "finish_throughput",
    "quantile",
    "sort_error_groups",
    "sort_groups",
    "sort_stats",
    "unseen_fields",
]


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


def unseen_fields(result: GroupsResult) -> list[str]:
    """Return the ``--group-by`` fields no grouped event had (every group says ``None``)."""
    return [
        field
        for index, field in enumerate(result.fields)
        if all(group.key[index] is None for group in result.groups)
    ]


@record
class Bucket:
    """One ``--histogram`` bucket: its start (microseconds since the epoch) and count."""

    start_us: int
    count: int


def bucket_us(interval: timedelta) -> int:
    """Return the width of ``interval``-long histogram buckets in microseconds (at least 1)."""
    return max(1, round(interval.total_seconds() * 1_000_000))


CHART_RANGE_US = (946_684_800_000_000, 4_102_444_800_000_000)
"""Times a histogram charts: 2000-01-01 up to 2100-01-01 (UTC, epoch microseconds).

A timestamp outside (year 1, year 9999, a clock never set) is counted as such, never
charted: one such line would otherwise stretch the chart over centuries."""

MAX_BUCKETS = 1000
"""Buckets a histogram shows at most: a finer interval over a longer time is widened."""

_NICE_STEPS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200,
    86_400, 604_800, 2_419_200, 31_449_600,
)  # fmt: skip


def _wider_step(step: int, needed: int) -> int:
    """Return the smallest round bucket width ≥ ``needed`` that is a multiple of ``step``."""
    for seconds in _NICE_STEPS_S:
        candidate = seconds * 1_000_000
        if candidate >= needed and candidate % step == 0:
            return candidate
    return -(-needed // step) * step


@record
class HistogramChart:
    """A histogram as shown: at most ``MAX_BUCKETS`` buckets over the charted range."""

    step_us: int
    buckets: list[Bucket]
    """Every bucket from the first to the last, empty ones as count 0."""
    widened: bool
    """Whether the asked-for interval was widened to ``step_us`` to keep within the bound."""
    outside: int
    """Matching events whose timestamp lies outside ``CHART_RANGE_US`` (not charted)."""


@record
class HistogramResult:
    """``--histogram``: non-empty buckets in time order (``chart`` bounds and fills them)."""

    interval: timedelta
    buckets: list[Bucket]
    untimed: int = 0
    """Matching events without a readable timestamp (in no bucket)."""
    skipped: int = 0

    @property
    def step_us(self) -> int:
        """Return the asked-for bucket width in microseconds."""
        return bucket_us(self.interval)

    def chart(self, span: tuple[int | None, int | None] = (None, None)) -> HistogramChart:
        """Return the buckets to show: empty ones filled in, at most ``MAX_BUCKETS`` of them.

        ``span`` (microseconds, either end open) widens the range to the time asked about
        (``--since``/``--until``), so quiet stretches at either end show as zeros too. Buckets
        outside ``CHART_RANGE_US`` are counted in ``outside``; when the range holds more than
        ``MAX_BUCKETS`` buckets, they are merged into wider ones (a round multiple).
        """
        step = self.step_us
        low_bound, high_bound = CHART_RANGE_US
        inside = [b for b in self.buckets if low_bound - step < b.start_us < high_bound]
        outside = sum(bucket.count for bucket in self.buckets) - sum(b.count for b in inside)
        ends = [bucket.start_us for bucket in inside]
        low, high = span  # the end is exclusive: its last moment is one microsecond before
        times = [time for time in (low, None if high is None else high - 1) if time is not None]
        ends += [min(max(time, low_bound), high_bound - 1) for time in times]
        if not ends:
            return HistogramChart(step, [], False, outside)
        first, last = min(ends), max(ends)
        wide = step
        while (last // wide - first // wide) + 1 > MAX_BUCKETS:
            wide = _wider_step(step, max(wide + 1, -(-(last - first) // (MAX_BUCKETS - 1))))
        counts: dict[int, int] = {}
        for bucket in inside:
            start = bucket.start_us // wide * wide
            counts[start] = counts.get(start, 0) + bucket.count
        buckets = [
            Bucket(start, counts.get(start, 0))
            for start in range(first // wide * wide, last // wide * wide + 1, wide)
        ]
        return HistogramChart(wide, buckets, wide != step, outside)

    def filled(self, span: tuple[int | None, int | None] = (None, None)) -> list[Bucket]:
        """Return the buckets of ``chart(span)`` (kept for callers of the unbounded form)."""
        return self.chart(span).buckets


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


@record
class OperationStats:
    """Statistics of one group of events (``key``: its ``by`` values; empty for the total)."""

    key: tuple[str | None, ...]
    count: int
    errors: int
    latency_count: int
    latency_avg: float | None
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None

    @property
    def success_rate(self) -> float | None:
        """Return the fraction of events below error level (``None`` for no events)."""
        return None if self.count == 0 else 1 - self.errors / self.count


@record
class StatsResult:
    """``Stats``: the total over every matching event and the groups, most frequent first."""

    by: tuple[str, ...]
    total: OperationStats
    groups: list[OperationStats]
    truncated: bool = False
    """More groups matched than the query's ``limit``: only the most frequent are listed."""
    skipped: int = 0


def sort_stats(groups: Sequence[OperationStats]) -> list[OperationStats]:
    """Return stats groups most frequent first; ties by key (missing values last)."""
    return sorted(groups, key=lambda group: _frequency_order(group.count, group.key))


Result: TypeAlias = (
    "EventsResult | GroupsResult | HistogramResult | ComparisonResult | ErrorGroupsResult"
    " | StatsResult"
)


class Engine(Protocol):
    """Anything that answers a ``Query``: the DuckDB file engine, the Python engine, …"""

    def run(self, query: Query) -> Result:
        """Answer ``query``."""
        ...


def _frequency_order(count: int, key: tuple[str | None, ...]) -> tuple[int, list[tuple[bool, str]]]:
    return -count, [(part is None, part or "") for part in key]


def sort_groups(groups: Sequence[GroupCount]) -> list[GroupCount]:
    """Return groups most frequent first; ties by key (missing values last)."""
    return sorted(groups, key=lambda group: _frequency_order(group.count, group.key))


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
    low, high = sorted_values[lower], sorted_values[upper]
    if weight == 0 or low == high:
        return low  # (also keeps an infinite value infinite, as DuckDB does, instead of NaN)
    return low + (high - low) * weight


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
