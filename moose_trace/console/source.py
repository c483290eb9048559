"""What the console reads: log files or one ClickHouse logs table, and how it follows them.

The engines are those of ``moose-trace logs`` (``moose_trace.query``), chosen the same way
(``moose_trace.query.engines``): a trace is read through the trace index by the Python engine;
any other question over files goes to DuckDB — to a table kept up to date with the files
(``moose_trace.query.duckdb_cache``) so that a console's many questions do not each read every
file again; a ClickHouse source answers everything. Following
(the live stream) is ``--follow``'s: new lines of the files matched with the compiled predicate,
or the table polled past the newest event shown.

``warm()`` (the app's start-up) loads that table in a thread, the newest events first, then
builds the trace index. Until the table is loaded, a question it covers is answered at once from
what is loaded so far, and ``partial(query)`` says so (the API marks such answers partial and
says how far the load is); a first click does not wait for the whole load. Once loaded, a
refresher thread loads what the files gain every ``REFRESH_SECONDS``, so that a question seldom
pays for an append, and the table's kept answers are brought up to date from the new rows only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from moose_trace._record import record_values
from moose_trace.query.ast import Condition, ListEvents, Query
from moose_trace.query.duckdb_cache import CachedDuckDBEngine
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.engines import open_store, store_url, trace_of
from moose_trace.query.follow_files import file_ends, follow_lines
from moose_trace.query.follow_store import Boundary, poll_events
from moose_trace.query.predicate import compile_line_predicate
from moose_trace.query.python_engine import PythonEngine, read_line
from moose_trace.query.results import Engine, EventsResult, Result
from moose_trace.query.sources import (
    LogSources,
    UnreadableFile,
    incomplete_tail,
    resolve_sources,
)
from moose_trace.query.trace_index import candidate_lines

__all__ = ["REFRESH_SECONDS", "ConsoleSource", "open_source"]

REFRESH_SECONDS = 0.2
"""How often the loaded table takes in what the log files gained."""

EventBatch = Callable[[list[dict[str, Any]]], None]


class ConsoleSource:
    """The logs one console serves: ``files`` (JSON Lines) or a ClickHouse ``store`` engine."""

    def __init__(self, files: LogSources | None = None, store: Engine | None = None) -> None:
        if (files is None) == (store is None):
            raise ValueError("a console reads log files or a ClickHouse table: give one")
        self.files = files
        self.store = store
        self._cache: CachedDuckDBEngine | None = None
        self._cache_lock = threading.Lock()
        self._stop = threading.Event()
        self._refreshing = threading.Thread(
            target=self._refresh, name="moose-trace-refresh", daemon=True
        )
        self._load_failure: Exception | None = None
        self._closed = False

    def describe(self) -> str:
        """Say what is served, for the page's title bar and the start-up line."""
        if self.store is not None:
            return "ClickHouse logs table"
        assert self.files is not None
        roots = [str(path) for path in [*self.files.directories]] or [
            str(path) for path in self.files.files[:3]
        ]
        return ", ".join(roots) or "no log files"

    def engine(self, query: Query) -> Engine:
        """Return the engine that answers ``query``.

        As ``moose-trace logs`` picks: the table for a ClickHouse source, the trace index for a
        trace. Other questions over files go to the cached DuckDB table when it holds the
        fields they read (``CachedDuckDBEngine``; while it loads, from what is loaded: see
        ``partial``), else to DuckDB over the files (whose unfinished last lines are not
        counted as skipped).
        """
        if self.store is not None:
            return self.store
        assert self.files is not None
        files = self.files.discover()
        trace = trace_of(query.where)
        if trace is not None:
            return PythonEngine(lambda: candidate_lines(files, trace.trace_ids))
        if not files:
            return PythonEngine(lambda: ())
        if CachedDuckDBEngine.covers(query):
            if self._load_failure is None:
                self.warm()
            # After a failed load in the background, the question loads again itself and
            # reports the failure if it happens again.
            return self._cached()
        return _FileScan(files)

    def partial(self, query: Query) -> bool:
        """Whether ``query`` asked now would be answered from a table still loading."""
        if self.store is not None or trace_of(query.where) is not None:
            return False
        return not self.ready and CachedDuckDBEngine.covers(query)

    def answered_partial(self, query: Query) -> bool:
        """Whether this thread's answer to ``query`` (just run) held part of the logs only:
        it came from the table while its first load was under way."""
        if self.store is not None or trace_of(query.where) is not None:
            return False
        return CachedDuckDBEngine.covers(query) and self._cached().answered_partial()

    def progress(self) -> tuple[int, int]:
        """Return ``(bytes loaded, bytes to load)`` of the table's first load."""
        return self._cached().progress() if self.files is not None else (0, 0)

    @property
    def ready(self) -> bool:
        """Whether questions over files are answered from the loaded table (a ClickHouse
        source: always)."""
        return self.files is None or (self._cache is not None and self._cache.ready)

    def warm(self) -> None:
        """Start loading the cached table in a thread (log files only; at most once)."""
        if self.files is None:
            return
        cache = self._cached()
        with self._cache_lock:
            if cache.ready or cache.loading:
                return

            def loaded(failure: Exception | None) -> None:
                self._load_failure = failure
                if failure is None and not self._closed and self._refreshing.ident is None:
                    self._index_traces()
                    self._refreshing.start()

            cache.warm_in_background(loaded)

    def _refresh(self) -> None:
        """Load what the files gain, every ``REFRESH_SECONDS``, until closed."""
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                self._cached().refresh()
            except Exception:  # the next question meets it again and reports it
                continue

    def _index_traces(self) -> None:
        """Build the files' trace index now, as the first trace asked would: that click then
        reads only the trace's lines. (A file that cannot be read or indexed is left to that
        question, which reports it.)"""
        assert self.files is not None
        unused = "0" * 32
        try:
            for _line in candidate_lines(self.files.discover(), (unused,), on_unreadable=_ignore):
                pass
        except Exception:  # the trace question meets it again and reports it
            return

    def _cached(self) -> CachedDuckDBEngine:
        with self._cache_lock:
            if self._cache is None:
                assert self.files is not None
                self._cache = CachedDuckDBEngine(discover=self.files.discover)
            return self._cache

    def run(self, query: Query) -> Result:
        """Answer ``query``."""
        return self.engine(query).run(query)

    def skipped(self, count: int, query: Query) -> int:
        """Return the skipped-lines count to report for ``query``'s answer: ``count`` as
        answered (``run`` already leaves out the files' unfinished last lines)."""
        return count

    def follow(self, where: Condition, emit: EventBatch, stop: threading.Event) -> None:
        """Hand each batch of new matching events to ``emit``, oldest first, until ``stop``.

        Blocks: run it in a thread. Events already written when it starts are not handed on.
        """
        if self.store is not None:
            boundary = Boundary()
            latest = self.store.run(Query(where, ListEvents(1)))
            assert isinstance(latest, EventsResult)
            for event in latest.events:
                boundary.admit(event)

            def emit_polled(events: Iterable[dict[str, Any]]) -> None:
                emit(list(events))

            poll_events(self.store, where, emit_polled, stop, boundary=boundary)
            return
        assert self.files is not None
        matches = compile_line_predicate(where)
        sources = self.files

        def on_lines(_path: Path, lines: list[bytes]) -> None:
            fresh = []
            for line in lines:
                read = read_line(line)
                if read is not None and read.event is not None and matches(read.event, read.text):
                    fresh.append(read.event)
            if fresh:
                emit(fresh)

        follow_lines(sources, file_ends(sources.discover()), on_lines, stop)

    def close(self) -> None:
        """Close the ClickHouse connection or drop the cached table (a load under way stops)."""
        self._closed = True
        self._stop.set()
        if self._refreshing.is_alive():
            self._refreshing.join()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()
        if self._cache is not None:
            self._cache.close()


def _ignore(_unreadable: UnreadableFile) -> None:
    """A file the warm-up cannot read is reported by the question that needs it."""


class _FileScan:
    """DuckDB over the files, not counting their unfinished last lines as skipped (a line
    still being written is read as a bad one by a full scan)."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = files
        self.engine = DuckDBEngine(files)

    def run(self, query: Query) -> Result:
        result = self.engine.run(query)
        unfinished = sum(incomplete_tail(path) for path in self.files)
        if not unfinished:
            return result
        values = record_values(result)
        skipped = values["skipped"]
        if callable(skipped):
            values["skipped"] = lambda: max(0, skipped() - unfinished)
        else:
            values["skipped"] = max(0, skipped - unfinished)
        return type(result)(**values)


def open_source(sources: Sequence[str], table: str | None = None) -> ConsoleSource:
    """Return the console source for command-line ``sources`` (files, dirs, globs or one URL).

    Raises ``QueryError`` for a missing file or a bad URL.
    """
    url = store_url(sources)
    if url is None:
        return ConsoleSource(files=resolve_sources(sources))
    return ConsoleSource(store=open_store(url, table))
