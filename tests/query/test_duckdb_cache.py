"""The cached DuckDB table answers as DuckDB over the files does, and keeps up with them.

``moose-trace serve`` asks many questions of growing files: the cache must give the answer a
direct scan gives (the engines' agreement test's generated logs and queries), then see lines
appended after it loaded, not count a line still being written, and start over on rotation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cache_helpers import cached_engine, generated_logs
from hypothesis import given
from polling import wait_until
from test_duckdb_python_agree import comparable, conditions, lines, modes

from moose_trace.query import duckdb_cache
from moose_trace.query.ast import (
    AllOf,
    Condition,
    ErrorGroups,
    GroupBy,
    ListEvents,
    Match,
    Query,
    Stats,
    Value,
)
from moose_trace.query.duckdb_cache import CachedDuckDBEngine
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.exceptions import EngineError
from moose_trace.query.results import EventsResult, GroupsResult, StatsResult


@generated_logs(60)
@given(lines=lines, where=conditions, mode=modes)
def test_cache_and_direct_scan_agree(lines: list[bytes], where: Condition, mode: Any) -> None:
    query = Query(where, mode)
    if not CachedDuckDBEngine.covers(query):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "logs.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        expected = comparable(DuckDBEngine([path]).run(query))
        with cached_engine([path]) as cache:
            answer = comparable(cache.run(query))
    assert answer == expected, cache.sql(query)


def _line(text: str, level: str = "info", **fields: Any) -> bytes:
    event = {"timestamp": f"2026-01-09T10:00:{len(text) % 60:02d}Z", "level": level, "event": text}
    return orjson.dumps({**event, **fields}) + b"\n"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "app.jsonl"
    path.write_bytes(_line("a") + _line("bb", "error") + b"not json\n")
    return path


@pytest.fixture
def cache(log: Path) -> Iterator[CachedDuckDBEngine]:
    with cached_engine(discover=lambda: [log]) as engine:
        yield engine


def _events(cache: CachedDuckDBEngine) -> list[str]:
    result = cache.run(Query(AllOf(), ListEvents(100)))
    assert isinstance(result, EventsResult)
    return sorted(event["event"] for event in result.events)


def test_appended_lines_are_seen_and_an_unfinished_one_waits(
    cache: CachedDuckDBEngine, log: Path
) -> None:
    assert _events(cache) == ["a", "bb"]
    with log.open("ab") as out:
        out.write(_line("ccc") + b'{"level": "info", "event": "dd')
    assert _events(cache) == ["a", "bb", "ccc"]
    result = cache.run(Query(AllOf(), GroupBy(("level",))))
    assert isinstance(result, GroupsResult)
    assert result.skipped == 1  # "not json"; the unfinished line is not counted
    with log.open("ab") as out:
        out.write(b'dd"}\n')
    assert _events(cache) == ["a", "bb", "ccc", "dddd"]


def test_a_rotated_file_is_loaded_again(cache: CachedDuckDBEngine, log: Path) -> None:
    assert _events(cache) == ["a", "bb"]
    log.write_bytes(_line("fresh"))
    assert _events(cache) == ["fresh"]


def test_stats_and_errors_from_the_cache(cache: CachedDuckDBEngine, log: Path) -> None:
    with log.open("ab") as out:
        out.write(_line("x", latency_ms=10) + _line("y", latency_ms=30))
    stats = cache.run(Query(AllOf(), Stats(("level",))))
    assert isinstance(stats, StatsResult)
    assert stats.total.count == 4
    assert stats.total.errors == 1
    assert stats.total.latency_p50 == 20
    errors = cache.run(Query(Match("level", (Value("error"),)), ErrorGroups()))
    assert errors.groups[0].signature == "bb"  # type: ignore[union-attr]


def test_fields_outside_the_table_go_to_the_files() -> None:
    assert not CachedDuckDBEngine.covers(Query(Match("custom_field", (Value("x"),))))
    assert not CachedDuckDBEngine.covers(Query(AllOf(), ListEvents(None)))
    assert CachedDuckDBEngine.covers(Query(Match("service", (Value("x"),)), ListEvents(5)))


def test_a_deleted_file_leaves_and_the_others_stay(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(_line("a1") + _line("a2"))
    second.write_bytes(_line("b1"))
    with cached_engine(discover=lambda: sorted(tmp_path.glob("*.jsonl"))) as engine:
        assert _events(engine) == ["a1", "a2", "b1"]
        first.unlink()
        assert _events(engine) == ["b1"]
        first.write_bytes(_line("new"))  # a file of the same name is a new file
        with second.open("ab") as out:
            out.write(_line("b2"))
        assert _events(engine) == ["b1", "b2", "new"]


def test_warm_loads_ahead_and_an_unchanged_question_is_answered_again(log: Path) -> None:
    with cached_engine(discover=lambda: [log], threads=1) as engine:
        assert not engine.ready
        engine.warm()
        assert engine.ready
        query = Query(AllOf(), GroupBy(("level",)))
        first = engine.run(query)
        assert engine.run(query) == first  # kept while the table is unchanged
        with log.open("ab") as out:
            out.write(_line("late", "error"))
        after = engine.run(query)
        assert isinstance(after, GroupsResult)
        assert {group.key: group.count for group in after.groups} == {("info",): 1, ("error",): 2}


def test_empty_files_answer_nothing_then_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    path.write_bytes(b"")  # a service that has not logged yet
    with cached_engine(discover=lambda: [path]) as engine:
        assert _events(engine) == []
        path.write_bytes(_line("first"))
        assert _events(engine) == ["first"]


def test_plain_and_rust_files_in_one_table_answer_as_the_files(tmp_path: Path) -> None:
    """A file without Rust containers loads through the flat statement, one with them through
    the full one: the same table answers as DuckDB over the files."""
    plain, rust = tmp_path / "plain.jsonl", tmp_path / "rust.jsonl"
    plain.write_bytes(_line("p", service="api", type="api", name="ingest"))
    rust.write_bytes(
        orjson.dumps(
            {
                "timestamp": "2026-01-09T10:00:01Z",
                "level": "WARN",
                "fields": {"message": "r", "type": "olap_table", "latency_ms": 7},
                "span": {"name": "insert", "service": "sync"},
                "spans": [{"name": "outer", "trace_id": "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"}],
            }
        )
        + b"\n"
    )
    files = [plain, rust]
    with cached_engine(discover=lambda: files) as engine:
        for query in (
            Query(AllOf(), GroupBy(("service", "type", "name", "level", "trace_id"))),
            Query(AllOf(), Stats(("type",))),
            Query(AllOf(), ListEvents(10)),
        ):
            assert comparable(engine.run(query)) == comparable(DuckDBEngine(files).run(query))


def test_close_interrupts_a_first_load_under_way(tmp_path: Path) -> None:
    """Ctrl-C while a console loads large logs: closing stops the load instead of waiting."""
    path = tmp_path / "big.jsonl"
    line = _line("x" * 200, latency_ms=5)
    path.write_bytes(line * 300_000)
    engine = CachedDuckDBEngine([path])
    failures: list[Exception] = []

    def warm() -> None:
        try:
            engine.warm()
        except EngineError as failure:
            failures.append(failure)

    loading = threading.Thread(target=warm)
    loading.start()
    wait_until(lambda: engine.progress()[0], "the load did not begin", seconds=30, every=0.001)
    engine.close()
    loading.join(60)
    assert not loading.is_alive()
    assert not engine.ready
    assert failures  # the load stopped half-way, it did not finish
    assert "nterrupt" in str(failures[0])


def test_a_question_during_the_first_load_sees_the_newest_chunks_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load goes newest events first, chunk by chunk; a question about large logs
    asked meanwhile is answered from what is loaded: the latest events are there from the first
    chunk. (Small logs load before a question is answered: the test makes these count as large.)"""
    monkeypatch.setattr(duckdb_cache, "LOAD_CHUNK_BYTES", 2048)
    monkeypatch.setattr(duckdb_cache, "SMALL_LOAD_BYTES", 0)  # these logs count as large
    monkeypatch.setattr(duckdb_cache, "PARTIAL_AFTER_SECONDS", 0.0)
    old, new = tmp_path / "a-old.jsonl", tmp_path / "b-new.jsonl"
    old.write_bytes(b"".join(_stamped(9, index) for index in range(3000)))
    new.write_bytes(b"".join(_stamped(10, index) for index in range(3000)))
    engine = CachedDuckDBEngine(discover=lambda: [old, new], threads=1)
    done = threading.Event()
    latest = Query(AllOf(), ListEvents(5))
    counted = Query(AllOf(), GroupBy(("level",)))
    during: list[tuple[list[str], int]] = []
    try:
        engine.warm_in_background(lambda _failure: done.set())
        while engine.loading:
            page = engine.run(latest)
            groups = engine.run(counted)
            assert isinstance(page, EventsResult)
            assert isinstance(groups, GroupsResult)
            loaded, total = engine.progress()
            assert loaded <= total
            assert engine.answered_partial() or engine.ready
            during.append(
                ([event["event"] for event in page.events], sum(g.count for g in groups.groups))
            )
        assert done.wait(60)
        assert engine.ready
        final = engine.run(latest)
        assert isinstance(final, EventsResult)
        newest = [event["event"] for event in final.events]
        assert newest == [f"10:{index}" for index in range(2995, 3000)]
        assert during, "the load ended before a question could be asked during it"
        for events, count in during:
            assert count < 6000 or events == newest
            assert events in ([], newest)  # nothing older than the newest ever shows first
        assert engine.run(counted).groups[0].count == 6000  # type: ignore[union-attr]
    finally:
        engine.close()


def _stamped(hour: int, index: int) -> bytes:
    minute, second = divmod(index, 60)
    stamp = f"2026-01-09T{hour:02d}:{minute % 60:02d}:{second:02d}.{index:06d}Z"
    return orjson.dumps({"timestamp": stamp, "level": "info", "event": f"{hour}:{index}"}) + b"\n"


def test_a_killed_consoles_table_is_removed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL leaves the table's directory behind; the next console removes it — and never
    the directory of a console still running."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    script = (
        "import sys\n"
        "from moose_trace.query.duckdb_cache import CachedDuckDBEngine\n"
        "engine = CachedDuckDBEngine([])\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    killed = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert killed.stdout is not None
    assert killed.stdout.readline() == b"ready\n"
    (left,) = tmp_path.glob(f"moose-trace-cache-p{killed.pid}-*")
    assert left.is_dir()
    running = CachedDuckDBEngine([])  # this process's: alive
    unrelated = tmp_path / "moose-trace-cache-keepme"
    unrelated.mkdir()
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    assert left.is_dir()  # nothing removed it
    try:
        with cached_engine([]):  # a new console removes what a killed one left
            assert not left.exists()
            assert unrelated.is_dir()
            assert running.run(Query(AllOf(), ListEvents(1))).events == []  # type: ignore[union-attr]
    finally:
        running.close()


def test_a_question_about_small_logs_waits_for_their_load(log: Path) -> None:
    """Logs of a few MB load in moments: a question asked meanwhile gets the whole answer."""
    with log.open("ab") as out:
        out.write(b"".join(_line(f"line {index}") for index in range(5000)))
    with cached_engine(discover=lambda: [log], threads=1) as engine:
        engine.warm_in_background(lambda _failure: None)
        result = engine.run(Query(AllOf(), GroupBy(("level",))))
        assert not engine.answered_partial()
        assert isinstance(result, GroupsResult)
        assert sum(group.count for group in result.groups) == 5002
