"""``--follow`` on a database: ask the engine again and again for events newer than the last.

Files are followed by reading what is appended (``moose_trace.query.follow_files``); a table has no
end to read from, so it is polled by timestamp: every ``interval`` the query runs again with
``timestamp >= newest shown``, and events already shown at that boundary timestamp are not shown
twice. An event stored with a timestamp older than the newest one shown (a replayed spool) is
not shown; ``--since`` finds it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from moose_trace.query.ast import AllOf, Condition, ListEvents, Query, TimeRange
from moose_trace.query.normalize import timestamp_us, us_datetime, value_text
from moose_trace.query.results import Engine, EventsResult

__all__ = ["POLL_INTERVAL", "Boundary", "event_key", "poll_events"]

POLL_INTERVAL = 0.5
"""Seconds between two polls: a new event shows within about this long after it is stored."""


def event_key(event: dict[str, Any]) -> bytes:
    """Return what two copies of one event share (key order aside): the follow dedup key."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


class Boundary:
    """The newest timestamp shown and the events shown at exactly that timestamp."""

    def __init__(self) -> None:
        self.newest: int | None = None
        self.at_newest: set[bytes] = set()

    def admit(self, event: dict[str, Any]) -> bool:
        """Record ``event`` as shown; return False when it was shown already."""
        stamp = timestamp_us(value_text(event.get("timestamp")))
        if stamp is None or (self.newest is not None and stamp < self.newest):
            return True  # not at the boundary: the poll's time range did not return it twice
        key = event_key(event)
        if self.newest is None or stamp > self.newest:
            self.newest, self.at_newest = stamp, {key}
            return True
        if key in self.at_newest:
            return False
        self.at_newest.add(key)
        return True

    def condition(self, where: Condition) -> Condition:
        """Return ``where`` narrowed to events at or after the newest shown."""
        if self.newest is None:
            return where
        start = us_datetime(self.newest)
        return AllOf((where, TimeRange(start=start)))


def poll_events(
    engine: Engine,
    where: Condition,
    emit: Callable[[Iterable[dict[str, Any]]], None],
    stop: threading.Event,
    *,
    boundary: Boundary,
    interval: float = POLL_INTERVAL,
) -> None:
    """Hand each new matching event to ``emit`` (a batch per poll, oldest first) until ``stop``.

    ``boundary`` holds what was shown before following started (``admit`` each of those).
    """
    while not stop.wait(interval):
        result = engine.run(Query(boundary.condition(where), ListEvents(None)))
        assert isinstance(result, EventsResult)
        fresh = [event for event in result.events if boundary.admit(event)]
        if fresh:
            emit(fresh)
