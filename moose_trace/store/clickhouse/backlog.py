"""The sink's backlog: what is waiting to be stored, and the state its threads share.

Events wait in three places, oldest last: the caller's in-memory ``buffer`` (or, in durable
mode, the open write-ahead segment), ``pending`` batches cut and ready for the inserter, and the
``spool`` on disk (batches ClickHouse could not take yet, and earlier runs' leftovers). The
backlog owns all three, the counters ``stats()`` reports, and the lock and events by which the
caller, the batcher and the inserter coordinate. Methods marked *caller holds ``cond``* expect
the lock to be held (it is reentrant).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moose_trace.store.clickhouse.diagnostics import warn
from moose_trace.store.clickhouse.lines import encode_event
from moose_trace.store.clickhouse.spool import Spool, SpooledBatch
from moose_trace.store.clickhouse.wal import WriteAheadLog
from moose_trace.tracing.ids import new_trace_id

__all__ = ["COUNTERS", "Backlog", "Batch"]

COUNTERS = ("inserted", "replayed", "spilled", "retried", "dropped", "rejected", "restarted")
"""The sink's counters (``SinkStats`` fields other than ``waiting``)."""


@dataclass
class Batch:
    """Events cut from the buffer as JSON Lines, with the deduplication token they keep."""

    token: str
    data: bytes
    count: int


class Backlog:
    """What waits to be stored (buffer, pending batches, spool), its counters and its lock."""

    def __init__(
        self, spool: Spool, wal: WriteAheadLog | None, *, batch_size: int, max_buffer: int
    ) -> None:
        self.spool = spool
        self.wal = wal
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self.buffer: deque[Mapping[str, Any] | bytes] = deque()
        self.urgent = False
        """An error-level event arrived: the batcher cuts early (rate-limited)."""
        self.wake = threading.Event()
        """Set to make the batcher look at the buffer now."""
        self.cond = threading.Condition(threading.RLock())
        self.pending: deque[Batch] = deque()
        self.pending_events = 0
        self.batcher_busy = False
        self.flush_requested = False
        self.closing = threading.Event()
        self.abandoned = False
        """``close`` gave up waiting for the threads: whatever they still hold goes to disk."""
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.overflowing = False

    # -- what is waiting -----------------------------------------------------------------------

    def unsent(self) -> bool:
        """Whether anything written is not stored yet (in memory, in flight or spooled)."""
        wal_count = self.wal.count if self.wal is not None else 0
        return bool(
            self.buffer or self.pending or self.batcher_busy or self.spool.events or wal_count
        )

    def waiting(self) -> int:
        """Events not yet stored: in memory, pending, in the write-ahead segment and spooled."""
        wal_count = self.wal.count if self.wal is not None else 0
        return len(self.buffer) + self.pending_events + self.spool.events + wal_count

    # -- the batcher's hand-over ---------------------------------------------------------------

    def hand_over(self, batch: Batch) -> None:
        """Queue a cut batch for the inserter, or spool it (backlog full, or older ones spooled)."""
        with self.cond:
            if self.abandoned:
                self.spill_batch(batch)
            elif len(self.spool) or self.pending_events + batch.count > self.max_buffer:
                if not len(self.spool) and not self.overflowing:
                    self.overflowing = True
                    warn(
                        "ClickHouse sink buffer is full (%d events): spilling to %s",
                        self.max_buffer,
                        self.spool.directory,
                    )
                self.spill_batch(batch)
            else:
                self.pending.append(batch)
                self.pending_events += batch.count
            self.cond.notify_all()

    # -- the inserter's side (caller holds ``cond``) -------------------------------------------

    def next_batch(self) -> Batch | SpooledBatch | None:
        """The oldest batch waiting, in memory or in the spool (tokens order them)."""
        oldest_spooled = self.spool.oldest_token()
        if self.pending and (oldest_spooled is None or self.pending[0].token < oldest_spooled):
            return self.pending[0]
        spooled = self.spool.read_oldest()
        if spooled is None and self.pending:
            return self.pending[0]
        return spooled

    def done(self, batch: Batch | SpooledBatch, stored: int) -> None:
        """Count ``stored`` events of ``batch`` as inserted and forget the batch."""
        self.counts["inserted"] += stored
        if isinstance(batch, SpooledBatch):
            self.spool.remove(batch)
            self.counts["replayed"] += stored
        else:
            self.pending.popleft()
            self.pending_events -= batch.count
        if not len(self.spool):
            self.overflowing = False
        self.cond.notify_all()

    def discard_empty(self, batch: Batch | SpooledBatch) -> None:
        """Forget a batch with no events in it (and say so)."""
        with self.cond:
            if isinstance(batch, SpooledBatch):
                self.spool.remove(batch)
                path: object = batch.path
            else:
                self.pending.popleft()
                path = "memory"
            self.cond.notify_all()
        warn("ClickHouse sink removed an empty batch (%s): nothing to insert", path)

    def set_aside(self, token: str, lines: list[bytes], reason: str) -> None:
        """Keep refused lines in ``rejected/`` (or count them dropped if that fails), and warn."""
        count = len(lines)
        with self.cond:
            try:
                target = self.spool.keep_rejected(token, b"\n".join(lines))
            except OSError as error:
                self.counts["dropped"] += count
                self.cond.notify_all()
                warn("ClickHouse sink dropped %d bad lines (%s) and %s", count, reason, error)
                return
            self.counts["rejected"] += count
            self.cond.notify_all()
        warn("ClickHouse sink set aside %d bad lines (%s) in %s", count, reason, target)

    # -- spilling to disk (caller holds ``cond``) ----------------------------------------------

    def spill_batch(self, batch: Batch) -> None:
        """Write ``batch`` to the spool; count it dropped (and warn) if the disk refuses."""
        try:
            self.spool.put(batch.token, batch.data)
        except OSError as failure:
            self.counts["dropped"] += batch.count
            warn(
                "ClickHouse sink dropped %d events: cannot write the spool %s: %s",
                batch.count,
                self.spool.directory,
                failure,
            )
            return
        self.counts["spilled"] += batch.count

    def spill_pending(self) -> None:
        """Move every pending batch to the spool (ClickHouse is failing, or the sink closes)."""
        while self.pending:
            batch = self.pending.popleft()
            self.pending_events -= batch.count
            self.spill_batch(batch)
        self.cond.notify_all()

    def spill_events(self, events: list[Mapping[str, Any] | bytes]) -> None:
        """Spool events that never became a batch, in batches of ``batch_size``."""
        for start in range(0, len(events), self.batch_size):
            chunk = events[start : start + self.batch_size]
            data = b"\n".join(map(encode_event, chunk))
            self.spill_batch(Batch(new_trace_id(), data, len(chunk)))

    # -- durable mode --------------------------------------------------------------------------

    def seal_segment(self) -> None:
        """Turn the open write-ahead segment into a spooled batch (caller holds ``cond``)."""
        if self.wal is None:
            return
        try:
            sealed = self.wal.seal()
        except OSError as failure:
            warn(
                "ClickHouse sink cannot seal %s (%s): the next sink adopts it",
                self.spool.directory,
                failure,
            )
            return
        if sealed is not None:
            self.spool.add(*sealed)
            self.cond.notify_all()

    def sync_segment(self) -> None:
        """Force the open write-ahead segment to the disk (per its fsync policy)."""
        assert self.wal is not None
        try:
            self.wal.sync()
        except OSError as failure:
            warn("ClickHouse sink cannot fsync %s: %s", self.spool.directory, failure)
