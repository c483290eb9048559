"""DuckDB with the files' events kept in a table: many queries over growing files, each fast.

``moose-trace logs`` reads the files once per command; ``moose-trace serve`` answers query after
query over the same files while they grow. ``CachedDuckDBEngine`` loads the normalized events
once — through ``DuckDBDialect``'s own relation, so the table holds exactly what a direct query
sees — with each event's time and numbers parsed once, then appends only what the files gained:
every query looks at the files' sizes and loads their new complete lines (a line still being
written waits). The table is never stale: a question is answered after what the files gained
is loaded. A file that shrank or was replaced is loaded again on its own, and a deleted file's
rows are dropped, without touching the others.

Each load's rows also carry its *batch* number. A question reads the batches published when
it was asked (``_batch <= N``), so it sees a consistent table while a load runs beside it,
and a kept answer is brought up to date from the batches appended since
(``moose_trace.query.cache_answers``): an appended line costs a question the new rows only.

The same ``SqlCompiler`` answers the queries; only the relation differs (the table instead of
``read_json``). ``covers(query)`` says whether the table holds every field a query reads; a
query about another field, or a listing of every event, goes to ``DuckDBEngine`` over the files.

This module answers; the table's layout and SQL are ``moose_trace.query.cached_table``'s, its
loads ``moose_trace.query.cache_loader``'s (over ``moose_trace.query.growing_files``).

Speed (docs/benchmarks/console.md):

- The first load costs about as much as one full normalizing scan of the files. ``warm()``
  runs it ahead of the first question (``moose-trace serve`` starts it at start-up, in a
  thread), in chunks of about ``LOAD_CHUNK_BYTES``, the chunks holding the newest events
  first. Until it is done, ``ready`` is false and a question about large logs is answered
  within ``PARTIAL_AFTER_SECONDS`` from the chunks loaded so far (``progress()`` says how
  far): the latest events come first. Small logs (``SMALL_LOAD_BYTES``) load before answering.
- The latest page of events reads the narrow time column first, then the raw lines of only
  the rows at or after the page's oldest time: DuckDB's min/max per row group skips nearly
  all of the table.
- An answer is kept (``MEMO_ANSWERS`` of them) and brought up to date from the new batches.

The table lives in a temporary DuckDB file (about the size of the logs), removed by ``close``;
one left by a killed console is removed by the next (``moose_trace.query.cache_dirs``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from moose_trace.query.ast import ListEvents, Query
from moose_trace.query.cache_answers import TIME_COLUMN, Batches, KeptAnswer, keep_answer
from moose_trace.query.cache_loader import CacheLoader
from moose_trace.query.cached_table import CACHED_FIELDS, NUMBER_FIELDS, CachedDialect
from moose_trace.query.duckdb_engine import DEFAULT_MEMORY_LIMIT
from moose_trace.query.exceptions import EngineError
from moose_trace.query.results import Result
from moose_trace.query.sql import SqlCompiler, condition_fields

__all__ = [
    "CACHED_FIELDS",
    "LOAD_CHUNK_BYTES",
    "MEMO_ANSWERS",
    "NUMBER_FIELDS",
    "PARTIAL_AFTER_SECONDS",
    "SMALL_LOAD_BYTES",
    "CachedDialect",
    "CachedDuckDBEngine",
]

MEMO_ANSWERS = 64
"""Answers kept and brought up to date (the most recently asked)."""

LOAD_CHUNK_BYTES = 8 * 1024 * 1024
"""About how much of a file the first load reads per step (a question answers between steps)."""

SMALL_LOAD_BYTES = 64 * 1024 * 1024
"""Logs up to this size load before a question is answered (a few seconds at most)."""

PARTIAL_AFTER_SECONDS = 1.0
"""How long a question about larger logs waits for their first load before it is answered
from what is loaded so far (a partial answer)."""

_KEPT_VALUES = 16_000_000  # kept answers hold at most about this many values (~128 MB)

Row = tuple[Any, ...]


class CachedDuckDBEngine:
    """Answers queries over JSON Lines files from a DuckDB table kept up to date with them.

    ``files()`` is called before each query: the files to serve now (new ones are loaded).
    Thread-safe: questions take turns; a first load runs beside them. ``threads``: DuckDB
    threads for the first load (default: DuckDB's, every core).
    """

    def __init__(
        self,
        files: Sequence[Path] | None = None,
        *,
        discover: Callable[[], Sequence[Path]] | None = None,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int | None = None,
    ) -> None:
        self._static = list(files or [])
        self._discover = discover
        self._loader = CacheLoader(memory_limit)
        self._reader = self._loader.reader()  # questions read beside a load
        self._warm_threads = threads
        self._write_lock = threading.Lock()  # loads, deletions and the files' bookkeeping
        self._answer_lock = threading.Lock()  # one question at a time, and the kept answers
        self._ready = threading.Event()
        self._loading = False
        self._kept: OrderedDict[str, KeptAnswer] = OrderedDict()
        self._kept_epoch = 0
        self._updates = 0
        self._thread = threading.local()  # each thread's last answer: partial or not
        self._compiler = SqlCompiler(CachedDialect())

    def files(self) -> list[Path]:
        """Return the files served now."""
        return list(self._discover()) if self._discover is not None else self._static

    @property
    def ready(self) -> bool:
        """Whether the first load is done (until then answers hold the chunks loaded so far)."""
        return self._ready.is_set()

    @property
    def loading(self) -> bool:
        """Whether a first load is under way."""
        return self._loading

    @property
    def updated_answers(self) -> int:
        """How many answers were brought up to date from appended rows instead of computed
        again (a diagnostic: the console's speed over growing files rests on it)."""
        return self._updates

    def progress(self) -> tuple[int, int]:
        """Return ``(bytes loaded, bytes to load)`` of the first load (equal once done)."""
        return self._loader.loaded_bytes, self._loader.load_bytes

    def warm(self) -> None:
        """Load what the files hold now: the first load, ahead of the first question.

        Blocks until done (returns at once when a load is under way in another thread); a
        question asked meanwhile is answered from the chunks loaded so far. A failure is
        raised here and again by the next question.
        """
        if self._begin_load():
            self._load_all()

    def warm_in_background(self, then: Callable[[Exception | None], None]) -> None:
        """Start the first load in a thread (questions from now on answer from it) and call
        ``then`` with its failure, or ``None``, when it ends. Nothing when one is under way."""
        if not self._begin_load():
            return

        def load() -> None:
            failure: Exception | None = None
            try:
                self._load_all()
            except Exception as error:  # the next question meets it again and reports it
                failure = error
            then(failure)

        threading.Thread(target=load, name="moose-trace-cache", daemon=True).start()

    def _load_all(self) -> None:
        """The first load, chunk by chunk; a question takes its turn between two chunks."""
        loader = self._loader
        try:
            with loader.bulk_load(self._warm_threads):
                for chunk in loader.first_chunks(self.files(), LOAD_CHUNK_BYTES):
                    with self._write_lock:
                        loader.load_chunk(chunk)
                with self._write_lock:
                    loader.refresh(self.files())  # what the files gained during the load
                    self._ready.set()
            with self._write_lock:
                loader.checkpoint()
        finally:
            self._loading = False

    def _begin_load(self) -> bool:
        """Start the first load: ``False`` when it is done or under way in another thread."""
        with self._write_lock:
            if self._ready.is_set() or self._loading:
                return False
            self._loader.prepare_first_load()
            self._loading = True  # questions now read the table: it exists
            return True

    def refresh(self) -> None:
        """Load what the files gained since the last question (a background refresher calls
        this, so that a question seldom pays for the load)."""
        if not self._ready.is_set():
            return
        with self._answer_lock, self._write_lock:
            self._loader.refresh(self.files())

    @staticmethod
    def covers(query: Query) -> bool:
        """Return whether the table can answer ``query`` (else read the files directly)."""
        mode = query.mode
        if isinstance(mode, ListEvents) and mode.limit is None:
            return False  # a listing of every event streams from the files, unbounded
        fields = set(condition_fields(query.where))
        for name in ("fields", "by"):
            fields.update(getattr(mode, name, ()))
        return fields <= set(CACHED_FIELDS)

    def run(self, query: Query) -> Result:
        """Answer ``query`` from the table, after loading what the files gained (during the
        first load: from the chunks loaded so far)."""
        plan = self._compiler.plan(query)
        self._await_load()
        if not self._ready.is_set() and not self._loading:
            self.warm()  # no load under way (or it failed): load now, and report a failure
        loader = self._loader
        with self._answer_lock:
            if self._ready.is_set():
                with self._write_lock:
                    loader.refresh(self.files())
                    batch, epoch = loader.batch, loader.epoch
            else:  # the published batches, without waiting for the chunk being loaded
                batch, epoch = loader.batch, loader.epoch
            partial = not self._ready.is_set()
            rows = self._answer(query, plan.sql, batch, epoch)
        self._thread.partial = partial
        return plan.finish(iter(rows))

    def answered_partial(self) -> bool:
        """Whether the calling thread's last answer came from a first load under way (it holds
        the chunks loaded then, not every line)."""
        return bool(getattr(self._thread, "partial", False))

    def _await_load(self) -> None:
        """Wait for a first load under way in another thread: until it ends when the logs are
        small (up to ``SMALL_LOAD_BYTES``: a question about them never gets a partial answer),
        else for ``PARTIAL_AFTER_SECONDS`` at most (then the answer holds what is loaded)."""
        deadline = time.monotonic() + PARTIAL_AFTER_SECONDS
        while self._loading and not self._ready.is_set():
            small = 0 < self._loader.load_bytes <= SMALL_LOAD_BYTES
            if not small and time.monotonic() >= deadline:
                return
            self._ready.wait(0.02)

    def close(self) -> None:
        """Drop the table and its temporary file (a load under way is interrupted: Ctrl-C
        during the first load must not wait for it)."""
        self._loader.interrupt()
        with self._answer_lock, self._write_lock:
            with contextlib.suppress(duckdb.Error):
                self._reader.close()
            self._loader.close()

    def sql(self, query: Query) -> str:
        """Return the statement that answers ``query`` from the table (for tests)."""
        return self._compiler.plan(query).sql

    def _answer(self, query: Query, key: str, batch: int, epoch: int) -> list[Row]:
        """Return the plan's rows for ``query`` over the batches up to ``batch``: the kept
        answer brought up to date, else computed and kept."""
        if self._kept_epoch != epoch:
            self._kept.clear()
            self._kept_epoch = epoch

        def execute(sql: str) -> list[Row]:
            return self._reader.execute(sql).fetchall()

        batches = Batches(lambda low, high: SqlCompiler(CachedDialect(low, high)), execute)
        try:
            kept = self._kept.pop(key, None)
            if kept is not None and kept.batch < batch and kept.advance(batches, batch):
                self._updates += 1
            elif kept is None or kept.batch != batch:
                kept = keep_answer(
                    query, batch, batches, lambda: self._latest(query, batch, execute)
                )
            if kept.size() <= _KEPT_VALUES // 2:
                self._kept[key] = kept
                self._trim_kept()
            return kept.rows()
        except duckdb.Error as failure:
            raise EngineError(f"DuckDB could not answer from its cache: {failure}") from None

    def _trim_kept(self) -> None:
        total = sum(kept.size() for kept in self._kept.values())
        while self._kept and (len(self._kept) > MEMO_ANSWERS or total > _KEPT_VALUES):
            _key, dropped = self._kept.popitem(last=False)
            total -= dropped.size()

    def _latest(
        self, query: Query, batch: int, execute: Callable[[str], list[Row]]
    ) -> tuple[list[Row], list[tuple[int, str]] | None]:
        """The latest ``limit`` events as the plan's one row — ``[raw texts newest first]``
        and the bad lines' count — and the page's ``(time, raw)`` pairs.

        Two steps: the ``limit`` latest times over the narrow time column give the cut; then
        only rows at or after it are read whole (a constant bound, so row groups that end
        before it are skipped). Ties at the cut are all read and ordered as the plan orders
        them (time, then raw text, newest first). Fewer timed events than ``limit``: the
        plan's own statement (it orders the untimed ones last), and no pairs.
        """
        mode = query.mode
        assert isinstance(mode, ListEvents)
        limit = mode.limit or 0
        compiler = SqlCompiler(CachedDialect(through=batch))
        relation = compiler.dialect.relation((), raw=True)
        where = compiler.where(query.where)
        times = execute(
            f"SELECT {TIME_COLUMN} FROM {relation} WHERE {TIME_COLUMN} IS NOT NULL AND ({where}) "
            f"ORDER BY {TIME_COLUMN} DESC LIMIT {limit}"
        )
        if len(times) < limit or limit == 0:
            return execute(compiler.plan(query).sql), None
        cut = int(times[-1][0])
        rows = execute(
            f"SELECT {TIME_COLUMN}, _raw FROM {relation} WHERE {TIME_COLUMN} >= {cut} AND ({where})"
        )
        rows.sort(reverse=True)
        page = [(int(time), str(raw)) for time, raw in rows[:limit]]
        bad = execute(f"SELECT count(*) FROM {relation} WHERE _bad")
        return [([raw for _time, raw in page], bad[0][0])], page
