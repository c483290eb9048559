"""The sink's inserter thread: store batches oldest first, ride out outages through the spool.

Each batch goes in with a deduplication token that stays the same across retries and restarts,
so a batch that arrives twice is stored once. When ClickHouse is down or slow the inserter moves
the batch and everything pending to the spool, retries with exponential backoff (jittered), and
replays the spool in order when ClickHouse is back. A refusal (bad rows) is narrowed down to the
lines at fault by ``refusals.store_batch``; they are set aside, the rest is stored. The table is
created (from the schema's DDL) before the first insert, retried like an insert while the server
is away.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from moose_trace._text import safe_str
from moose_trace.store.clickhouse.backlog import Backlog, Batch
from moose_trace.store.clickhouse.diagnostics import warn
from moose_trace.store.clickhouse.refusals import store_batch
from moose_trace.store.clickhouse.spool import SpooledBatch
from moose_trace.store.clickhouse.transport import ClickHouseError, Transport

__all__ = ["Inserter"]


class Inserter:
    """Sends the backlog's batches to one ClickHouse table until the sink closes."""

    def __init__(
        self,
        backlog: Backlog,
        transport: Transport,
        *,
        table: str,
        ddl: Sequence[str],
        retry_initial: float,
        retry_max: float,
        batcher: threading.Thread,
    ) -> None:
        self._backlog = backlog
        self._transport = transport
        self._table = table
        self._ddl = ddl
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._batcher = batcher  # the inserter stops once it has stopped and nothing is left

    def run(self) -> None:
        """The thread's loop; returns when the sink closes (or gives up waiting for it)."""
        backlog = self._backlog
        backoff = self._retry_initial
        outage = False
        attempts: dict[str, int] = {}  # failures with an unknown error code, by batch token
        table_ready = self._create_table()
        while True:
            with backlog.cond:
                while not backlog.pending and not len(backlog.spool):
                    if backlog.closing.is_set() and not self._batcher.is_alive():
                        return
                    backlog.cond.wait(0.1)
                if backlog.abandoned:
                    return
                batch = backlog.next_batch()
            if batch is None:
                continue
            if not batch.count:
                backlog.discard_empty(batch)
                continue
            try:
                if not table_ready:
                    table_ready = self._create_table(raise_errors=True)
                stored = self._store(batch, attempts)
            except ClickHouseError as failure:
                if not failure.transient and not failure.permanent:
                    attempts[batch.token] = attempts.get(batch.token, 0) + 1
                with backlog.cond:
                    if backlog.abandoned:
                        return
                    backlog.counts["retried"] += 1
                    backlog.spill_pending()
                if not outage:
                    outage = True
                    warn(
                        "%s; spooling to %s, retrying with backoff",
                        failure,
                        backlog.spool.directory,
                    )
                if backlog.closing.wait(backoff * random.uniform(0.8, 1.2)):
                    return
                backoff = min(backoff * 2, self._retry_max)
                continue
            with backlog.cond:
                if backlog.abandoned:
                    return
                attempts.pop(batch.token, None)
                backlog.done(batch, stored)
                recovered = outage and not len(backlog.spool)
            backoff = self._retry_initial
            if recovered:
                outage = False
                warn(
                    "ClickHouse at %s is back: the spool is replayed (%d events so far)",
                    self._transport.url,
                    backlog.counts["replayed"],
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

    def _store(self, batch: Batch | SpooledBatch, attempts: dict[str, int]) -> int:
        """Insert a batch; on a refusal, store what can be stored and set the rest aside."""
        return store_batch(
            batch.data,
            batch.token,
            spooled=isinstance(batch, SpooledBatch),
            failed_before=attempts.get(batch.token, 0),
            insert=self._insert,
            set_aside=self._backlog.set_aside,
        )

    def _insert(self, data: bytes, token: str) -> None:
        try:
            self._transport.insert(
                self._table, data, fmt="JSONAsString", columns=("raw",), dedup_token=token
            )
        except ClickHouseError:
            raise
        except Exception as failure:  # a transport's own bug or an odd library error: retried
            raise ClickHouseError(
                f"ClickHouse insert failed at {self._transport.url}: "
                f"{type(failure).__name__}: {safe_str(failure)}"
            ) from failure
