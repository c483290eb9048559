"""Fault injection around the REAL chDB transport: the database stays real, calls fail on cue."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from moose_trace.clickhouse.transport import ClickHouseError, Transport
from moose_trace.clickhouse.url import ClickHouseURL


class FlakyTransport:
    """Delegate to a real transport, failing as told.

    ``down``: every call fails (ClickHouse unreachable). ``fail_inserts``: the next N inserts
    fail. ``commit_then_fail``: the next N inserts are stored and then reported as failed (a
    timeout after the server committed). ``reject_inserts``: the next N inserts fail as bad data.
    ``succeed_only``: after that many successful inserts, every insert fails.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.down = False
        self.fail_inserts = 0
        self.commit_then_fail = 0
        self.reject_inserts = 0
        self.succeed_only: int | None = None
        self.insert_calls = 0
        self.inserted_batches: list[int] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> ClickHouseURL:
        return self.inner.url

    def _check_up(self) -> None:
        if self.down:
            raise ClickHouseError(f"ClickHouse statement failed at {self.url}: injected outage")

    def execute(self, sql: str) -> None:
        self._check_up()
        self.inner.execute(sql)

    def query(self, sql: str) -> list[dict[str, Any]]:
        self._check_up()
        return self.inner.query(sql)

    def query_rows(self, sql: str) -> list[list[Any]]:
        self._check_up()
        return self.inner.query_rows(sql)

    def insert(
        self,
        table: str,
        data: bytes,
        *,
        fmt: str = "JSONEachRow",
        columns: Sequence[str] = (),
        dedup_token: str | None = None,
    ) -> None:
        with self._lock:
            self.insert_calls += 1
            self._check_up()
            if self.succeed_only is not None and len(self.inserted_batches) >= self.succeed_only:
                raise ClickHouseError("ClickHouse insert failed: injected outage")
            if self.fail_inserts:
                self.fail_inserts -= 1
                raise ClickHouseError("ClickHouse insert failed: injected failure")
            if self.reject_inserts:
                self.reject_inserts -= 1
                raise ClickHouseError("Code: 117. injected bad data", permanent=True)
            self.inner.insert(table, data, fmt=fmt, columns=columns, dedup_token=dedup_token)
            self.inserted_batches.append(data.count(b"\n") + 1)
            if self.commit_then_fail:
                self.commit_then_fail -= 1
                raise ClickHouseError("ClickHouse insert failed: injected timeout after commit")

    def close(self) -> None:
        self.inner.close()
