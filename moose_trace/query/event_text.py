"""One event as text: the user stories' log line shape, and the pieces every text form shares.

An event reads ``[LEVEL] Type: name - message - key=value, …`` with ``↳`` lines for what went
wrong (the error, where the record went), the payload and stack when asked for. Colour only
when the output is a terminal (``Style``).

Every logged value (and every key) is shown through ``moose_trace._text.terminal_safe``: a
control character, escape sequence, bidi override or newline in a value prints escaped
(``\\x1b``, ``\\n``, ``\\u202e``) on the event's own line, so a log line cannot drive the
terminal or forge a line of its own.
"""

from __future__ import annotations

from moose_trace._memo import memo
from moose_trace._record import record
from moose_trace._text import terminal_safe
from moose_trace.query.codec import dumps_text
from moose_trace.query.normalize import timestamp_us, us_datetime, value_text

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

__all__ = [
    "LEVEL_STYLES",
    "MAX_FIELDS_SHOWN",
    "MAX_GROUPS_SHOWN",
    "MAX_STACK_LINES",
    "MAX_VALUE_CHARS",
    "METRIC_FIELDS",
    "UNSHOWN_FIELDS",
    "Style",
    "TextOptions",
    "clipped",
    "count_text",
    "event_lines",
    "format_time",
    "shown_text",
]

METRIC_FIELDS = ("batch_size", "throughput")
"""Shown only with ``--include-metrics`` (latency and other ``*_ms`` fields always are)."""

_TYPE_LABELS = {
    "api": "API",
    "olap_table": "Table",
    "materialized_view": "View",
    "clickhouse": "ClickHouse",
    "http": "HTTP",
}
_HEADER_KEYS = frozenset({"timestamp", "level", "event", "type", "name"})
UNSHOWN_FIELDS = frozenset(
    {
        "resource_type",
        "resource_name",
        "span_id",
        "parent_span_id",
        "logger",
        "stack",
        "payload",
        "error_message",
        "error_type",
        "error_signature",
        "fields",
        "span",
        "spans",
        "__moose_structured_log__",
        "hint",
        "trace_ids",
    }
)
"""Fields no event line shows as ``key=value`` (every text form's): the ``↳`` lines show the
error and, when asked for, the stack and payload; the rest is bookkeeping."""

_HIDDEN = UNSHOWN_FIELDS | {
    "message",
    "service",
    "function_name",
    "task_name",
    "query",
    "trace_id",
}
_FIRST = (
    "request_id",
    "http_method",
    "http_path",
    "http_status",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "consumer_group",
    "source",
    "target",
    "table",
    "operation",
    "phase",
    "status",
    "auth",
    "principal",
    "client_ip",
    "security",
    "workflow_run_id",
    "retry_count",
    "records",
    "latency_ms",
    "error_category",
)
LEVEL_STYLES = {
    "critical": "1;31",
    "error": "31",
    "warning": "33",
    "info": "32",
    "debug": "2",
}
"""The ANSI style of each level's name on a terminal (every text form's)."""


@record
class Style:
    """ANSI colour when ``enabled`` (a terminal), plain text otherwise."""

    enabled: bool = False

    def paint(self, text: str, code: str) -> str:
        """Return ``text`` in colour ``code`` (an SGR parameter) when colour is on."""
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and code else text


@record
class TextOptions:
    """What the text form of events shows."""

    include_metrics: bool = False
    include_payload: bool = False
    verbose: bool = False
    show_trace_id: bool = True
    style: Style = Style()


def format_time(micros: int | None, *, precise: bool = True) -> str:
    """Return epoch microseconds as ``YYYY-MM-DD HH:MM:SS.mmm`` UTC (``-`` for none)."""
    if micros is None:
        return "-"
    if precise:
        day, rest = divmod(micros, _DAY_US)
        last = _LAST_DAY[0]
        if last[0] != day:
            midnight = us_datetime(day * _DAY_US)
            last = (day, midnight.date().isoformat() if midnight.year >= 1000 else None)
            _LAST_DAY[0] = last
        if last[1] is not None:  # the day's text once, the time of day by arithmetic
            seconds, fraction = divmod(rest, 1_000_000)
            minutes, second = divmod(seconds, 60)
            hour, minute = divmod(minutes, 60)
            return f"{last[1]} {hour:02d}:{minute:02d}:{second:02d}.{fraction // 1000:03d}"
    moment = us_datetime(micros)
    if moment.year < 1000:  # strftime's own spelling of such years (unpadded on glibc)
        if precise:
            return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        return moment.strftime("%Y-%m-%d %H:%M")
    # isoformat: the same text as strftime here, several times faster (one per event line)
    return moment.isoformat(" ", "milliseconds" if precise else "minutes")[: 23 if precise else 16]


_DAY_US = 86_400_000_000
_LAST_DAY: list[tuple[int | None, str | None]] = [(None, None)]
"""The last day ``format_time`` wrote and its text (None: a year strftime spells; one pair,
swapped whole, thread-safe)."""


def _label(kind: str) -> str:
    return _TYPE_LABELS.get(kind, kind.replace("_", " ").title())


MAX_VALUE_CHARS = 2000
"""Characters of one value a text line shows; the rest is counted (JSON export has it all)."""

MAX_FIELDS_SHOWN = 100
"""``key=value`` pairs one event line shows; the rest are counted."""

MAX_GROUPS_SHOWN = 50
"""Values a ``--group-by`` tree shows at its first level (a fifth of that below); the rest
are summed in one line."""

MAX_STACK_LINES = 200
"""Lines of a stack (or other multi-line value) shown under an event."""


def clipped(text: str) -> str:
    """Return ``text`` cut to ``MAX_VALUE_CHARS`` with the rest counted, and terminal-safe."""
    if len(text) <= MAX_VALUE_CHARS:
        return terminal_safe(text)
    rest = len(text) - MAX_VALUE_CHARS
    return f"{terminal_safe(text[:MAX_VALUE_CHARS])}… (+{rest:,} chars)"


def shown_text(value: object) -> str:
    """Return a field value as text safe to print (``""`` for null or missing), clipped."""
    if isinstance(value, str):
        if len(value) <= MAX_VALUE_CHARS and _plain(value):
            return value  # nearly every value: nothing to escape or cut
    elif isinstance(value, float):
        return repr(value)  # what value_text writes: short, printable ASCII
    text = value_text(value)
    return clipped(text) if text else ""


def _plain(text: str) -> bool:
    """Whether ``text`` prints as it is: ``terminal_safe``'s own first test, on the hot path."""
    return text.isascii() and text.isprintable() and "\\" not in text


_NONE_USED: frozenset[str] = frozenset()
_PHASE_USED = frozenset({"phase"})
_SERVICE_USED = frozenset({"service"})


def _header(event: Mapping[str, Any]) -> tuple[str, frozenset[str]]:
    kind, name = shown_text(event.get("type")), shown_text(event.get("name"))
    if kind and name:
        return f"{_label(kind)}: {name}", _NONE_USED
    if kind or name:
        return _label(kind) if kind else name, _NONE_USED
    phase = shown_text(event.get("phase"))
    if phase:
        return f"Phase: {phase}", _PHASE_USED
    service = shown_text(event.get("service"))
    return (service, _SERVICE_USED if service else _NONE_USED)


def _show(key: str, value: object) -> str:
    return f"{_shown_key(key)}={shown_text(value)}"


@memo(1024)
def _shown_key(key: str) -> str:
    """A key made safe to print, once per key: the same few keys come back on every line."""
    return clipped(key)


_FIRST_SET = frozenset(_FIRST)


@memo(8)
def _skipped_keys(used: frozenset[str], verbose: bool, include_metrics: bool) -> frozenset[str]:
    """The keys an event line leaves out, per (header keys used, options): built once."""
    skip = _HEADER_KEYS | used
    if not verbose:
        skip |= _HIDDEN
        if not include_metrics:
            skip |= frozenset(METRIC_FIELDS)
    else:
        skip |= {"stack", "payload"}
    return skip


@memo(256)
def _layout(
    keys: tuple[str, ...], used: frozenset[str], verbose: bool, include_metrics: bool
) -> tuple[tuple[str, str], ...]:
    """The keys an event line shows, in order, each with its ``key=`` text: the same few key
    sets come back on every line, so this is worked out once per set and options."""
    skip = _skipped_keys(used, verbose, include_metrics)
    present = set(keys)
    ordered = [key for key in _FIRST if key in present]
    ordered += [key for key in keys if key not in _FIRST_SET]
    if include_metrics and not verbose:
        metrics = (*METRIC_FIELDS, "latency_ms")
        ordered = [*(key for key in metrics if key in present), *ordered]
    layout: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key in ordered:
        if key not in skip and key not in seen:
            seen.add(key)
            layout.append((key, f"{_shown_key(key)}="))
    return tuple(layout)


def _pairs(event: Mapping[str, Any], used: frozenset[str], options: TextOptions) -> list[str]:
    layout = _layout(tuple(event), used, options.verbose, options.include_metrics)
    pairs: list[str] = []
    hidden = 0
    for key, shown_key in layout:
        value = event[key]
        if value is None:
            continue
        if len(pairs) < MAX_FIELDS_SHOWN:
            pairs.append(shown_key + shown_text(value))
        else:
            hidden += 1
    if hidden:
        pairs.append(f"… (+{hidden:,} more fields)")
    if options.include_metrics and "throughput" not in event:
        derived = _throughput(event)
        if derived is not None:
            pairs.append(f"throughput={derived:.0f}msg/sec")
    if not options.verbose and isinstance(event.get("trace_ids"), list):
        pairs.append(f"trace_ids={count_text(len(event['trace_ids']), 'trace')}")
    if options.show_trace_id and not options.verbose and event.get("trace_id") is not None:
        pairs.append(_show("trace_id", event["trace_id"]))
    return pairs


def _throughput(event: Mapping[str, Any]) -> float | None:
    size, latency = event.get("batch_size", event.get("records")), event.get("latency_ms")
    numeric = (int, float)
    if isinstance(size, numeric) and isinstance(latency, numeric) and latency > 0:
        return float(size) / (float(latency) / 1000)
    return None


def _details(event: Mapping[str, Any], options: TextOptions) -> Iterator[str]:
    error_type, message = (
        shown_text(event.get("error_type")),
        shown_text(event.get("error_message")),
    )
    if error_type or message:
        yield "  ↳ " + ": ".join(part for part in (error_type, message) if part)
    query = shown_text(event.get("query"))
    if query:
        yield f"  ↳ Query: {query}"
    hint = shown_text(event.get("hint"))
    if hint:
        yield f"  ↳ {hint}"
    dlq = shown_text(event.get("dlq"))
    if dlq and dlq.lower() not in ("false", "true"):
        yield f"  ↳ Sent to dead-letter queue: {dlq}"
    payload = event.get("payload")
    if payload is not None and (options.include_payload or options.verbose):
        if isinstance(payload, dict) and ({"input", "output"} & payload.keys()):
            for key in ("input", "output"):
                if key in payload:
                    yield f"  {key.title()}: {_json(payload[key])}"
        else:
            yield f"  Payload: {_json(payload)}"
    stack = value_text(event.get("stack"))
    if stack and (options.include_payload or options.verbose):
        lines = stack.rstrip().split("\n")
        shown = [clipped(line.removesuffix("\r")) for line in lines[:MAX_STACK_LINES]]
        if len(lines) > MAX_STACK_LINES:
            shown.append(f"… (+{len(lines) - MAX_STACK_LINES:,} more lines)")
        yield "  Stack: " + shown[0]
        yield from (f"         {line}" for line in shown[1:])


def _json(value: object) -> str:
    return clipped(value if isinstance(value, str) else dumps_text(value))


def event_lines(event: Mapping[str, Any], options: TextOptions) -> list[str]:
    """Return the text lines of one event: the log line, then its ``↳`` and detail lines."""
    style = options.style
    level = shown_text(event.get("level")) or "?"
    shown_level = "WARN" if level == "warning" else level.upper()
    micros = timestamp_us(value_text(event.get("timestamp")))
    when = format_time(micros) if micros is not None else shown_text(event.get("timestamp")) or "-"
    header, used = _header(event)
    message = shown_text(event.get("event"))
    parts = [part for part in (header, message) if part]
    pairs = _pairs(event, used, options)
    line = (
        f"{style.paint(when, '2')} {style.paint(f'[{shown_level}]', LEVEL_STYLES.get(level, ''))}"
    )
    text = " - ".join(parts)
    if pairs:
        text = f"{text} - {', '.join(pairs)}" if text else ", ".join(pairs)
    lines = [f"{line} {text}".rstrip()]
    alarm = "31" if level in ("error", "critical") else "2"
    lines += [style.paint(detail, alarm) for detail in _details(event, options)]
    return lines


def count_text(number: int, noun: str) -> str:
    """``1 event``, ``2,000 events``: a count with its noun."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
