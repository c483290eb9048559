"""``--follow``: the latest matching events, then each new one as it is written, until Ctrl-C.

Files are followed by reading what is appended to them (``follow_files``), a ClickHouse table
by polling it past the newest event shown (``follow_store``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from moose_trace.query.ast import ListEvents, Query
from moose_trace.query.follow_files import Tail, file_ends, follow_lines
from moose_trace.query.predicate import compile_predicate
from moose_trace.query.python_engine import read_line
from moose_trace.query.render import RenderOptions, write_event
from moose_trace.query.results import Engine, EventsResult
from moose_trace.query.runner import QueryRunner
from moose_trace.query.sources import LogSources

if TYPE_CHECKING:
    from moose_trace.query.follow_store import Boundary

__all__ = ["follow_events", "follow_files", "poll_store"]


def follow_events(
    query: Query,
    runner: QueryRunner,
    out: TextIO,
    err: TextIO,
    options: RenderOptions,
    *,
    limit: int | None,
) -> int:
    """Show the latest matching events, then new ones as they are written, until Ctrl-C.

    What was shown keeps an event from showing twice: a table is polled past a timestamp
    ``Boundary``; a file line written between ``file_ends`` and the backlog query is both in
    the backlog and read when following, so the backlog's ``event_key``s are remembered.
    """
    from moose_trace.query.follow_store import Boundary, event_key  # noqa: PLC0415 (--follow only)

    try:
        tails = file_ends(runner.sources.discover())
        result = runner.run(Query(query.where, ListEvents(limit)))
        runner.progress.clear()
        assert isinstance(result, EventsResult)
        boundary = Boundary()
        backlog: set[bytes] = set()
        for event in result.events:
            if runner.store is not None:
                boundary.admit(event)
            else:
                backlog.add(event_key(event))
            write_event(event, out, options)
        out.flush()
        print("moose-trace logs: following (Ctrl-C to stop)", file=err)
        if runner.store is not None:
            poll_store(query, runner.store, boundary, out, options)
        else:
            follow_files(query, runner.sources, tails, backlog, out=out, options=options)
    except KeyboardInterrupt:
        runner.progress.clear()
    return 0


def follow_files(
    query: Query,
    sources: LogSources,
    tails: dict[Path, Tail],
    backlog: set[bytes],
    *,
    out: TextIO,
    options: RenderOptions,
) -> None:
    """Show the matching lines appended to the files after ``tails``, but not the backlog's."""
    from moose_trace.query.follow_store import event_key  # noqa: PLC0415 (--follow only)

    matches = compile_predicate(query.where)

    def on_lines(_path: Path, lines: list[bytes]) -> None:
        for line in lines:
            read = read_line(line)
            if read is None or read.event is None or not matches(read.event):
                continue
            if backlog and event_key(read.event) in backlog:
                continue
            write_event(read.event, out, options)
        out.flush()

    follow_lines(sources, tails, on_lines, threading.Event())


def poll_store(
    query: Query, store: Engine, boundary: Boundary, out: TextIO, options: RenderOptions
) -> None:
    """Show the events stored past ``boundary``, polling the table."""
    from moose_trace.query.follow_store import poll_events  # noqa: PLC0415 (--follow only)

    def emit(events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            write_event(event, out, options)
        out.flush()

    poll_events(store, query.where, emit, threading.Event(), boundary=boundary)
