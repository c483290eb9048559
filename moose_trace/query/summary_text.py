"""Summaries as text: ``--group-by`` trees, histogram bars, window comparisons, error groups."""

from __future__ import annotations

from collections.abc import Sequence

from moose_trace._text import terminal_safe
from moose_trace.query.event_text import (
    MAX_GROUPS_SHOWN,
    Style,
    clipped,
    count_text,
    format_time,
)
from moose_trace.query.normalize import datetime_us, us_datetime
from moose_trace.query.results import (
    CHART_RANGE_US,
    MAX_BUCKETS,
    ComparisonResult,
    ErrorGroupsResult,
    GroupCount,
    GroupsResult,
    HistogramChart,
    HistogramResult,
    WindowStats,
)

__all__ = ["period_text", "text_comparison", "text_error_groups", "text_groups", "text_histogram"]

_BLOCKS = " ▏▎▍▌▋▊▉█"


def text_groups(result: GroupsResult, title: str, style: Style) -> list[str]:
    """Return ``--group-by`` counts as a tree: each level most frequent first, with shares."""
    total = sum(group.count for group in result.groups)
    lines = [style.paint(f"{title}: {count_text(total, 'event')}", "1")]
    lines += _tree(result.groups, 0, total, style)
    return lines


def _tree(groups: Sequence[GroupCount], depth: int, total: int, style: Style) -> list[str]:
    by_value: dict[str | None, list[GroupCount]] = {}
    for group in groups:
        by_value.setdefault(group.key[depth], []).append(group)
    ordered = sorted(
        by_value.items(),
        key=lambda item: (-sum(g.count for g in item[1]), item[0] is None, item[0] or ""),
    )
    lines: list[str] = []
    limit = MAX_GROUPS_SHOWN if depth == 0 else MAX_GROUPS_SHOWN // 5
    rest = ordered[limit:]
    for value, members in ordered[:limit]:
        count = sum(group.count for group in members)
        name = "(none)" if value is None else clipped(value)
        share = f" ({count / total:.0%})" if total else ""
        if depth == 0:
            noun = "occurrence" if count == 1 else "occurrences"
            lines.append(f"  {style.paint(name, '1')}: {count:,} {noun}{share}")
        else:
            lines.append(f"{'    ' * depth}└─ {name}: {count:,}{share}")
        if depth + 1 < len(members[0].key):
            lines += _tree(members, depth + 1, count, style)
            if depth == 0:
                lines.append("")
    if rest:
        events = sum(group.count for _value, members in rest for group in members)
        indent = "  " if depth == 0 else f"{'    ' * depth}└─ "
        lines.append(
            f"{indent}… {count_text(len(rest), 'more value')}: {count_text(events, 'event')}"
            " (--format json lists every group)"
        )
    return lines


def _bar(count: int, largest: int, width: int = 40) -> str:
    eighths = round(count / largest * width * 8) if largest else 0
    if count and not eighths:
        eighths = 1
    return "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")


def text_histogram(
    result: HistogramResult, chart: HistogramChart, title: str, style: Style
) -> list[str]:
    """Return ``--histogram`` buckets as a bar chart, empty buckets in between shown too.

    ``chart`` is ``result.chart(span)``: bounded, so a note says when the interval was widened
    and how many events lie outside the charted years.
    """
    buckets = chart.buckets
    total = sum(bucket.count for bucket in buckets)
    lines = [style.paint(f"{title}: {count_text(total, 'event')}", "1")]
    largest = max((bucket.count for bucket in buckets), default=0)
    precise = chart.step_us < 60_000_000
    for bucket in buckets:
        label = format_time(bucket.start_us, precise=precise)
        bar = style.paint(_bar(bucket.count, largest).ljust(40), "36")
        lines.append(f"{label}  {bar} {bucket.count:,}")
    if chart.widened:
        lines.append(
            f"(buckets widened from {period_text(result.step_us)} to {period_text(chart.step_us)}"
            f" to show at most {MAX_BUCKETS:,})"
        )
    if chart.outside:
        first, last = (us_datetime(end).year for end in CHART_RANGE_US)
        lines.append(
            f"({count_text(chart.outside, 'event')} with a timestamp outside {first}–{last - 1}: "
            "not charted)"
        )
    if result.untimed:
        lines.append(f"({count_text(result.untimed, 'event')} without a readable timestamp)")
    return lines


def period_text(step_us: int) -> str:
    """Return a bucket width in the units people type: ``1h``, ``7d``, ``90s``, ``0.5s``."""
    seconds = step_us / 1_000_000
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _change(value: float | None, base: float | None) -> str:
    if value is None or base is None or base == 0:
        return ""
    return f" ({(value - base) / abs(base):+.0%})"


def _ms(value: float | None) -> str:
    """A latency as precise as it is small: ``0.31ms``, ``2.4ms``, ``1,203ms``."""
    if value is None:
        return "not enough data"
    if value < 1:
        return f"{value:.2f}ms"
    if value < 10:
        return f"{value:.1f}ms"
    return f"{value:,.0f}ms"


_PRECISE_WINDOW_US = 10 * 60 * 1_000_000


def text_comparison(result: ComparisonResult, title: str, style: Style) -> list[str]:
    """Return ``--compare`` windows side by side (US-10), changes against the first window."""
    lines = [style.paint(f"Performance comparison: {title}", "1"), ""]
    base: WindowStats | None = None
    for stats in result.windows:
        window = stats.window
        start, end = datetime_us(window.start), datetime_us(window.end)
        # Windows of hours or days read best to the minute; short ones need their seconds.
        precise = end - start < _PRECISE_WINDOW_US
        span = f"{format_time(start, precise=precise)} → {format_time(end, precise=precise)}"
        label = terminal_safe(window.label.title())
        lines.append(style.paint(f"{label} ({span}): {count_text(stats.count, 'event')}", "1"))
        rows = [
            ("Average latency", stats.latency_avg, _ms, base.latency_avg if base else None),
            ("P50 latency", stats.latency_p50, _ms, base.latency_p50 if base else None),
            ("P95 latency", stats.latency_p95, _ms, base.latency_p95 if base else None),
            ("P99 latency", stats.latency_p99, _ms, base.latency_p99 if base else None),
        ]
        for label, value, shown, before in rows:
            lines.append(f"  {label}: {shown(value)}{_change(value, before)}")
        rate = stats.throughput
        throughput = (
            "not enough data"
            if rate is None
            else f"{rate:,.0f} msg/sec"
            if rate >= 10
            else f"{rate:.1f} msg/sec"
        )
        lines.append(
            f"  Throughput: {throughput}"
            f"{_change(stats.throughput, base.throughput if base else None)}"
        )
        rate = stats.error_rate
        shown_rate = "-" if rate is None else f"{rate:.1%}"
        lines.append(
            f"  Error rate: {shown_rate}{_change(rate, base.error_rate if base else None)}"
        )
        lines.append("")
        base = base or stats
    if len(result.windows) >= 2:
        lines.append(_verdict(result.windows[0], result.windows[-1]))
    return lines


def _verdict(first: WindowStats, last: WindowStats) -> str:
    if first.latency_avg is None or last.latency_avg is None or first.latency_avg == 0:
        return "Not enough latency data to compare."
    change = (last.latency_avg - first.latency_avg) / first.latency_avg
    if change <= -0.1:
        return f"✅ Performance improved: average latency {change:+.0%}."
    if change >= 0.1:
        return f"⚠️ Performance regressed: average latency {change:+.0%}."
    return f"≈ No significant change: average latency {change:+.0%}."


def text_error_groups(result: ErrorGroupsResult, title: str, style: Style) -> list[str]:
    """Return ``--errors`` groups, most frequent first, each with when, where and an example."""
    total = sum(group.count for group in result.groups)
    lines = [
        style.paint(
            f"{title}: {count_text(len(result.groups), 'group')}, {count_text(total, 'error')}", "1"
        )
    ]
    for group in result.groups:
        where = " · ".join(clipped(part) for part in (group.category, group.layer) if part)
        lines.append(f"  {style.paint(f'{group.count:,}×', '1;31')}  {where}")
        what = ": ".join(clipped(part) for part in (group.error_type, group.example) if part)
        if what:
            lines.append(f"      {what}")
        lines.append(
            f"      first {format_time(group.first_us)}  last {format_time(group.last_us)}  "
            f"signature {clipped(group.signature)}"
        )
        if group.trace_id:
            lines.append(f"      e.g. trace {clipped(group.trace_id)}")
    return lines
