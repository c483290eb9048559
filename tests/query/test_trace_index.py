"""The trace index finds every line of a trace, stays right as files grow or are replaced."""

from __future__ import annotations

import gzip
import os
import random
import time
from pathlib import Path

import orjson
import pytest

from moose_trace.query import caseless_scan, trace_index
from moose_trace.query.ast import ListEvents, Query
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.language import parse_trace
from moose_trace.query.python_engine import PythonEngine
from moose_trace.query.results import EventsResult
from moose_trace.query.trace_index import INDEX_DIR_NAME, TraceIndexStats, candidate_lines


def _trace(rng: random.Random) -> str:
    digits = f"{rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _lines(rng: random.Random, traces: list[str], count: int, start: int = 0) -> bytes:
    out = []
    for index in range(start, start + count):
        trace = rng.choice(traces)
        mixed = "".join(char.upper() if index % 2 else char for index, char in enumerate(trace))
        spelled = rng.choice([trace, trace.upper(), trace.replace("-", ""), mixed])
        event: dict[str, object] = {
            "timestamp": f"2026-01-09T10:{index // 60 % 60:02d}:{index % 60:02d}Z",
            "level": "info",
            "n": index,
        }
        kind = rng.randrange(6)
        if kind == 0:
            event["trace_ids"] = rng.sample(traces, 3)
        elif kind == 1:
            event["span"] = {"name": "x", "trace_id": spelled}
        else:
            event["trace_id"] = spelled
        out.append(
            orjson.dumps(event, option=orjson.OPT_INDENT_2 if kind == 5 else 0).replace(b"\n", b" ")
        )
    return b"\n".join(out) + b"\n"


def _found(paths: list[Path], trace: str, stats: TraceIndexStats | None = None) -> list[int]:
    query = Query(parse_trace(trace), ListEvents())
    result = PythonEngine(lambda: candidate_lines(paths, query.where.trace_ids, stats)).run(query)  # type: ignore[union-attr]
    assert isinstance(result, EventsResult)
    return [int(str(event["n"])) for event in result.events]


def _scanned(paths: list[Path], trace: str) -> list[int]:
    result = DuckDBEngine(paths).run(Query(parse_trace(trace), ListEvents()))
    assert isinstance(result, EventsResult)
    return [int(str(event["n"])) for event in result.events]


def test_lookup_agrees_with_a_full_scan_and_reuses_the_index(tmp_path: Path) -> None:
    rng = random.Random(3)
    traces = [_trace(rng) for _ in range(30)]
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(_lines(rng, traces, 400))
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(_lines(rng, traces, 300, start=400)))
    files = [plain, packed]
    first = TraceIndexStats()
    for trace in traces:
        assert _found(files, trace, first) == _scanned(files, trace)
    assert first.built == 2
    assert (tmp_path / INDEX_DIR_NAME / "a.jsonl.idx").is_file()
    again = TraceIndexStats()
    assert _found(files, traces[0], again) == _scanned(files, traces[0])
    assert again.built == 0
    assert again.indexed_files == 2
    assert again.searched_bytes == 0


def test_growing_files_are_searched_then_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    traces = [_trace(rng) for _ in range(10)]
    path = tmp_path / "live.jsonl"
    path.write_bytes(_lines(rng, traces, 100))
    _found([path], traces[0])
    with open(path, "ab") as file:
        file.write(_lines(rng, traces, 50, start=100))
    stats = TraceIndexStats()
    assert _found([path], traces[1], stats) == _scanned([path], traces[1])
    assert stats.built == 0
    assert stats.searched_bytes > 0
    monkeypatch.setattr(trace_index, "REINDEX_BYTES", 10)
    with open(path, "ab") as file:
        file.write(_lines(rng, traces, 50, start=150))
    extended = TraceIndexStats()
    assert _found([path], traces[2], extended) == _scanned([path], traces[2])
    assert extended.built == 1
    after = TraceIndexStats()
    assert _found([path], traces[3], after) == _scanned([path], traces[3])
    assert after.built == 0
    assert after.searched_bytes == 0


def test_a_replaced_or_rewritten_file_is_indexed_again(tmp_path: Path) -> None:
    rng = random.Random(7)
    traces = [_trace(rng) for _ in range(10)]
    path = tmp_path / "rotating.jsonl"
    path.write_bytes(_lines(rng, traces, 100))
    _found([path], traces[0])
    replacement = tmp_path / "new.tmp"
    replacement.write_bytes(_lines(rng, traces, 120, start=1000))
    os.replace(replacement, path)
    stats = TraceIndexStats()
    assert _found([path], traces[0], stats) == _scanned([path], traces[0])
    assert stats.built == 1
    content = path.read_bytes()  # same inode, other lines: truncated and written again
    lines = content.splitlines(keepends=True)
    with open(path, "r+b") as file:
        file.truncate(0)
        file.write(b"".join([*lines[:60], *reversed(lines[60:])]))
    rewritten = TraceIndexStats()
    for trace in traces:
        assert _found([path], trace, rewritten) == _scanned([path], trace)
    assert rewritten.built >= 1


def test_without_a_writable_index_the_file_is_searched(tmp_path: Path) -> None:
    rng = random.Random(11)
    traces = [_trace(rng) for _ in range(8)]
    path = tmp_path / "a.jsonl"
    path.write_bytes(_lines(rng, traces, 200))
    (tmp_path / INDEX_DIR_NAME).write_text("a file where the index directory would go")
    stats = TraceIndexStats()
    for trace in traces:
        assert _found([path], trace, stats) == _scanned([path], trace)
    assert stats.indexed_files == 0
    assert stats.searched_bytes > 0


def test_indexes_of_removed_files_are_dropped(tmp_path: Path) -> None:
    rng = random.Random(13)
    traces = [_trace(rng) for _ in range(4)]
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    old.write_bytes(_lines(rng, traces, 20))
    _found([old], traces[0])
    old.unlink()  # pruned
    new.write_bytes(_lines(rng, traces, 20, start=20))
    _found([new], traces[0])
    assert sorted(path.name for path in (tmp_path / INDEX_DIR_NAME).iterdir()) == ["new.jsonl.idx"]


def test_a_first_lookup_searches_and_leaves_the_indexing_to_the_background(
    tmp_path: Path,
) -> None:
    rng = random.Random(17)
    traces = [_trace(rng) for _ in range(10)]
    path = tmp_path / "big.jsonl"
    path.write_bytes(_lines(rng, traces, 600))
    query = Query(parse_trace(traces[0]), ListEvents())
    first = TraceIndexStats()
    lines = candidate_lines([path], query.where.trace_ids, first, defer_bytes=1000)  # type: ignore[union-attr]
    found = PythonEngine(lambda: lines).run(query)
    assert isinstance(found, EventsResult)
    assert [int(str(event["n"])) for event in found.events] == _scanned([path], traces[0])
    assert first.built == 0  # answered by a search, not after building an index
    assert first.searched_bytes == path.stat().st_size
    index = tmp_path / INDEX_DIR_NAME / "big.jsonl.idx"
    deadline = time.monotonic() + 60
    while not index.is_file() or (tmp_path / INDEX_DIR_NAME / "building").exists():
        assert time.monotonic() < deadline, "the background index never appeared"
        time.sleep(0.05)
    later = TraceIndexStats()
    for trace in traces:
        assert _found([path], trace, later) == _scanned([path], trace)
    assert later.built == 0
    assert later.searched_bytes == 0
    assert later.indexed_files == len(traces)


@pytest.mark.parametrize("native", [True, False], ids=["hyperscan", "pure-python"])
def test_a_first_lookup_split_across_processes_finds_the_same_lines(
    tmp_path: Path, split_scans: list[int], monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    """The byte search of files with no index yet, on two processes: every spelling of the id
    (canonical, upper case, mixed case, 32 digits, nested, listed), plain files and .gz alike,
    with either scanner."""
    monkeypatch.setattr(caseless_scan, "native_available", lambda: native)
    rng = random.Random(23)
    traces = [_trace(rng) for _ in range(8)]
    paths = []
    for number in range(3):
        path = tmp_path / f"part-{number}.jsonl"
        path.write_bytes(_lines(rng, traces, 300, start=number * 300))
        paths.append(path)
    zipped = tmp_path / "old.jsonl.gz"
    zipped.write_bytes(gzip.compress(_lines(rng, traces, 200, start=900)))
    paths.append(zipped)
    # no index can be written: every lookup is a byte search
    (tmp_path / INDEX_DIR_NAME).write_text("a file where the index directory would go")
    alone = {trace: _found(paths, trace) for trace in traces}
    for trace in traces:
        query = Query(parse_trace(trace), ListEvents())
        hexes = query.where.trace_ids  # type: ignore[union-attr]
        stats = TraceIndexStats()
        lines = candidate_lines(paths, hexes, stats, parallel=True)
        result = PythonEngine(lambda lines=lines: lines).run(query)
        assert isinstance(result, EventsResult)
        shared = [int(str(event["n"])) for event in result.events]
        assert shared == alone[trace] == _scanned(paths, trace)
        assert shared  # every trace has lines in this corpus
        assert stats.indexed_files == 0
    assert len(split_scans) == len(traces)  # each lookup was split: a worker scanned part of it
