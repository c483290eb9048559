"""The sink's batcher thread: cut the buffer into batches, off the caller's thread.

It cuts when ``batch_size`` events are waiting, when ``flush_interval`` has passed (ClickHouse
wants thousands of rows per insert and about one insert a second), on ``flush()`` and on close,
or soon after an error-level event — at most one early batch per ``error_flush_interval``, so an
error storm does not become a storm of tiny inserts. Each batch is serialized to JSON Lines
(lines handed over as JSON are checked here, so a bad one is set aside alone) and handed to the
backlog, which queues it for the inserter or spools it. In durable mode the batches are the
write-ahead segments: the batcher seals them, and syncs the open one once per interval.
"""

from __future__ import annotations

import time

from moose_trace.store.clickhouse.backlog import Backlog, Batch
from moose_trace.store.clickhouse.lines import encode_event, is_event_line
from moose_trace.tracing.ids import new_trace_id

__all__ = ["Batcher"]


class Batcher:
    """Cuts the backlog's buffer into batches on size, time, urgency, flush and close."""

    def __init__(
        self, backlog: Backlog, *, flush_interval: float, error_flush_interval: float
    ) -> None:
        self._backlog = backlog
        self._flush_interval = flush_interval
        self._error_flush_interval = error_flush_interval

    def run(self) -> None:
        """The thread's loop; returns once the sink closes and the buffer is empty."""
        backlog = self._backlog
        last_cut = last_sync = time.monotonic()
        last_early = 0.0
        while True:
            wait = self._flush_interval - (time.monotonic() - last_cut)
            if backlog.urgent:
                wait = min(wait, self._error_flush_interval - (time.monotonic() - last_early))
            backlog.wake.wait(max(wait, 0.0))
            backlog.wake.clear()
            now = time.monotonic()
            closing = backlog.closing.is_set()
            count = len(backlog.buffer)
            due = closing or backlog.flush_requested or now - last_cut >= self._flush_interval
            if not due and backlog.urgent and now - last_early >= self._error_flush_interval:
                due, last_early = True, now
            if backlog.wal is not None:
                count = backlog.wal.count
            if count >= backlog.batch_size or (due and count):
                backlog.urgent = False
                backlog.flush_requested = False
                with backlog.cond:
                    backlog.batcher_busy = True
                try:
                    if backlog.wal is not None:
                        with backlog.cond:
                            backlog.seal_segment()
                    else:
                        self._cut(everything=due)
                finally:
                    with backlog.cond:
                        backlog.batcher_busy = False
                        backlog.cond.notify_all()
                last_cut = now if due else last_cut
            elif due:
                backlog.flush_requested = False
                last_cut = now
                with backlog.cond:
                    backlog.cond.notify_all()
            if backlog.wal is not None and now - last_sync >= self._flush_interval:
                last_sync = now
                backlog.sync_segment()
            if closing and not backlog.buffer:
                return

    def _cut(self, *, everything: bool) -> None:
        backlog = self._backlog
        buffer = backlog.buffer
        batch_size = backlog.batch_size
        while len(buffer) >= batch_size or (everything and buffer):
            size = min(len(buffer), batch_size)
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
                backlog.set_aside(token, bad, "not one JSON object each")
                size = len(lines)
                if not size:
                    continue
            backlog.hand_over(Batch(token, b"\n".join(lines), size))
