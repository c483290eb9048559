"""Answers of the cached table kept up to date from the rows appended since (no full recompute).

``moose-trace serve`` is asked the same questions again and again while the logs grow by a few
lines. The cached table (``moose_trace.query.duckdb_cache``) numbers each load's rows (its
*batch*), so that the rows appended since an answer are one cheap query away. A kept answer
is brought up to date by running **the same compiled statement** (``SqlCompiler`` over the
new batches only) and merging its rows into the kept ones — the merge never interprets the
query, only adds the parts of an answer that add up:

- counts per group or per time bucket (``GroupBy``, ``Histogram``): added;
- the latest page of events (``ListEvents(limit)``): the kept page and the new rows' latest,
  ordered as the engine orders them (time, then raw text, newest first), cut to ``limit``;
- error groups: counts added, first/last seen as min/max, and the latest example (category,
  layer, type, message, trace) taken from the new rows when they are all newer than the kept
  group's last — else the answer is computed again (a late line could hold an older example);
- stats (count, errors, average and exact p50/p95/p99 of ``latency_ms``, per group and
  overall): from each group's latencies kept sorted (``SortedLatencies``), the new ones
  inserted in place, so the percentiles stay exact: the same interpolated quantile as
  DuckDB's ``quantile_cont`` (the ADR's ``PERCENTILE_CONT``) over the same values. The average
  is the kept sum over the count, equal to DuckDB's ``avg`` up to float rounding (~1e-15
  relative).

Any other question (a comparison of windows, a page of untimed events) is computed again.
Deleting rows (a rotated or truncated file) starts every answer over.
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from moose_trace.query.ast import ErrorGroups, GroupBy, Histogram, ListEvents, Query, Stats
from moose_trace.query.sql import SqlCompiler
from moose_trace.query.sql_answers import stats_source

__all__ = [
    "TIME_COLUMN",
    "Batches",
    "KeptAnswer",
    "SortedLatencies",
    "interpolated_quantile",
    "keep_answer",
]

TIME_COLUMN = "_ts_us"
"""The table's column of each event's parsed time (NULL for a bad line or an untimed event)."""

Row = tuple[Any, ...]
Execute = Callable[[str], list[Row]]

_STATS_FRACTIONS = (0.5, 0.95, 0.99)
_INSERT_ONE_BY_ONE = 256  # more new latencies than this in one group: merged by one sort


class Batches:
    """What an answer reads: the compiler over the rows of some batches, and a way to run SQL.

    ``compiler(low, high)`` compiles over the rows with ``low < batch <= high``."""

    def __init__(self, compiler: Callable[[int, int], SqlCompiler], execute: Execute) -> None:
        self.compiler = compiler
        self.execute = execute

    def rows(self, query: Query, low: int, high: int) -> list[Row]:
        """Run ``query``'s own statement over the batches ``(low, high]``."""
        return self.execute(self.compiler(low, high).plan(query).sql)


class KeptAnswer(ABC):
    """One question's answer as of a batch, in the rows its plan reads."""

    def __init__(self, query: Query, batch: int) -> None:
        self.query = query
        self.batch = batch

    @abstractmethod
    def rows(self) -> list[Row]:
        """Return the rows the query's plan turns into its result."""

    @abstractmethod
    def size(self) -> int:
        """Return about how many values this answer holds (memory it keeps)."""

    def advance(self, batches: Batches, batch: int) -> bool:
        """Bring the answer up to ``batch`` from the rows appended since; ``False`` when it
        cannot be merged (the caller computes it again)."""
        if batch == self.batch:
            return True
        if not self._merge(batches, self.batch, batch):
            return False
        self.batch = batch
        return True

    @abstractmethod
    def _merge(self, batches: Batches, low: int, high: int) -> bool:
        """Merge in the rows of batches ``(low, high]``."""


class _Recomputed(KeptAnswer):
    """An answer that does not add up: kept while the table is unchanged only."""

    def __init__(self, query: Query, batch: int, rows: list[Row]) -> None:
        super().__init__(query, batch)
        self._rows = rows

    def rows(self) -> list[Row]:
        return self._rows

    def size(self) -> int:
        return len(self._rows)

    def _merge(self, batches: Batches, low: int, high: int) -> bool:
        return False


class _Counts(KeptAnswer):
    """Rows ``(key…, count)``: ``GroupBy``'s and ``Histogram``'s (the ``_bad`` flag is part
    of the key). New rows' counts are added to the kept ones."""

    def __init__(self, query: Query, batch: int, rows: list[Row]) -> None:
        super().__init__(query, batch)
        self._counts: dict[Row, int] = {}
        self._add(rows)

    def _add(self, rows: list[Row]) -> None:
        for row in rows:
            key = tuple(row[:-1])
            self._counts[key] = self._counts.get(key, 0) + int(row[-1])

    def rows(self) -> list[Row]:
        return [(*key, count) for key, count in self._counts.items()]

    def size(self) -> int:
        return len(self._counts)

    def _merge(self, batches: Batches, low: int, high: int) -> bool:
        self._add(batches.rows(self.query, low, high))
        return True


class _LatestEvents(KeptAnswer):
    """The latest ``limit`` events as ``(time, raw)`` pairs, newest first, and the bad lines'
    count. Mergeable while the page is full of timed events (untimed ones sort last, so no
    new untimed line can enter it)."""

    def __init__(
        self, query: Query, batch: int, latest: list[tuple[int, str]] | None, bad: int,
        rows: list[Row],
    ) -> None:  # fmt: skip
        super().__init__(query, batch)
        self._latest = latest
        self._bad = bad
        self._rows = rows

    def rows(self) -> list[Row]:
        if self._latest is None:
            return self._rows
        return [([raw for _time, raw in self._latest], self._bad)]

    def size(self) -> int:
        return len(self._latest or self._rows)

    def _merge(self, batches: Batches, low: int, high: int) -> bool:
        if self._latest is None:
            return False
        compiler = batches.compiler(low, high)
        relation = compiler.dialect.relation((), raw=True)
        where = compiler.where(self.query.where)
        fresh = batches.execute(
            f"SELECT {TIME_COLUMN}, _raw FROM {relation} "
            f"WHERE {TIME_COLUMN} IS NOT NULL AND ({where})"
        )
        bad = batches.execute(f"SELECT count(*) FROM {relation} WHERE _bad")
        merged = [*self._latest, *((int(time), str(raw)) for time, raw in fresh)]
        merged.sort(reverse=True)
        self._latest = merged[: len(self._latest)]
        self._bad += int(bad[0][0])
        return True


class _ErrorGroups(KeptAnswer):
    """Rows ``(signature, bad, count, first, last, category, layer, type, example, trace)``."""

    def __init__(self, query: Query, batch: int, rows: list[Row]) -> None:
        super().__init__(query, batch)
        self._groups = {(row[0], row[1]): list(row) for row in rows}

    def rows(self) -> list[Row]:
        return [tuple(row) for row in self._groups.values()]

    def size(self) -> int:
        return len(self._groups)

    def _merge(self, batches: Batches, low: int, high: int) -> bool:
        merged = {key: list(row) for key, row in self._groups.items()}
        for row in batches.rows(self.query, low, high):
            kept = merged.get((row[0], row[1]))
            if kept is None:
                merged[(row[0], row[1])] = list(row)
                continue
            first, last = row[3], row[4]
            if first is not None and kept[4] is not None and first <= kept[4]:
                return False  # an older example may be among the new rows: ask again
            kept[2] += row[2]
            kept[3] = _least(kept[3], first)
            kept[4] = _greatest(kept[4], last)
            for index in range(5, 10):
                if row[index] is not None:
                    kept[index] = row[index]
        self._groups = merged
        return True


def _least(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def interpolated_quantile(ordered: Sequence[float], fraction: float) -> float | None:
    """Return the ``fraction`` quantile of ascending ``ordered``, linearly interpolated
    between the two nearest ranks — DuckDB's ``quantile_cont``, SQL's ``PERCENTILE_CONT``."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    below, above = math.floor(position), math.ceil(position)
    low = ordered[below]
    if below == above:
        return low
    return low + (ordered[above] - low) * (position - below)


class SortedLatencies:
    """One group's stats kept exactly: counts, the latencies' sum and the latencies sorted."""

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.total = 0.0
        self.latencies = array("d")

    def add(self, count: int, errors: int, total: float | None, latencies: Sequence[float]) -> None:
        """Add a batch's counts and (any order) latencies."""
        self.count += count
        self.errors += errors
        self.total += total or 0.0
        if len(latencies) > _INSERT_ONE_BY_ONE:
            self.latencies = array("d", sorted([*self.latencies, *latencies]))
            return
        for latency in latencies:
            bisect.insort(self.latencies, latency)

    def row(self) -> tuple[int, int, int, float | None, float | None, float | None, float | None]:
        """Return ``(count, errors, latencies, avg, p50, p95, p99)`` as the plan reads them."""
        measured = len(self.latencies)
        average = self.total / measured if measured else None
        p50, p95, p99 = (interpolated_quantile(self.latencies, q) for q in _STATS_FRACTIONS)
        return self.count, self.errors, measured, average, p50, p95, p99


class _Stats(KeptAnswer):
    """``Stats``: each group's ``SortedLatencies`` and the overall ones, and the bad lines."""

    def __init__(self, query: Query, batch: int, batches: Batches) -> None:
        super().__init__(query, batch)
        mode = query.mode
        assert isinstance(mode, Stats)
        self._mode = mode
        self._groups: dict[tuple[str | None, ...], SortedLatencies] = {}
        self._total = SortedLatencies()
        self._bad = 0
        self.exact = True  # False: a latency is not a finite number (DuckDB's own rules apply)
        self._merge(batches, 0, batch)

    def _state_sql(self, compiler: SqlCompiler) -> str:
        names = [f"_k{index}" for index in range(len(self._mode.by))]
        good = "NOT _bad"
        measures = (
            f"count(*) FILTER (WHERE {good}), count(*) FILTER (WHERE {good} AND _err), "
            f"sum(_lat) FILTER (WHERE {good}), "
            f"list(_lat) FILTER (WHERE {good} AND _lat IS NOT NULL), "
            "count(*) FILTER (WHERE _bad)"
        )
        group_by = f" GROUP BY {', '.join(names)}" if names else ""
        source = stats_source(compiler, self.query, self._mode.by)
        return f"WITH _m AS ({source}) SELECT {', '.join([*names, measures])} FROM _m{group_by}"

    def _merge(self, batches: Batches, low: int, high: int) -> bool:
        width = len(self._mode.by)
        rows = batches.execute(self._state_sql(batches.compiler(low, high)))
        for row in rows:
            key = tuple(None if part is None else str(part) for part in row[:width])
            count, errors, total, latencies, bad = row[width:]
            self._bad += int(bad)
            if not count:
                continue
            latencies = latencies or []
            if not all(math.isfinite(latency) for latency in latencies):
                self.exact = False
                return False
            self._groups.setdefault(key, SortedLatencies()).add(
                int(count), int(errors), total, latencies
            )
            self._total.add(int(count), int(errors), total, latencies)
        return True

    def rows(self) -> list[Row]:
        width = len(self._mode.by)
        ordered = sorted(
            self._groups.items(),
            key=lambda item: (
                -item[1].count,
                *((part is None, part or "") for part in item[0]),
            ),
        )
        rows: list[Row] = [(1, *([None] * width), *self._total.row(), self._bad)]
        rows += [(0, *key, *stats.row(), 0) for key, stats in ordered[: self._mode.limit + 1]]
        return rows

    def size(self) -> int:
        return 2 * len(self._total.latencies) + len(self._groups)


def keep_answer(
    query: Query, batch: int, batches: Batches, latest: Callable[[], tuple[list[Row], Any]]
) -> KeptAnswer:
    """Compute ``query`` over the batches up to ``batch`` in the form that can be brought up
    to date. ``latest()`` answers a ``ListEvents(limit)`` (rows, and the ``(time, raw)``
    page when it is full of timed events, else ``None``)."""
    mode = query.mode
    if isinstance(mode, Stats):
        stats = _Stats(query, batch, batches)
        if stats.exact:
            return stats
        return _Recomputed(query, batch, batches.rows(query, 0, batch))
    if isinstance(mode, ListEvents) and mode.limit is not None:
        rows, page = latest()
        bad = int(rows[0][1]) if page is not None else 0
        return _LatestEvents(query, batch, page, bad, rows)
    if isinstance(mode, (GroupBy, Histogram)):
        return _Counts(query, batch, batches.rows(query, 0, batch))
    if isinstance(mode, ErrorGroups):
        return _ErrorGroups(query, batch, batches.rows(query, 0, batch))
    return _Recomputed(query, batch, batches.rows(query, 0, batch))
