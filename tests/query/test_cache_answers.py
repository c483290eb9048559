"""Kept answers brought up to date from appended lines answer as the engine over the files.

``moose-trace serve`` answers a question again after a few lines were appended by merging the
new rows' answer into the kept one (``moose_trace.query.cache_answers``): the merged answer must
be the one DuckDB over the whole files gives — counts, time buckets, the latest page, error
groups with their latest example, exact percentiles.
"""

from __future__ import annotations

import random
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cache_helpers import cached_engine, generated_logs
from hypothesis import given
from hypothesis import strategies as st
from test_duckdb_python_agree import comparable, conditions, lines, modes

from moose_trace.query.ast import (
    AllOf,
    Condition,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Match,
    Query,
    Stats,
    Value,
)
from moose_trace.query.cache_answers import interpolated_quantile
from moose_trace.query.duckdb_cache import CachedDuckDBEngine
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.results import ErrorGroupsResult, StatsResult


@generated_logs(50)
@given(lines=lines, more=lines, where=conditions, mode=modes, cut=st.integers(0, 25))
def test_an_answer_after_appends_is_the_engines_over_the_files(
    lines: list[bytes], more: list[bytes], where: Condition, mode: Any, cut: int
) -> None:
    query = Query(where, mode)
    if not CachedDuckDBEngine.covers(query):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "logs.jsonl"
        with cached_engine([path]) as cache:
            path.write_bytes(b"".join(line + b"\n" for line in lines[:cut]))
            cache.run(query)  # kept
            for part in (lines[cut:], more):
                with path.open("ab") as out:
                    out.write(b"".join(line + b"\n" for line in part))
                answer = comparable(cache.run(query))
                assert answer == comparable(DuckDBEngine([path]).run(query)), cache.sql(query)


def _event(index: int, **fields: Any) -> bytes:
    minute, second = divmod(index, 60)
    event = {"timestamp": f"2026-01-09T10:{minute:02d}:{second:02d}.000001Z", **fields}
    return orjson.dumps(event) + b"\n"


def _operation(index: int, chance: random.Random) -> bytes:
    kind = chance.choice(["api", "transform", "sync"])
    failed = chance.random() < 0.2
    fields: dict[str, Any] = {
        "level": "error" if failed else "info",
        "event": f"op {index}",
        "type": kind,
        "name": chance.choice(["a", "b"]),
        "latency_ms": round(chance.lognormvariate(3, 1), 3),
        "trace_id": f"0193f0c2-7b1e-7c3a-9d2f-{index:012x}",
    }
    if failed:
        fields |= {
            "error_type": chance.choice(["TimeoutError", "ValueError"]),
            "error_message": "boom",
            "error_category": chance.choice(["timeout_error", "type_conversion_error"]),
            "layer": kind,
        }
    return _event(index, **fields)


QUESTIONS = [
    Query(AllOf(), ListEvents(20)),
    Query(Match("level", (Value("error"),)), ListEvents(5)),
    Query(AllOf(), GroupBy(("type", "level"))),
    Query(AllOf(), Histogram(timedelta(minutes=1))),
    Query(AllOf(), ErrorGroups()),
    Query(AllOf(), Stats(("type", "name"))),
    Query(Match("type", (Value("api"),)), Stats(())),
]


def _full(result: Any) -> Any:
    """The whole answer, error examples included; percentiles and averages to 1e-12 (the
    same values interpolated as DuckDB does may differ from its in the last bit)."""
    if isinstance(result, ErrorGroupsResult):
        return result.groups, result.skipped
    if isinstance(result, StatsResult):
        return [
            (s.key, s.count, s.errors, s.latency_count, *(
                pytest.approx(value, rel=1e-12)
                for value in (s.latency_p50, s.latency_p95, s.latency_p99, s.latency_avg)
            ))
            for s in [result.total, *result.groups]
        ], result.skipped  # fmt: skip
    return comparable(result)


def test_appended_lines_update_each_kept_answer_exactly(tmp_path: Path) -> None:
    """Every kind of question the console asks is brought up to date, not computed again,
    and equals DuckDB over the files: exact percentiles, the latest error example."""
    chance = random.Random(7)
    path = tmp_path / "ops.jsonl"
    path.write_bytes(b"".join(_operation(index, chance) for index in range(2000)) + b"oops\n")
    with cached_engine([path]) as cache:
        for question in QUESTIONS:
            cache.run(question)
        index = 2000
        for appended in (1, 3, 40):
            with path.open("ab") as out:
                for _ in range(appended):
                    out.write(_operation(index, chance))
                    index += 1
                out.write(b"{broken\n")
            before = cache.updated_answers
            for question in QUESTIONS:
                answer = cache.run(question)
                expected = DuckDBEngine([path]).run(question)
                assert _full(answer) == _full(expected), question
            assert cache.updated_answers == before + len(QUESTIONS)


def test_a_late_line_with_an_older_time_recomputes_the_error_example(tmp_path: Path) -> None:
    path = tmp_path / "late.jsonl"
    failed = {"level": "error", "error_type": "E", "error_message": "m"}
    path.write_bytes(_event(10, **failed, layer="new") + _event(20, **failed, layer="newest"))
    with cached_engine([path]) as cache:
        question = Query(AllOf(), ErrorGroups())
        cache.run(question)
        with path.open("ab") as out:
            out.write(_event(5, **failed, layer="old"))  # written late, happened early
        answer = cache.run(question)
        assert isinstance(answer, ErrorGroupsResult)
        assert answer.groups[0].layer == "newest"
        assert answer.groups[0].count == 3
        assert _full(answer) == _full(DuckDBEngine([path]).run(question))


def test_a_rotated_file_starts_every_answer_over(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    path.write_bytes(_event(1, level="info", latency_ms=5) + _event(2, level="info", latency_ms=7))
    with cached_engine([path]) as cache:
        question = Query(AllOf(), Stats(()))
        assert cache.run(question).total.count == 2  # type: ignore[union-attr]
        path.write_bytes(_event(3, level="info", latency_ms=100))
        answer = cache.run(question)
        assert isinstance(answer, StatsResult)
        assert (answer.total.count, answer.total.latency_p50) == (1, 100)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([3.0], 0.99, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([0.0, 10.0], 0.95, 9.5),
    ],
)
def test_interpolated_quantile_is_percentile_cont(
    values: list[float], fraction: float, expected: float | None
) -> None:
    assert interpolated_quantile(values, fraction) == expected
