"""The demo's live view: which component is up, requests sent, records through each stage.

Components and the workload report to one ``DemoStats`` (thread-safe counters and states).
``ProgressView`` shows it: on a terminal, a block of lines redrawn in place ten times a second;
elsewhere (a pipe, CI, a test), one plain line per change of state, so logs of a run read well.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

__all__ = ["COUNTERS", "DemoStats", "ProgressView"]

COUNTERS = (
    ("requests", "requests sent"),
    ("responses_2xx", "2xx"),
    ("responses_4xx", "4xx"),
    ("responses_5xx", "5xx"),
    ("produced", "produced"),
    ("transformed", "transformed"),
    ("dead_lettered", "to DLQ"),
    ("enriched", "enriched"),
    ("inserted", "rows inserted"),
    ("rejected", "rows rejected"),
    ("workflow_runs", "workflow runs"),
)
"""The counters the view shows: ``(key, label)``."""

_REFRESH_SECONDS = 0.1


@dataclass
class _Component:
    state: str
    detail: str


class DemoStats:
    """What the demo's parts report while it runs: component states, counters, current story."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._components: dict[str, _Component] = {}
        self._counts: dict[str, int] = {key: 0 for key, _label in COUNTERS}
        self._story = ""
        self._changes: list[str] = []
        self.version = 0
        """Bumped on every change; the view redraws when it moves."""

    def component(self, name: str, state: str, detail: str = "") -> None:
        """Record that component ``name`` is now ``state`` (starting, up, stopped, failed)."""
        with self._lock:
            self._components[name] = _Component(state, detail)
            self._changes.append(f"{name}: {state}" + (f" - {detail}" if detail else ""))
            self.version += 1

    def add(self, counter: str, amount: int = 1) -> None:
        """Add ``amount`` to a counter (one of ``COUNTERS``' keys)."""
        with self._lock:
            self._counts[counter] = self._counts.get(counter, 0) + amount
            self.version += 1

    def count(self, counter: str) -> int:
        """Return a counter's value."""
        with self._lock:
            return self._counts.get(counter, 0)

    def story(self, text: str) -> None:
        """Record what the workload is doing now (shown as the last line)."""
        with self._lock:
            self._story = text
            self._changes.append(text)
            self.version += 1

    def take_changes(self) -> list[str]:
        """Return the state changes and story steps since the last call."""
        with self._lock:
            changes, self._changes = self._changes, []
            return changes

    def lines(self) -> list[str]:
        """Return the view as text lines."""
        with self._lock:
            components = dict(self._components)
            counts = dict(self._counts)
            story = self._story
        width = max((len(name) for name in components), default=0)
        lines = [
            f"  {name.ljust(width)}  {component.state:<8} {component.detail}".rstrip()
            for name, component in components.items()
        ]
        lines.append(f"  {_requests(counts)}")
        records, _, rows = _records(counts).partition("; ")
        lines.append(f"  {records}")
        lines.append(f"  {rows}")
        if story:
            lines.append(f"  ▸ {story}")
        return lines

    def summary(self) -> str:
        """Return the counters as one line."""
        with self._lock:
            counts = dict(self._counts)
        return f"{_requests(counts)}\n{_records(counts)}"


def _requests(counts: dict[str, int]) -> str:
    return (
        f"requests: {counts['requests']} sent, {counts['responses_2xx']} 2xx, "
        f"{counts['responses_4xx']} 4xx, {counts['responses_5xx']} 5xx"
    )


def _records(counts: dict[str, int]) -> str:
    return (
        f"records: {counts['produced']} produced, {counts['transformed']} transformed, "
        f"{counts['dead_lettered']} to DLQ, {counts['enriched']} enriched; "
        f"rows: {counts['inserted']} inserted, {counts['rejected']} rejected; "
        f"workflow runs: {counts['workflow_runs']}"
    )


class ProgressView:
    """Shows ``DemoStats`` on ``out`` while the demo runs: in place on a TTY, else plain lines."""

    def __init__(self, stats: DemoStats, out: TextIO, *, live: bool | None = None) -> None:
        self.stats = stats
        self.out = out
        self.live = _is_tty(out) if live is None else live
        self._drawn = 0
        self._seen = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @contextmanager
    def showing(self) -> Iterator[ProgressView]:
        """Show the view until the block ends, then leave its last state on screen."""
        self._thread = threading.Thread(target=self._loop, name="demo-progress", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self.refresh()

    def _loop(self) -> None:
        while not self._stop.wait(_REFRESH_SECONDS):
            self.refresh()

    def refresh(self) -> None:
        """Draw what changed since the last refresh."""
        with self._lock:
            if self.live:
                if self.stats.version != self._seen:
                    self._seen = self.stats.version
                    self._redraw(self.stats.lines())
                    self.stats.take_changes()
            else:
                for change in self.stats.take_changes():
                    self.out.write(f"[demo] {change}\n")
                self.out.flush()

    def _redraw(self, lines: list[str]) -> None:
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        body = "".join(f"\x1b[2K{line}\n" for line in lines)
        extra = self._drawn - len(lines)
        clear = "\x1b[2K\n" * extra + (f"\x1b[{extra}F" if extra > 0 else "")
        self.out.write(up + body + clear)
        self.out.flush()
        self._drawn = len(lines)


def _is_tty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
