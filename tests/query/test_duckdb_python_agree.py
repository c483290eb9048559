"""The DuckDB engine and the Python predicate engine give the same answer to every query.

Hypothesis writes log files mixing the SDK's lines, the Rust side's tracing JSON, Moose's
structured print lines and broken lines, builds queries from the whole filter language, and
runs each query through both engines.
"""

from __future__ import annotations

import math
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moose_trace.query.ast import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Match,
    Not,
    NumberCompare,
    Query,
    Search,
    Stats,
    TimeRange,
    TraceIs,
    Value,
    Window,
)
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.python_engine import PythonEngine
from moose_trace.query.results import (
    ComparisonResult,
    ErrorGroupsResult,
    EventsResult,
    Result,
    StatsResult,
)
from moose_trace.query.search import search_lines, search_needle, searches_of
from moose_trace.query.sources import read_lines

BASE = datetime(2026, 1, 9, 10, 0, tzinfo=timezone.utc)
TRACES = ["0193f0c2-7b1e-7c3a-9d2f-0123456789ab", "0193f0c2-7b1e-7c3a-9d2f-00000000beef"]
# Few fields and few values, shared by the logs and the queries, so that queries match often.
FIELDS = ["type", "name", "latency_ms", "security"]
VOCAB: list[Any] = ["api", "sync", "a_b", "é", "1000", 1000, 1000.0, 12.5, "12.5", 0, True, False]
VOCAB += ["false", "auth_failure", "ddl_add", "", None, {"k": 1}, "Ärger", 'say "hi"\\']
# --search texts: any case, not ASCII, quotes and backslashes as written in JSON, keys.
# (Not a final capital sigma nor a dotted capital I: DuckDB's lower() differs there.)
SEARCHES = ["API", "ärger", "ÄRG", "é", '"hi"\\', '"type":', "1000", "a_b", "Xyz", "K", "i"]


def _timestamp(offset: int, form: int) -> str:
    moment = BASE + timedelta(seconds=offset * 7, microseconds=offset * 13)
    return [
        moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        moment.astimezone(timezone(timedelta(hours=2))).isoformat(),
        moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123+0000",
        moment.strftime("%Y-%m-%d"),
        "yesterday",
        "2026-02-30T10:00:00Z",
    ][form]


scalars = st.sampled_from(VOCAB)
trace_spellings = st.sampled_from(TRACES).flatmap(
    lambda trace: st.sampled_from([trace, trace.upper(), trace.replace("-", "")])
)


def _some_fields(draw: st.DrawFn, keys: list[str]) -> dict[str, Any]:
    return {key: draw(scalars) for key in keys if draw(st.booleans())}


@st.composite
def sdk_event(draw: st.DrawFn) -> dict[str, Any]:
    levels = ["info", "INFO", "warn", "warning", "error", "critical", "debug", " Error"]
    event: dict[str, Any] = {
        "timestamp": _timestamp(draw(st.integers(0, 50)), draw(st.integers(0, 6))),
        "level": draw(st.sampled_from(levels)),
        draw(st.sampled_from(["event", "message"])): draw(st.sampled_from(["handled", "x"])),
    }
    event.update(_some_fields(draw, [*FIELDS, "resource_type", "resource_name", "pipeline"]))
    if draw(st.booleans()):
        event["trace_id"] = draw(trace_spellings)
    if draw(st.integers(0, 3)) == 0:
        event["trace_ids"] = draw(st.lists(trace_spellings, max_size=3))
    if draw(st.integers(0, 2)) == 0:
        event.update(
            error_type=draw(st.sampled_from(["TimeoutError", "TypeError"])),
            error_message=draw(st.sampled_from(["timed out", "bad value"])),
            error_category=draw(st.sampled_from(["timeout_error", "code_error"])),
        )
        if draw(st.booleans()):
            event["error_signature"] = draw(st.sampled_from(["v1_a", "v1_b"]))
    for key in ("throughput", "batch_size", "records"):
        if draw(st.integers(0, 2)) == 0:
            event[key] = draw(st.sampled_from([1, 10, 250.5, "7"]))
    return event


@st.composite
def rust_event(draw: st.DrawFn) -> dict[str, Any]:
    """tracing-subscriber JSON: fields, the current span and the span stack, root first."""
    keys = [*FIELDS, "trace_id"]
    span = {"name": draw(st.sampled_from(["api", "sync"])), **_some_fields(draw, keys)}
    event: dict[str, Any] = {
        "timestamp": _timestamp(draw(st.integers(0, 50)), 0),
        "level": draw(st.sampled_from(["INFO", "WARN", "ERROR", "TRACE"])),
        "fields": {"message": "consumed", **_some_fields(draw, FIELDS)},
        "target": "moose_cli::sync",
        "span": span,
    }
    spans = [{"name": "outer", **_some_fields(draw, keys)} for _ in range(draw(st.integers(0, 3)))]
    if spans:
        event["spans"] = spans
    if "trace_id" in span and draw(st.booleans()):
        span["trace_id"] = draw(trace_spellings)
    return event


@st.composite
def structured_print(draw: st.DrawFn) -> dict[str, Any]:
    """Moose's Python structured print line for a task or a streaming function."""
    event = {
        "__moose_structured_log__": draw(st.sampled_from([True, "true", False])),
        "level": draw(st.sampled_from(["info", "error"])),
        "message": "calling api",
        draw(st.sampled_from(["task_name", "function_name"])): draw(st.sampled_from(VOCAB[:4])),
        "timestamp": _timestamp(draw(st.integers(0, 50)), 0),
    }
    event.update(_some_fields(draw, ["type", "name", "error_category"]))
    return event


# Odd lines every engine reads by one rule (docs/schema.md, "Odd lines"): a repeated key's
# first value wins; NaN/Infinity/1e999 are read as their text; nesting past MAX_DEPTH is cut;
# a UTF-8 BOM counts only at the start of a file (elsewhere the line is not JSON).
_DEEP = b"[" * 300 + b"]" * 300
_ODD_EVENTS = [
    b'{"level": "info", "type": "api", "name": "first", "name": "second"}',
    b'{"level": "error", "level": "info", "type": "transform", "latency_ms": 7}',
    b'{"level": "info", "type": "api", "latency_ms": NaN, "name": "nan"}',
    b'{"level": "info", "type": "api", "latency_ms": 1e999, "http_status": -Infinity}',
    b'{"level": "info", "type": "api", "name": "deep", "payload": ' + _DEEP + b"}",
    b'{"level": "info", "fields": {"name": "a", "name": "b"}, "span": {"latency_ms": NaN}}',
    b'\xef\xbb\xbf{"level": "warning", "type": "api", "name": "bom"}',
]

# Lines that are not log events by these rules either: every engine skips and counts them.
_NOT_STRICT_JSON = [
    b'{"type": "api", "latency_ms": NaN}',
    b'{"type": "api", "latency_ms": Infinity}',
    b'{"type": "api", "latency_ms": -Infinity}',
    b'{"type": "api"} trailing',
    b'{"type": "api",}',
    b"{'type': 'api'}",
]

lines = st.lists(
    st.one_of(
        sdk_event().map(orjson.dumps),
        rust_event().map(orjson.dumps),
        structured_print().map(orjson.dumps),
        st.sampled_from(
            [b"not json", b"[1, 2]", b"42", b"{}", b'{"other": 1}', b"", b"   ", *_NOT_STRICT_JSON]
        ),
        st.sampled_from(_ODD_EVENTS),
    ),
    min_size=3,
    max_size=25,
)


def _value(item: Any) -> Value:
    if isinstance(item, bool):
        return Value("true" if item else "false", "bool")
    if isinstance(item, (int, float)):
        return Value(repr(item), "number")
    return Value(str(item), "text")


values = st.one_of(
    scalars.filter(lambda item: item is not None and not isinstance(item, dict)).map(_value),
    st.sampled_from(["ddl_*", "*a*", "a?i", "*", "a_*", "1*", "?"]).map(lambda g: Value(g, "glob")),
)
leaves = st.one_of(
    st.builds(
        Match,
        st.sampled_from([*FIELDS, "trace_id", "layer"]),
        st.lists(values, min_size=1, max_size=2).map(tuple),
        st.booleans(),
    ),
    st.builds(
        Match,
        st.just("level"),
        st.lists(st.sampled_from(["info", "warning", "error", "debug"]).map(Value), min_size=1).map(
            tuple
        ),
        st.booleans(),
    ),
    st.builds(
        NumberCompare,
        st.sampled_from(["latency_ms", "latency_ms", "name", "throughput"]),
        st.sampled_from([">", ">=", "<", "<="]),
        st.sampled_from([0.0, 12.25, 12.5, 999.5, 1000.0]),
    ),
    st.builds(
        TimeRange,
        st.one_of(st.none(), st.integers(0, 400).map(lambda s: BASE + timedelta(seconds=s))),
        st.one_of(st.none(), st.integers(0, 400).map(lambda s: BASE + timedelta(seconds=s))),
    ),
    st.lists(st.sampled_from([trace.replace("-", "") for trace in TRACES]), min_size=1).map(
        lambda ids: TraceIs(tuple(ids))
    ),
    st.sampled_from(SEARCHES).map(lambda text: Search(search_needle(text))),
)
conditions: st.SearchStrategy[Condition] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: AllOf(tuple(items))),
        st.lists(inner, max_size=3).map(lambda items: AnyOf(tuple(items))),
        inner.map(Not),
    ),
    max_leaves=3,
)
modes = st.one_of(
    st.builds(ListEvents, st.one_of(st.none(), st.integers(1, 5))),
    st.lists(st.sampled_from([*FIELDS, "level", "event"]), min_size=1, max_size=2, unique=True).map(
        lambda fields: GroupBy(tuple(fields))
    ),
    st.sampled_from([timedelta(seconds=30), timedelta(minutes=1), timedelta(hours=1)]).map(
        Histogram
    ),
    st.just(
        Comparison(
            (
                Window("before", BASE, BASE + timedelta(seconds=150)),
                Window("after", BASE + timedelta(seconds=150), BASE + timedelta(seconds=400)),
            )
        )
    ),
    st.just(ErrorGroups()),
    st.lists(st.sampled_from([*FIELDS, "level"]), max_size=2, unique=True).map(
        lambda fields: Stats(tuple(fields), limit=3)
    ),
)


def comparable(result: Result) -> Any:
    if isinstance(result, EventsResult):
        return [
            orjson.dumps(event, option=orjson.OPT_SORT_KEYS) for event in result.events
        ], result.skipped()
    if isinstance(result, ComparisonResult):
        rounded = []
        for stats in result.windows:
            floats = (
                stats.latency_avg,
                stats.latency_p50,
                stats.latency_p95,
                stats.latency_p99,
                stats.throughput,
            )
            rounded.append(
                (
                    stats.count,
                    stats.errors,
                    stats.latency_count,
                    [None if v is None else round(v, 6) for v in floats],
                )
            )
        return rounded, result.skipped
    if isinstance(result, ErrorGroupsResult):
        return [
            (g.signature, g.count, g.first_us, g.last_us) for g in result.groups
        ], result.skipped
    if isinstance(result, StatsResult):
        rows = []
        for stats in [result.total, *result.groups]:
            floats = (stats.latency_avg, stats.latency_p50, stats.latency_p95, stats.latency_p99)
            rows.append(
                (
                    stats.key,
                    stats.count,
                    stats.errors,
                    stats.latency_count,
                    [None if v is None else round(v, 6) for v in floats],
                )
            )
        return rows, result.truncated, result.skipped
    return result


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(lines=lines, where=conditions, mode=modes)
def test_duckdb_and_python_engines_agree(lines: list[bytes], where: Condition, mode: Any) -> None:
    query = Query(where, mode)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "logs.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        expected = comparable(PythonEngine(lambda: read_lines(path)).run(query))
        answer = comparable(DuckDBEngine([path]).run(query))
        needles = [found.needle for found in searches_of(where)]
        if needles and isinstance(mode, ListEvents):  # the CLI's byte scan, then Python
            scanned = PythonEngine(lambda: search_lines([path], needles)).run(query)
            assert comparable(scanned)[0] == expected[0]
    assert answer == expected, DuckDBEngine([path]).sql(query)


def test_float_statistics_agree_within_rounding() -> None:
    """A comparison's averages are sums of floats: both engines agree to far below display."""
    events = [
        {"timestamp": _timestamp(i, 0), "level": "info", "event": "x", "latency_ms": 0.1 * i}
        for i in range(1, 40)
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "logs.jsonl"
        path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
        query = Query(AllOf(), Comparison((Window("all", BASE, BASE + timedelta(hours=1)),)))
        python = PythonEngine(lambda: read_lines(path)).run(query)
        duck = DuckDBEngine([path]).run(query)
    assert isinstance(python, ComparisonResult)
    assert isinstance(duck, ComparisonResult)
    for ours, theirs in zip(python.windows, duck.windows, strict=True):
        assert ours.count == theirs.count == 39
        assert math.isclose(ours.latency_avg or 0, theirs.latency_avg or 0, rel_tol=1e-12)
        assert math.isclose(ours.latency_p95 or 0, theirs.latency_p95 or 0, rel_tol=1e-12)
