"""``ClickHouseSink``: log events into ClickHouse in big batches, off the caller's hot path.

``write(event)`` appends the final event dict to an in-memory buffer and returns; that is all the
logging call pays. Two background threads do the rest:

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

import logging
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moose_trace._text import safe_str
from moose_trace.logging.paths import default_log_dir
from moose_trace.store.clickhouse.lines import encode_event, is_event_line
from moose_trace.store.clickhouse.refusals import store_batch
from moose_trace.store.clickhouse.schema import DEFAULT_TABLE, ddl, table_names
from moose_trace.store.clickhouse.shutdown import install_sigterm_handler, register, unregister
from moose_trace.store.clickhouse.spool import Spool, SpooledBatch
from moose_trace.store.clickhouse.transport import ClickHouseError, Transport, connect
from moose_trace.store.clickhouse.wal import FsyncPolicy, WriteAheadLog
from moose_trace.store.retention import DEFAULT_RETENTION, RetentionPolicy
from moose_trace.tracing.ids import new_trace_id

__all__ = ["ClickHouseSink", "SinkStats", "install_sigterm_handler"]

logger = logging.getLogger("moose_trace.clickhouse")

_URGENT_LEVELS = frozenset({"error", "critical", "ERROR", "CRITICAL", "exception"})
_URGENT_JSON = re.compile(rb'"level":\s*"(?:error|critical|ERROR|CRITICAL|exception)"')
# Threads whose log records must not enter a sink: the sinks' own threads, and any thread while
# it reports a sink's trouble. Records from there still reach every other handler.
_quiet = threading.local()


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


@dataclass
class _Batch:
    token: str
    data: bytes
    count: int


def _warn(message: str, *args: object) -> None:
    previous = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        logger.warning(message, *args)
    finally:
        _quiet.on = previous


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
        self._ddl = ddl(table, database=database, retention=retention) if create_table else []
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._error_flush_interval = error_flush_interval
        self._max_buffer = max_buffer
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._close_timeout = close_timeout
        self._spool = Spool(
            Path(spool_dir) if spool_dir is not None else _default_spool_dir(self._transport, table)
        )
        self._wal = WriteAheadLog(self._spool.directory, fsync) if durable else None

        self._buffer: deque[Mapping[str, Any] | bytes] = deque()
        self._urgent = False
        self._wake = threading.Event()
        self._cond = threading.Condition(threading.RLock())
        self._pending: deque[_Batch] = deque()
        self._pending_events = 0
        self._batcher_busy = False
        self._flush_requested = False
        self._closing = threading.Event()
        self._abandoned = False
        self._closed = False
        self._counts = dict.fromkeys(
            ("inserted", "replayed", "spilled", "retried", "dropped", "rejected", "restarted"), 0
        )
        self._losses_reported = 0  # dropped + rejected when flush() last answered
        self._overflowing = False

        self._batcher = threading.Thread(
            target=self._supervised(self._run_batcher, "batcher"),
            name="moose-trace-clickhouse-batcher",
        )
        self._inserter = threading.Thread(
            target=self._supervised(self._run_inserter, "inserter"),
            name="moose-trace-clickhouse-inserter",
        )
        self._batcher.daemon = self._inserter.daemon = True
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
        if getattr(_quiet, "on", False):
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
            self._urgent = True
            self._wake.set()

    def write_json(self, line: bytes | str) -> None:
        """Queue one event already rendered as a JSON object (no newline inside).

        For a logging chain that renders each event to JSON anyway: the sink then stores those
        very bytes and does not serialize the event a second time. Never raises, never blocks.
        """
        if getattr(_quiet, "on", False):
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
            self._urgent = True
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything written so far; return whether it is all stored in ClickHouse in time.

        Blocks the calling thread (up to ``timeout`` seconds, default forever); the logging
        call itself never does.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flush_requested = True
            self._wake.set()
            while self._unsent():
                if not (self._inserter.is_alive() and self._batcher.is_alive()):
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if self._wal is not None and self._wal.count:
                    self._flush_requested = True
                    self._wake.set()
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
            # Stored means stored: events set aside as bad or dropped since the last answer
            # make it false (their count and place are in stats() and the warnings).
            losses = self._counts["dropped"] + self._counts["rejected"]
            clean = losses == self._losses_reported
            self._losses_reported = losses
        return clean

    def _unsent(self) -> bool:
        wal_count = self._wal.count if self._wal is not None else 0
        return bool(
            self._buffer or self._pending or self._batcher_busy or self._spool.events or wal_count
        )

    def close(self, timeout: float | None = None) -> None:
        """Flush and stop: insert what is buffered, spool what cannot be inserted in time.

        Idempotent. Called at interpreter exit and by the opt-in SIGTERM handler. Events written
        after ``close`` are spooled one by one and sent by the next sink on this spool.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
        limit = self._close_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        self._closing.set()
        self._wake.set()
        with self._cond:
            self._cond.notify_all()
        self._batcher.join(max(0.0, deadline - time.monotonic()))
        self._inserter.join(max(0.0, deadline - time.monotonic()))
        previous = getattr(_quiet, "on", False)
        _quiet.on = True
        try:
            with self._cond:
                # Whatever the threads could not finish in time goes to disk; a batch still in
                # flight is spooled too, and its token makes a double arrival count once.
                self._abandoned = True
                if self._buffer:
                    self._spill_events(list(self._buffer))
                    self._buffer.clear()
                self._spill_pending()
                self._seal_segment()
            waiting = self._spool.events
            if waiting:
                _warn(
                    "ClickHouse sink closed with %d events spooled in %s; a sink started on "
                    "that spool sends them",
                    waiting,
                    self._spool.directory,
                )
        finally:
            _quiet.on = previous
            if self._owns_transport:
                self._transport.close()
            unregister(self)

    def stats(self) -> SinkStats:
        """Return the sink's counters: inserted, replayed, spilled, retried, dropped, rejected."""
        with self._cond:
            wal_count = self._wal.count if self._wal is not None else 0
            waiting = len(self._buffer) + self._pending_events + self._spool.events + wal_count
            return SinkStats(**self._counts, waiting=waiting)

    @property
    def spool_dir(self) -> Path:
        """The directory where batches wait while ClickHouse cannot take them."""
        return self._spool.directory

    # -- the batcher ---------------------------------------------------------------------------

    def _supervised(self, target: Callable[[], None], role: str) -> Callable[[], None]:
        """Run ``target`` in a worker thread; restart it if it fails unexpectedly, and say so."""

        def run() -> None:
            _quiet.on = True
            pause = 0.1  # doubled after each failure (up to 5 s): a persistent fault does not spin
            while True:
                try:
                    target()
                    return
                except Exception as failure:
                    with self._cond:
                        self._counts["restarted"] += 1
                        self._batcher_busy = False
                        self._cond.notify_all()
                    _warn(
                        "ClickHouse sink %s failed (%s: %s); restarted",
                        role,
                        type(failure).__name__,
                        safe_str(failure),
                    )
                    stopping = self._closing.wait(pause)
                    pause = min(pause * 2, 5.0)
                    if stopping and (self._abandoned or (role == "batcher" and not self._buffer)):
                        return

        return run

    def _run_batcher(self) -> None:
        last_cut = last_sync = time.monotonic()
        last_early = 0.0
        while True:
            wait = self._flush_interval - (time.monotonic() - last_cut)
            if self._urgent:
                wait = min(wait, self._error_flush_interval - (time.monotonic() - last_early))
            self._wake.wait(max(wait, 0.0))
            self._wake.clear()
            now = time.monotonic()
            closing = self._closing.is_set()
            count = len(self._buffer)
            due = closing or self._flush_requested or now - last_cut >= self._flush_interval
            if not due and self._urgent and now - last_early >= self._error_flush_interval:
                due, last_early = True, now
            if self._wal is not None:
                count = self._wal.count
            if count >= self._batch_size or (due and count):
                self._urgent = False
                self._flush_requested = False
                with self._cond:
                    self._batcher_busy = True
                try:
                    if self._wal is not None:
                        with self._cond:
                            self._seal_segment()
                    else:
                        self._cut(everything=due)
                finally:
                    with self._cond:
                        self._batcher_busy = False
                        self._cond.notify_all()
                last_cut = now if due else last_cut
            elif due:
                self._flush_requested = False
                last_cut = now
                with self._cond:
                    self._cond.notify_all()
            if self._wal is not None and now - last_sync >= self._flush_interval:
                last_sync = now
                self._sync_segment()
            if closing and not self._buffer:
                return

    def _cut(self, *, everything: bool) -> None:
        buffer = self._buffer
        while len(buffer) >= self._batch_size or (everything and buffer):
            size = min(len(buffer), self._batch_size)
            events = [buffer.popleft() for _ in range(size)]
            token = new_trace_id()
            lines = [encode_event(event) for event in events]
            # Lines handed over as JSON are checked here, off the caller's thread; a bad one is
            # set aside alone instead of failing its whole batch at the server.
            bad = [
                line
                for line, event in zip(lines, events, strict=True)
                if type(event) is bytes and not is_event_line(line)
            ]
            if bad:
                lines = [line for line in lines if line not in bad]
                self._set_aside(token, bad, "not one JSON object each")
                size = len(lines)
                if not size:
                    continue
            batch = _Batch(token, b"\n".join(lines), size)
            with self._cond:
                if self._abandoned:
                    self._spill_batch(batch)
                elif len(self._spool) or self._pending_events + size > self._max_buffer:
                    if not len(self._spool) and not self._overflowing:
                        self._overflowing = True
                        _warn(
                            "ClickHouse sink buffer is full (%d events): spilling to %s",
                            self._max_buffer,
                            self._spool.directory,
                        )
                    self._spill_batch(batch)
                else:
                    self._pending.append(batch)
                    self._pending_events += size
                self._cond.notify_all()

    # -- the inserter --------------------------------------------------------------------------

    def _run_inserter(self) -> None:
        backoff = self._retry_initial
        outage = False
        attempts: dict[str, int] = {}  # failures with an unknown error code, by batch token
        table_ready = self._create_table()
        while True:
            with self._cond:
                while not self._pending and not len(self._spool):
                    if self._closing.is_set() and not self._batcher.is_alive():
                        return
                    self._cond.wait(0.1)
                if self._abandoned:
                    return
                batch = self._next_batch()
            if batch is None:
                continue
            if not batch.count:
                self._discard_empty(batch)
                continue
            try:
                if not table_ready:
                    table_ready = self._create_table(raise_errors=True)
                stored = self._store(batch, attempts)
            except ClickHouseError as failure:
                if not failure.transient and not failure.permanent:
                    attempts[batch.token] = attempts.get(batch.token, 0) + 1
                with self._cond:
                    if self._abandoned:
                        return
                    self._counts["retried"] += 1
                    self._spill_pending()
                if not outage:
                    outage = True
                    _warn("%s; spooling to %s, retrying with backoff", failure, self.spool_dir)
                if self._closing.wait(backoff * random.uniform(0.8, 1.2)):
                    return
                backoff = min(backoff * 2, self._retry_max)
                continue
            with self._cond:
                if self._abandoned:
                    return
                attempts.pop(batch.token, None)
                self._done(batch, stored)
                recovered = outage and not len(self._spool)
            backoff = self._retry_initial
            if recovered:
                outage = False
                _warn(
                    "ClickHouse at %s is back: the spool is replayed (%d events so far)",
                    self._transport.url,
                    self._counts["replayed"],
                )

    def _create_table(self, *, raise_errors: bool = False) -> bool:
        try:
            for statement in self._ddl:
                self._transport.execute(statement)
        except ClickHouseError:
            if raise_errors:
                raise
            return False
        return True

    def _next_batch(self) -> _Batch | SpooledBatch | None:
        oldest_spooled = self._spool.oldest_token()
        if self._pending and (oldest_spooled is None or self._pending[0].token < oldest_spooled):
            return self._pending[0]
        spooled = self._spool.read_oldest()
        if spooled is None and self._pending:
            return self._pending[0]
        return spooled

    def _store(self, batch: _Batch | SpooledBatch, attempts: dict[str, int]) -> int:
        """Insert a batch; on a refusal, store what can be stored and set the rest aside."""
        return store_batch(
            batch.data,
            batch.token,
            spooled=isinstance(batch, SpooledBatch),
            failed_before=attempts.get(batch.token, 0),
            insert=self._insert,
            set_aside=self._set_aside,
        )

    def _insert(self, data: bytes, token: str) -> None:
        try:
            self._transport.insert(
                self._names.logs, data, fmt="JSONAsString", columns=("raw",), dedup_token=token
            )
        except ClickHouseError:
            raise
        except Exception as failure:  # a transport's own bug or an odd library error: retried
            raise ClickHouseError(
                f"ClickHouse insert failed at {self._transport.url}: "
                f"{type(failure).__name__}: {safe_str(failure)}"
            ) from failure

    def _set_aside(self, token: str, lines: list[bytes], reason: str) -> None:
        """Keep refused lines in ``rejected/`` (or count them dropped if that fails), and warn."""
        count = len(lines)
        with self._cond:
            try:
                target = self._spool.keep_rejected(token, b"\n".join(lines))
            except OSError as error:
                self._counts["dropped"] += count
                self._cond.notify_all()
                _warn("ClickHouse sink dropped %d bad lines (%s) and %s", count, reason, error)
                return
            self._counts["rejected"] += count
            self._cond.notify_all()
        _warn("ClickHouse sink set aside %d bad lines (%s) in %s", count, reason, target)

    def _discard_empty(self, batch: _Batch | SpooledBatch) -> None:
        with self._cond:
            if isinstance(batch, SpooledBatch):
                self._spool.remove(batch)
                path: object = batch.path
            else:
                self._pending.popleft()
                path = "memory"
            self._cond.notify_all()
        _warn("ClickHouse sink removed an empty batch (%s): nothing to insert", path)

    def _done(self, batch: _Batch | SpooledBatch, stored: int) -> None:
        self._counts["inserted"] += stored
        if isinstance(batch, SpooledBatch):
            self._spool.remove(batch)
            self._counts["replayed"] += stored
        else:
            self._pending.popleft()
            self._pending_events -= batch.count
        if not len(self._spool):
            self._overflowing = False
        self._cond.notify_all()

    # -- durable mode --------------------------------------------------------------------------

    def _write_ahead(self, line: bytes, urgent: bool) -> None:
        assert self._wal is not None
        if not line:
            self._set_aside(new_trace_id(), [line], "an empty line is not an event")
            return
        try:
            self._wal.append(line)
        except OSError as failure:
            with self._cond:
                self._counts["dropped"] += 1
            _warn("ClickHouse sink dropped an event: cannot write %s: %s", self.spool_dir, failure)
            return
        if self._wal.count >= self._batch_size:
            self._wake.set()
        elif urgent:
            self._urgent = True
            self._wake.set()

    def _seal_segment(self) -> None:
        """Turn the open write-ahead segment into a spooled batch (caller holds self._cond)."""
        if self._wal is None:
            return
        try:
            sealed = self._wal.seal()
        except OSError as failure:
            _warn(
                "ClickHouse sink cannot seal %s (%s): the next sink adopts it",
                self.spool_dir,
                failure,
            )
            return
        if sealed is not None:
            self._spool.add(*sealed)
            self._cond.notify_all()

    def _sync_segment(self) -> None:
        assert self._wal is not None
        try:
            self._wal.sync()
        except OSError as failure:
            _warn("ClickHouse sink cannot fsync %s: %s", self.spool_dir, failure)

    # -- spilling (callers hold self._cond) ----------------------------------------------------

    def _spill_batch(self, batch: _Batch) -> None:
        try:
            self._spool.put(batch.token, batch.data)
        except OSError as failure:
            self._counts["dropped"] += batch.count
            _warn(
                "ClickHouse sink dropped %d events: cannot write the spool %s: %s",
                batch.count,
                self._spool.directory,
                failure,
            )
            return
        self._counts["spilled"] += batch.count

    def _spill_pending(self) -> None:
        while self._pending:
            batch = self._pending.popleft()
            self._pending_events -= batch.count
            self._spill_batch(batch)
        self._cond.notify_all()

    def _spill_events(self, events: list[Mapping[str, Any] | bytes]) -> None:
        for start in range(0, len(events), self._batch_size):
            chunk = events[start : start + self._batch_size]
            data = b"\n".join(map(encode_event, chunk))
            self._spill_batch(_Batch(new_trace_id(), data, len(chunk)))

    def _write_late(self, event: Mapping[str, Any] | bytes) -> None:
        previous = getattr(_quiet, "on", False)
        _quiet.on = True
        try:
            with self._cond:
                self._spill_events([event])
        finally:
            _quiet.on = previous
