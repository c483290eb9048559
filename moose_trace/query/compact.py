"""Event lines that fit the screen: what ``moose-trace logs`` shows on a terminal.

```
── 2026-12-07 ──
15:31:26.133 INFO  demo-ingest/webserver  UserEvent  request handled  http_status=200 …
15:31:26.298 ERROR demo-sync/sync  UserEvent  batch sync failed  error_category=type_conv…
  ↳ ClickHouseError: ClickHouse insert failed at chdb://…
```

Each event is one line cut to the terminal's width: time of day (a date line when the day
changes), level, service/layer, primitive name, message, then the most useful fields first.
A field whose value repeats the line above is left out (lnav and hl do the same), except what
tells an error apart. ``↳`` lines carry the error, cut too. On a terminal, keys are dim and
levels coloured. ``--wide`` (or a pipe) shows every line whole instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moose_trace.query.event_text import (
    LEVEL_STYLES,
    UNSHOWN_FIELDS,
    Style,
    TextOptions,
    event_lines,
)
from moose_trace.query.normalize import timestamp_us, us_datetime, value_text
from moose_trace.query.screen import shown

__all__ = ["CompactLines"]

_LEADING = (
    "error_category",
    "http_method",
    "http_path",
    "http_status",
    "status",
    "latency_ms",
    "records",
    "batch_size",
    "consumer_lag",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "consumer_group",
    "table",
    "operation",
    "principal",
    "client_ip",
    "workflow_run_id",
    "retry_count",
)
_IN_HEADER = frozenset({"timestamp", "level", "event", "message", "service", "layer", "name"})
_NOT_SHOWN = UNSHOWN_FIELDS | {"type"}
_ALWAYS = frozenset({"error_category", "http_status", "status", "latency_ms"})
"""Shown even when equal to the line above: they tell one event from the next."""
_LEVELS = {
    "critical": "CRIT ",
    "error": "ERROR",
    "warning": "WARN ",
    "info": "INFO ",
    "debug": "DEBUG",
}


class CompactLines:
    """Turns events into screen-wide lines, remembering the line above (one per output)."""

    __slots__ = ("_day", "_previous", "show_trace_id", "style", "width")

    def __init__(self, width: int, style: Style, *, show_trace_id: bool = True) -> None:
        self.width = max(40, width)
        self.style = style
        self.show_trace_id = show_trace_id
        self._previous: dict[str, str] = {}
        self._day: str | None = None

    def lines(self, event: Mapping[str, Any]) -> list[str]:
        """Return the lines of ``event``: maybe a date line, its line, its ``↳`` lines."""
        style = self.style
        found: list[str] = []
        micros = timestamp_us(value_text(event.get("timestamp")))
        if micros is not None:
            moment = us_datetime(micros)
            day = moment.strftime("%Y-%m-%d")
            if day != self._day:
                self._day = day
                found.append(style.paint(f"── {day} ──", "2"))
            when = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        else:
            when = "--:--:--.---"
        level = (value_text(event.get("level")) or "?").lower()
        shown_level = _LEVELS.get(level, level.upper()[:5].ljust(5))
        where = "/".join(
            part
            for part in (value_text(event.get("service")), value_text(event.get("layer")))
            if part
        )
        name = value_text(event.get("name")) or ""
        message = value_text(event.get("event")) or value_text(event.get("message")) or ""
        head = [when, shown_level, shown(where), shown(name), shown(message)]
        pairs = self._pairs(event)
        plain_parts = [part for part in head[2:] if part]
        text = "  ".join(plain_parts)
        line_plain = f"{when} {shown_level} {text}"
        room = self.width - len(line_plain)
        painted = (
            f"{style.paint(when, '2')} {style.paint(shown_level, LEVEL_STYLES.get(level, ''))} "
            + _cut(text, self.width - len(when) - len(shown_level) - 2)
        )
        shown_pairs: list[str] = []
        for key, value in pairs:
            piece = f"{key}={value}"
            if room < len(piece) + 2:
                space = room - (1 if shown_pairs else 2)
                if space > len(key) + 4:  # the key and a start of the value
                    cut = _cut(piece, space)
                    shown_pairs.append(f"{style.paint(key + '=', '2')}{cut[len(key) + 1 :]}")
                elif space >= 1:
                    shown_pairs.append(style.paint("…", "2"))
                break
            room -= len(piece) + 1 if shown_pairs else len(piece) + 2
            shown_pairs.append(f"{style.paint(key + '=', '2')}{value}")
        if shown_pairs:
            painted += "  " + " ".join(shown_pairs)
        found.append(painted)
        details = event_lines(event, TextOptions(show_trace_id=False))[1:]
        alarm = "31" if level in ("error", "critical") else "2"
        found += [style.paint(_cut(detail, self.width), alarm) for detail in details]
        return found

    def _pairs(self, event: Mapping[str, Any]) -> list[tuple[str, str]]:
        keys = [key for key in _LEADING if key in event]
        keys += [key for key in event if key not in _LEADING]
        current: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        for key in keys:
            if key in _IN_HEADER or key in _NOT_SHOWN or key == "trace_id":
                continue
            text = value_text(event.get(key))
            if text is None:
                continue
            current[key] = text
            if key not in _ALWAYS and self._previous.get(key) == text:
                continue  # the line above says it
            pairs.append((shown(key), shown(text)))
        trace_id = value_text(event.get("trace_id"))
        if self.show_trace_id and trace_id is not None:
            pairs.append(("trace_id", shown(trace_id)))
        self._previous = current
        return pairs


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
