"""Running a planned query: which engine answers it, and what the notes about it need.

``QueryRunner`` answers from a ClickHouse store when one is given; else, for a trace, the trace
index and the Python engine over the lines that can hold it; for a text search, a byte scan and
the Python engine; for everything else DuckDB over the files. It keeps the files it could not
read and tells how many lines were not log events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moose_trace.query.ast import AllOf, ListEvents, Match, Query, TraceIs, Value
from moose_trace.query.engines import trace_of
from moose_trace.query.language import KafkaRecord
from moose_trace.query.normalize import trace_hex, value_text
from moose_trace.query.progress import ProgressBar
from moose_trace.query.python_engine import PythonEngine
from moose_trace.query.results import Engine, EventsResult, Result
from moose_trace.query.search import search_lines, searches_of
from moose_trace.query.sources import LogSources, UnreadableFile, files_text, incomplete_tail
from moose_trace.query.trace_index import INLINE_INDEX_BYTES, candidate_lines

__all__ = ["QueryRunner"]


class QueryRunner:
    """Picks the engine for a query and keeps what the notes on stderr need."""

    def __init__(
        self, sources: LogSources, progress: ProgressBar, store: Engine | None = None
    ) -> None:
        self.sources = sources
        self.progress = progress
        self.store = store
        self.full_scan = False
        self.unreadable: list[UnreadableFile] = []

    def where(self) -> str:
        """Say what was searched, for the 'no matching events' note."""
        if self.store is not None:
            return "the ClickHouse logs table"
        return files_text(len(self.sources.files))

    def engine(self, query: Query) -> Engine:
        if self.store is not None:
            return self.store
        files = self.sources.files
        trace = trace_of(query.where)
        if trace is not None:
            return PythonEngine(
                lambda: candidate_lines(
                    files,
                    trace.trace_ids,
                    defer_bytes=INLINE_INDEX_BYTES,
                    on_unreadable=self._skip,
                    parallel=True,
                )
            )
        if not files:
            return PythonEngine(lambda: ())
        from moose_trace.query.duckdb_engine import DuckDBEngine  # noqa: PLC0415 (optional dependency)

        self.full_scan = True
        return DuckDBEngine(
            files,
            on_progress=self.progress if self.progress.enabled else None,
            on_unreadable=self._skip,
        )

    def _skip(self, unreadable: UnreadableFile) -> None:
        if unreadable not in self.unreadable:
            self.unreadable.append(unreadable)

    def nothing_read(self) -> bool:
        """Return whether every file was unreadable (then the answer means nothing)."""
        files = {unreadable.path for unreadable in self.unreadable}
        return bool(files) and files >= set(self.sources.files)

    def run(self, query: Query) -> Result:
        needles = [found.needle for found in searches_of(query.where)]
        if needles and self.store is None and trace_of(query.where) is None:
            # The byte scan passes only lines holding every needle (on every core: the
            # command runs no other thread yet); the Python engine answers the whole query.
            files = self.sources.files
            return PythonEngine(
                lambda: search_lines(files, needles, parallel=True, on_unreadable=self._skip)
            ).run(query)
        return self.engine(query).run(query)

    def search_listing(
        self, query: Query, write: Callable[[dict[str, Any]], str]
    ) -> tuple[list[str], EventsResult] | None:
        """Return a ``--search`` listing over files written on every core (``search_listing``):
        the texts ``write`` made of the events, in order, and the (empty) result for the notes.

        ``None`` where it does not apply: a ClickHouse source, a trace, no text searched or an
        answer other than a listing. With a ``--limit``, only the latest events are written.
        """
        needles = [found.needle for found in searches_of(query.where)]
        mode = query.mode
        if (
            not needles
            or self.store is not None
            or trace_of(query.where) is not None
            or not isinstance(mode, ListEvents)
        ):
            return None
        from moose_trace.query.search_listing import search_listing  # noqa: PLC0415 (search only)

        listing = search_listing(
            self.sources.files, needles, query, write, parallel=True, on_unreadable=self._skip
        )
        skipped = listing.skipped
        return listing.texts, EventsResult([], skipped=lambda: skipped)

    def kafka_traces(self, record: KafkaRecord) -> TraceIs | None:
        """Return the traces of the events logged for a Kafka record (None: none found)."""
        coordinates = AllOf(
            (
                Match("kafka_topic", (Value(record.topic),)),
                Match("kafka_partition", (Value(str(record.partition), "number"),)),
                Match("kafka_offset", (Value(str(record.offset), "number"),)),
            )
        )
        result = self.run(Query(coordinates, ListEvents()))
        assert isinstance(result, EventsResult)
        ids = {
            trace_hex(text)
            for event in result.events
            if (text := value_text(event.get("trace_id"))) is not None
        }
        valid = tuple(sorted(value for value in ids if len(value) == 32))
        return TraceIs(valid) if valid else None

    def skipped(self, result: Result) -> int:
        count = result.skipped() if isinstance(result, EventsResult) else result.skipped
        if self.full_scan:
            unreadable = {unreadable.path for unreadable in self.unreadable}
            count -= sum(
                incomplete_tail(path) for path in self.sources.files if path not in unreadable
            )
        return max(0, count)
