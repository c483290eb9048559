"""A trace tree for people: a waterfall that fits the terminal (``--trace``, ``--trace-kafka``).

```
trace 01a2511c-8887-71c2-af2c-ed540f88aa1d   3 services · 9 spans · 112 ms · 1 error
✗ stopped at sync · batch_insert UserEvent: type_conversion_error; ✓ reached table Session
demo-ingest POST /ingest/UserEvent        ▇▇▇▇                                   6.8 ms
             └ kafka produce UserEvent       ▏                                  0.4 ms
```

One row per span: the service when it differs from the parent's, the span's name indented
under its parent, a bar placed on the trace's timeline (scaled to the width; ``·`` is the wait
before it began), its duration right-aligned, then what matters about it: an error and its
category, a gap, an orphan or a batch. On a terminal the errors are red, the slowest span
yellow, the critical path bold. With ``verbose`` each span's log events follow it.
"""

from __future__ import annotations

from moose_trace._record import record
from moose_trace.query.codec import dumps_text
from moose_trace.query.event_text import Style, TextOptions, event_lines, format_time
from moose_trace.query.normalize import timestamp_us, value_text
from moose_trace.query.screen import shown
from moose_trace.query.trace_tree import TraceSpan, TraceTree, build_trace_tree

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, TextIO

__all__ = ["TreeOptions", "format_duration", "render_trees", "tree_lines"]

_BAR = "▇"
_GAP = "·"
_MIN_BAR = 10
_DURATION_WIDTH = 10
_MAX_NAME_SHARE = 0.4
_GAP_SHARE = 0.05
"""A gap is pointed out when it is at least this share of the whole trace (and ≥ 1 ms)."""


@record
class TreeOptions:
    """How to draw a tree: the width in columns, colour, and whether to show log events."""

    width: int = 100
    style: Style = Style()
    verbose: bool = False


def format_duration(micros: int | None) -> str:
    """Return a span duration for a column of them: ``0.42 ms``, ``2.1 ms``, ``1,203 ms``."""
    if micros is None:
        return "-"
    ms = micros / 1000
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


def _total(micros: int | None) -> str:
    if micros is None:
        return "-"
    if micros >= 1_000_000:
        return f"{micros / 1_000_000:.2f} s"
    return format_duration(micros)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def render_trees(
    trace_ids: Sequence[str],
    events: Iterable[dict[str, Any]],
    out: TextIO,
    format_: str,
    options: TreeOptions,
) -> int:
    """Write the tree of each trace that has events (text, or one JSON object per trace).

    Returns how many events the trees hold (0: nothing matched, for the caller's note).
    """
    kept = list(events)
    count = 0
    first = True
    for trace_id in trace_ids:
        tree = build_trace_tree(trace_id, kept)
        spans = tree.spans()
        if not spans:
            continue
        count += sum(len(span.events) for span in spans)
        if format_ == "json":
            out.write(dumps_text(tree.to_dict()) + "\n")
            continue
        if not first:
            out.write("\n")
        first = False
        out.write("\n".join(tree_lines(tree, options)) + "\n")
    return count


def tree_lines(tree: TraceTree, options: TreeOptions) -> list[str]:
    """Return the lines that draw ``tree``: a header, its outcome, one row per span."""
    style = options.style
    spans = tree.spans()
    facts = [
        _count(len(tree.services), "service"),
        _count(len(spans), "span"),
        _total(tree.duration_us),
    ]
    if tree.errors:
        facts.append(style.paint(_count(tree.errors, "error"), "1;31"))
    lines = [f"{style.paint(f'trace {tree.trace_id}', '1')}   " + " · ".join(facts)]
    summary = shown(tree.outcome.summary())
    outcome = tree.outcome
    alarm = "31" if outcome.stopped_at and not outcome.silent else ("32" if outcome.reached else "")
    lines.append(style.paint(summary, alarm))
    if not spans:
        return lines
    _Drawing(tree, options).rows(lines)
    return lines


class _Drawing:
    """The column layout of one tree at one width."""

    def __init__(self, tree: TraceTree, options: TreeOptions) -> None:
        self.tree = tree
        self.options = options
        self.style = options.style
        self.origin = tree.start_us or 0
        self.total = max(tree.duration_us or 0, 1)
        self.slowest = tree.slowest()
        labels = self._labels()
        self.labels = labels
        services = [span.service or "" for span in labels]
        self.service_width = min(max((len(text) for text in services), default=0), 16)
        longest = max((len(text) for text in labels.values()), default=0)
        notes = [self._note(span)[0] for span in labels]
        width = options.width
        self.note_width = min(max((len(note) for note in notes), default=0), max(12, width // 4))
        # Separators: after the service, the name, the bar, the duration (before a note).
        around = self.service_width + 3 + _DURATION_WIDTH + (1 + self.note_width if notes else 0)
        share = int((width - self.service_width - 1) * _MAX_NAME_SHARE)
        self.name_width = max(8, min(longest, share, width - around - _MIN_BAR))
        self.bar_width = max(_MIN_BAR, width - around - self.name_width)
        overflow = around + self.name_width + self.bar_width - width
        if overflow > 0:  # too narrow for everything: notes give way first
            self.note_width = max(0, self.note_width - overflow)

    def _labels(self) -> dict[TraceSpan, str]:
        labels: dict[TraceSpan, str] = {}

        def walk(span: TraceSpan, prefix: str, last: bool, root: bool) -> None:
            connector = "" if root else ("└ " if last else "├ ")
            labels[span] = f"{prefix}{connector}{shown(span.name)}"
            deeper = prefix if root else prefix + ("  " if last else "│ ")
            for index, child in enumerate(span.children):
                walk(child, deeper, index == len(span.children) - 1, False)

        for root in self.tree.roots:
            walk(root, "", True, True)
        return labels

    def rows(self, lines: list[str]) -> None:
        parents: dict[TraceSpan, TraceSpan | None] = {}
        for span in self.labels:
            for child in span.children:
                parents[child] = span
        for span, label in self.labels.items():
            parent = parents.get(span)
            same = parent is not None and parent.service == span.service
            service = "" if same else shown(span.service or "")
            lines.append(self._row(span, label, service))
            if self.options.verbose:
                lines += self._events(span, label)

    def _row(self, span: TraceSpan, label: str, service: str) -> str:
        style = self.style
        failed = span.status == "error"
        name = _cut(label, self.name_width).ljust(self.name_width)
        if failed:
            name = style.paint(name, "31")
        elif span.critical:
            name = style.paint(name, "1")
        bar = self._bar(span)
        duration = format_duration(span.duration_us).rjust(_DURATION_WIDTH)
        if span is self.slowest:
            duration = style.paint(duration, "1;33")
        note, code = self._note(span)
        parts = [
            style.paint(_cut(service, self.service_width).ljust(self.service_width), "2"),
            name,
            bar,
            duration,
        ]
        if note:
            parts.append(style.paint(_cut(note, max(self.note_width, 1)), code))
        return " ".join(parts).rstrip()

    def _cells(self, micros: int) -> float:
        return (micros - self.origin) / self.total * self.bar_width

    def _bar(self, span: TraceSpan) -> str:
        width = self.bar_width
        if span.start_us is None:
            return " " * width
        first = min(int(self._cells(span.start_us)), width - 1)
        last = max(first + 1, min(width, _ceil(self._cells(span.end_us or span.start_us))))
        gap_start = first
        if span.gap_us and self._gap_shown(span):
            gap_start = max(0, min(first, int(self._cells(span.start_us - span.gap_us))))
        bar = " " * gap_start + _GAP * (first - gap_start)
        body = _BAR * (last - first)
        code = "31" if span.status == "error" else ("1;36" if span.critical else "36")
        return bar + self.style.paint(body, code) + " " * (width - last)

    def _gap_shown(self, span: TraceSpan) -> bool:
        gap = span.gap_us or 0
        return gap >= 1000 and gap >= self.total * _GAP_SHARE

    def _note(self, span: TraceSpan) -> tuple[str, str]:
        notes: list[str] = []
        code = "33"
        if span.status == "error":
            notes.append(f"ERROR {span.error_category or ''}".rstrip())
            code = "31"
        if span.orphan:
            notes.append("orphan: parent not logged")
        if self._gap_shown(span):
            notes.append(f"← gap {format_duration(span.gap_us)}")
        if span.batch:
            carried = next(
                (
                    len(ids)
                    for event in span.events
                    if isinstance(ids := event.get("trace_ids"), list)
                ),
                0,
            )
            notes.append(f"batch of {_count(carried, 'trace')}")
            code = code if notes[0].startswith(("ERROR", "←")) else "2"
        return " · ".join(notes), code

    def _events(self, span: TraceSpan, label: str) -> list[str]:
        indent = " " * (self.service_width + 1 + len(label) - len(shown(span.name)) + 2)
        room = max(20, self.options.width - len(indent))
        options = TextOptions(show_trace_id=span.batch)
        found: list[str] = []
        for event in span.events:
            lines = event_lines(event, options)
            micros = timestamp_us(value_text(event.get("timestamp")))
            first = lines[0]
            if micros is not None:  # the tree gives the date: the time of day is enough
                first = first.replace(format_time(micros)[:11], "", 1)
            level = value_text(event.get("level"))
            code = "31" if level in ("error", "critical") else ("33" if level == "warning" else "2")
            found.append(indent + self.style.paint(_cut(first, room), code))
            found += [indent + self.style.paint(_cut(line, room), "2") for line in lines[1:]]
        return found


def _ceil(value: float) -> int:
    """``math.ceil`` (the ``math`` extension is one more library to load on every --trace)."""
    return -int(-value // 1)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
