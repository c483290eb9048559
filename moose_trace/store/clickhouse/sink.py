"""``ClickHouseSink``: log events into ClickHouse in big batches, off the caller's hot path.

``write(event)`` appends the final event dict to an in-memory buffer and returns; that is all the
logging call pays. Two background threads do the rest (this module composes them; each has a
module of its own — ``backlog`` what waits and where, ``batcher``, ``inserter``, ``refusals``,
``supervision``, ``shutdown``, ``diagnostics``):

- the *batcher* cuts the buffer into batches when ``batch_size`` events are waiting, when
  ``flush_interval`` has passed (ClickHouse wants thousands of rows per insert and about one insert
  a second), or soon after an error-level event — at most one early batch per
  ``error_flush_interval``, so an error storm does not become a storm of tiny inserts. It
  serializes each batch to JSON Lines and hands it to the inserter, or to the spool when the
  in-memory backlog would pass ``max_buffer`` events or the spool already holds older batches.
- the *inserter* sends batches oldest first, each with a deduplication token that stays the same
  across retries and restarts. When ClickHouse is down or slow it moves the batch and everything
  waiting to the spool on disk, retries with exponential backoff, and replays the spool in order
  when ClickHouse is back: nothing lost, nothing stored twice.

On ``close()`` (also at interpreter exit, and on SIGTERM once ``install_sigterm_handler()`` ran)
the buffer is flushed; what cannot be inserted in time is spooled, and the next sink started on
the same spool directory sends it. Events are dropped only when the spool cannot be written
(disk full); what was spilled, retried, dropped or rejected is counted (``stats()``) and logged
through the stdlib logger ``moose_trace.clickhouse`` at warning level — never through a sink, so
the sink's own trouble cannot feed back into it.

Bad data never blocks the queue. ClickHouse's error code decides (``transport.PERMANENT_CODES``
/ ``TRANSIENT_CODES``): a transient failure is retried with backoff; a permanent one (the rows
or the statement are wrong) sets aside only the lines at fault — a line that is not one JSON
object (empty, cut short, raw NUL or other control bytes, invalid UTF-8) is found locally, any
other by splitting the batch until the refused lines are alone — in ``rejected/`` of the spool,
counted and warned about; the rest of the batch is stored. An unknown code is retried a few
times, then treated as permanent. A worker thread that fails unexpectedly is restarted (counted
in ``stats().restarted``); ``flush()`` returns true only when everything written before it is
stored and nothing was set aside or dropped since the last flush.

``durable=True`` writes each event to a write-ahead segment in the spool before ``write``
returns (see ``wal``): events survive ``kill -9`` of the process, at the cost of one ``write``
system call per event on the caller's thread (plus an ``fsync`` per event with
``fsync="always"``). Without it, events still in memory (up to ``flush_interval`` worth, more
while ClickHouse is down and the buffer has room) are lost if the process is killed without
running ``close()``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moose_trace.logging.levels import ERROR_LEVELS, LEVEL_BY_SPELLING
from moose_trace.logging.paths import default_log_dir
from moose_trace.store.clickhouse.backlog import Backlog
from moose_trace.store.clickhouse.batcher import Batcher
from moose_trace.store.clickhouse.diagnostics import QUIET, quiet, warn
from moose_trace.store.clickhouse.inserter import Inserter
from moose_trace.store.clickhouse.lines import encode_event
from moose_trace.store.clickhouse.schema import DEFAULT_TABLE, ddl, table_names
from moose_trace.store.clickhouse.shutdown import install_sigterm_handler, register, unregister
from moose_trace.store.clickhouse.spool import Spool
from moose_trace.store.clickhouse.supervision import worker_thread
from moose_trace.store.clickhouse.transport import Transport, connect
from moose_trace.store.clickhouse.wal import FsyncPolicy, WriteAheadLog
from moose_trace.store.retention import DEFAULT_RETENTION, RetentionPolicy
from moose_trace.tracing.ids import new_trace_id

__all__ = ["ClickHouseSink", "SinkStats", "install_sigterm_handler"]

# An event at a failure's level is sent at once: every spelling of ``ERROR_LEVELS`` that
# ``LEVEL_BY_SPELLING`` knows (``error``, ``ERR``, ``fatal``, ``CRIT``, ``exception``, …), in
# lower and upper case, read from the event or from the rendered line without parsing it.
_URGENT_LEVELS = frozenset(
    written
    for spelling, level in LEVEL_BY_SPELLING.items()
    if level in ERROR_LEVELS
    for written in (spelling, spelling.upper())
)
_URGENT_JSON = re.compile(
    rb'"level":\s*"(?:'
    + b"|".join(re.escape(written).encode() for written in sorted(_URGENT_LEVELS))
    + rb')"'
)


@dataclass(frozen=True)
class SinkStats:
    """Counters of one sink since it started (events, not batches, unless the name says so)."""

    inserted: int
    """Events stored in ClickHouse (including replays)."""
    replayed: int
    """Events stored from the spool."""
    spilled: int
    """Events written to the spool (ClickHouse down or slow, or the buffer full)."""
    retried: int
    """Insert attempts that failed and were retried later (batches)."""
    dropped: int
    """Events lost because the spool could not be written (disk full)."""
    rejected: int
    """Events in batches ClickHouse refused as bad data, moved to the spool's ``rejected/``."""
    waiting: int
    """Events not yet stored: in memory and in the spool (earlier runs' batches included)."""
    restarted: int = 0
    """Worker threads restarted after an unexpected error (each one is also logged)."""


def _default_spool_dir(transport: Transport, table: str) -> Path:
    # One spool per destination: batches never replay into another server than they were for.
    return default_log_dir() / "clickhouse-spool" / transport.url.file_key(table)


class ClickHouseSink:
    """A logging sink that stores events in a ClickHouse table, reliably and off the hot path.

    Plug it into the logging setup (``configure_logging(sinks=[ClickHouseSink(url)])``) or call
    ``write(event_dict)`` directly. ``url`` is a ``clickhouse://…`` / ``chdb:///…`` URL or a
    ``Transport``. The table (default ``moose_logs``) and its trace side table are created if
    missing, with TTLs from ``retention``. Defaults suit ClickHouse: 5,000-event batches, one
    insert a second, 100,000 events in memory before spilling to ``spool_dir`` (default: a
    directory per destination under the log directory's ``clickhouse-spool/``).

    ``durable=True``: each event is written to a write-ahead segment in ``spool_dir`` before
    ``write`` returns, so it survives ``kill -9``; ``fsync`` (``"batch"``, ``"always"``,
    ``"never"``) says how often it is forced to the disk, for machine crashes (see ``wal``).
    """

    def __init__(
        self,
        url: str | Transport,
        *,
        table: str = DEFAULT_TABLE,
        batch_size: int = 5_000,
        flush_interval: float = 1.0,
        error_flush_interval: float = 0.25,
        max_buffer: int = 100_000,
        spool_dir: str | os.PathLike[str] | None = None,
        create_table: bool = True,
        retention: RetentionPolicy = DEFAULT_RETENTION,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        close_timeout: float = 10.0,
        durable: bool = False,
        fsync: FsyncPolicy = "batch",
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need 1 ≤ batch_size ≤ max_buffer")
        if flush_interval <= 0 or error_flush_interval < 0:
            raise ValueError("flush_interval must be > 0 and error_flush_interval ≥ 0")
        self._owns_transport = isinstance(url, str)
        self._transport: Transport = connect(url) if isinstance(url, str) else url
        database = self._transport.url.database
        self._names = table_names(table, database)
        self._batch_size = batch_size
        self._close_timeout = close_timeout
        spool = Spool(
            Path(spool_dir) if spool_dir is not None else _default_spool_dir(self._transport, table)
        )
        self._wal = WriteAheadLog(spool.directory, fsync) if durable else None
        self._backlog = backlog = Backlog(
            spool, self._wal, batch_size=batch_size, max_buffer=max_buffer
        )
        # The caller's side touches these on every event: held here, one attribute away.
        self._buffer = backlog.buffer
        self._wake = backlog.wake
        self._closed = False
        self._losses_reported = 0  # dropped + rejected when flush() last answered

        batcher = Batcher(
            backlog, flush_interval=flush_interval, error_flush_interval=error_flush_interval
        )
        self._batcher = worker_thread(
            batcher.run,
            "batcher",
            backlog,
            owner=self,
            done_when_closing=lambda: not backlog.buffer,
        )
        inserter = Inserter(
            backlog,
            self._transport,
            table=self._names.logs,
            ddl=ddl(table, database=database, retention=retention) if create_table else [],
            retry_initial=retry_initial,
            retry_max=retry_max,
            batcher=self._batcher,
        )
        self._inserter = worker_thread(inserter.run, "inserter", backlog, owner=self)
        register(self)
        self._batcher.start()
        self._inserter.start()

    def __repr__(self) -> str:
        return f"ClickHouseSink({str(self._transport.url)!r}, table={self._names.logs!r})"

    # -- the caller's side ---------------------------------------------------------------------

    def write(self, event: Mapping[str, Any]) -> None:
        """Queue one final event dict for insertion; returns at once, never raises, never blocks.

        The sink keeps the dict: pass one that is not modified afterwards (the logging chain's
        final event dict is not).
        """
        if getattr(QUIET, "on", False):
            return
        if self._closed:
            self._write_late(event)
            return
        if self._wal is not None:
            level = event.get("level")
            self._write_ahead(encode_event(event), type(level) is str and level in _URGENT_LEVELS)
            return
        buffer = self._buffer
        buffer.append(event)
        if len(buffer) >= self._batch_size:
            self._wake.set()
        elif type(level := event.get("level")) is str and level in _URGENT_LEVELS:
            self._backlog.urgent = True
            self._wake.set()

    def write_json(self, line: bytes | str) -> None:
        """Queue one event already rendered as a JSON object (no newline inside).

        For a logging chain that renders each event to JSON anyway: the sink then stores those
        very bytes and does not serialize the event a second time. Never raises, never blocks.
        """
        if getattr(QUIET, "on", False):
            return
        if type(line) is not bytes:
            line = str(line).encode("utf-8", "replace")
        if self._closed:
            self._write_late(line)
            return
        if self._wal is not None:
            self._write_ahead(encode_event(line), _URGENT_JSON.search(line) is not None)
            return
        buffer = self._buffer
        buffer.append(line)
        if len(buffer) >= self._batch_size:
            self._wake.set()
        elif _URGENT_JSON.search(line) is not None:
            self._backlog.urgent = True
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything written so far; return whether it is all stored in ClickHouse in time.

        Blocks the calling thread (up to ``timeout`` seconds, default forever); the logging
        call itself never does.
        """
        backlog = self._backlog
        deadline = None if timeout is None else time.monotonic() + timeout
        with backlog.cond:
            backlog.flush_requested = True
            self._wake.set()
            while backlog.unsent():
                if not (self._inserter.is_alive() and self._batcher.is_alive()):
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if self._wal is not None and self._wal.count:
                    backlog.flush_requested = True
                    self._wake.set()
                backlog.cond.wait(0.05 if remaining is None else min(remaining, 0.05))
            # Stored means stored: events set aside as bad or dropped since the last answer
            # make it false (their count and place are in stats() and the warnings).
            losses = backlog.counts["dropped"] + backlog.counts["rejected"]
            clean = losses == self._losses_reported
            self._losses_reported = losses
        return clean

    def close(self, timeout: float | None = None) -> None:
        """Flush and stop: insert what is buffered, spool what cannot be inserted in time.

        Idempotent. Called at interpreter exit and by the opt-in SIGTERM handler. Events written
        after ``close`` are spooled one by one and sent by the next sink on this spool.
        """
        backlog = self._backlog
        with backlog.cond:
            if self._closed:
                return
            self._closed = True
        limit = self._close_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        backlog.closing.set()
        self._wake.set()
        with backlog.cond:
            backlog.cond.notify_all()
        self._batcher.join(max(0.0, deadline - time.monotonic()))
        self._inserter.join(max(0.0, deadline - time.monotonic()))
        try:
            with quiet():
                with backlog.cond:
                    # Whatever the threads could not finish in time goes to disk; a batch still
                    # in flight is spooled too, and its token makes a double arrival count once.
                    backlog.abandoned = True
                    if self._buffer:
                        backlog.spill_events(list(self._buffer))
                        self._buffer.clear()
                    backlog.spill_pending()
                    backlog.seal_segment()
                waiting = backlog.spool.events
                if waiting:
                    warn(
                        "ClickHouse sink closed with %d events spooled in %s; a sink started "
                        "on that spool sends them",
                        waiting,
                        backlog.spool.directory,
                    )
        finally:
            if self._owns_transport:
                self._transport.close()
            unregister(self)

    def stats(self) -> SinkStats:
        """Return the sink's counters: inserted, replayed, spilled, retried, dropped, rejected."""
        with self._backlog.cond:
            return SinkStats(**self._backlog.counts, waiting=self._backlog.waiting())

    @property
    def spool_dir(self) -> Path:
        """The directory where batches wait while ClickHouse cannot take them."""
        return self._backlog.spool.directory

    # -- the caller's side of durable mode, and writes after close -------------------------------

    def _write_ahead(self, line: bytes, urgent: bool) -> None:
        assert self._wal is not None
        if not line:
            self._backlog.set_aside(new_trace_id(), [line], "an empty line is not an event")
            return
        try:
            self._wal.append(line)
        except OSError as failure:
            with self._backlog.cond:
                self._backlog.counts["dropped"] += 1
            warn("ClickHouse sink dropped an event: cannot write %s: %s", self.spool_dir, failure)
            return
        if self._wal.count >= self._batch_size:
            self._wake.set()
        elif urgent:
            self._backlog.urgent = True
            self._wake.set()

    def _write_late(self, event: Mapping[str, Any] | bytes) -> None:
        with quiet(), self._backlog.cond:
            self._backlog.spill_events([event])
