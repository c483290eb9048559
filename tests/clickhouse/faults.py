"""Fault injection around the REAL chDB transport: the database stays real, calls fail on cue."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from moose_trace.store.clickhouse.transport import ClickHouseError, Transport
from moose_trace.store.clickhouse.url import ClickHouseURL


class FlakyTransport:
    """Delegate to a real transport, failing as told.

    ``down``: every call fails (ClickHouse unreachable). ``fail_inserts``: the next N inserts
    fail. ``commit_then_fail``: the next N inserts are stored and then reported as failed (a
    timeout after the server committed). ``reject_inserts``: the next N inserts fail as bad data.
    ``succeed_only``: after that many successful inserts, every insert fails.
    ``refuse_marker``: an insert holding a line with these bytes is refused with error code
    ``refuse_code`` (53, TYPE_MISMATCH: what a server says of a value its column cannot take).
    ``execute_fails_with``: the next statement raises this (once): a bug, not a ClickHouse error.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.down = False
        self.fail_inserts = 0
        self.commit_then_fail = 0
        self.reject_inserts = 0
        self.succeed_only: int | None = None
        self.refuse_marker: bytes | None = None
        self.refuse_code = 53
        self.execute_fails_with: BaseException | None = None
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
        failure, self.execute_fails_with = self.execute_fails_with, None
        if failure is not None:
            raise failure
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
            if self.refuse_marker is not None and self.refuse_marker in data:
                raise ClickHouseError(
                    f"Code: {self.refuse_code}. DB::Exception: injected refusal",
                    code=self.refuse_code,
                )
            self.inner.insert(table, data, fmt=fmt, columns=columns, dedup_token=dedup_token)
            self.inserted_batches.append(data.count(b"\n") + 1)
            if self.commit_then_fail:
                self.commit_then_fail -= 1
                raise ClickHouseError("ClickHouse insert failed: injected timeout after commit")

    def close(self) -> None:
        self.inner.close()
