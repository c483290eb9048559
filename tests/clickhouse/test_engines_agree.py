"""The same queries on DuckDB (over the files) and on ClickHouse (chDB, over the ingested table)
give the same answers."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from moose_trace._record import is_record, record_values
from moose_trace.query.ast import (
    AllOf,
    AnyOf,
    ErrorGroups,
    GroupBy,
    Histogram,
    ListEvents,
    Not,
    Query,
)
from moose_trace.query.clickhouse_engine import ClickHouseEngine
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.ingest import ingest_files
from moose_trace.query.language import (
    parse_compare,
    parse_filter,
    parse_levels,
    parse_time_range,
    parse_trace,
)
from moose_trace.query.results import EventsResult
from moose_trace.store.clickhouse.transport import ChdbTransport

NOW = datetime.now(timezone.utc).replace(microsecond=0)
LAYERS = ("webserver", "streaming", "sync", "storage")
CATEGORIES = ("timeout_error", "connection_error", "type_conversion_error")


def _corpus(rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    """Events of every shape the engines must agree on, all within the shortest retention."""
    events: list[dict[str, Any]] = []
    traces = [f"0193f0c2-7b1e-7c3a-9d2f-{i:012x}" for i in range(40)]
    for i in range(400):
        moment = NOW - timedelta(hours=20) + timedelta(seconds=rng.randrange(20 * 3600))
        trace = rng.choice(traces)
        level = rng.choice(["info", "info", "debug", "warning", "WARN", "error", "critical"])
        event: dict[str, Any] = {
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(10**6):06d}Z",
            "level": level,
            "event": rng.choice(["request handled", "Inserting batch", 'quote " and \\ slash']),
            "service": rng.choice(["ingest", "sync"]),
            "trace_id": rng.choice([trace, trace.upper(), trace.replace("-", "")]),
            "type": rng.choice(["api", "transform", "olap_table"]),
            "name": rng.choice(["leaderboard", "UserEvent", "user_event_to_session"]),
            "layer": rng.choice(LAYERS),
            "i": i,
        }
        if rng.random() < 0.7:
            event["latency_ms"] = rng.choice(
                [rng.randrange(2000), round(rng.random() * 900, 2), 5.0]
            )
        if rng.random() < 0.3:
            event["http_status"] = rng.choice([200, 401, 500])
        if rng.random() < 0.2:
            event["security"] = rng.choice([True, False, "auth_failure", "false"])
        if rng.random() < 0.2:
            event["batch_size"] = rng.choice([10, 100])
        if level in ("error", "critical"):
            category = rng.choice(CATEGORIES)
            event |= {
                "error_category": category,
                "error_type": category.title().replace("_", ""),
                "error_message": f"failed after {rng.randrange(5)} retries",
            }
            if rng.random() < 0.7:
                event["error_signature"] = f"v1_{category[:8]}"
        if i % 50 == 0:
            del event["trace_id"]
            event["trace_ids"] = rng.sample(traces, 3)
        if i % 97 == 0:
            # The Rust side's tracing JSON: fields and span nested, message for event.
            event = {
                "timestamp": event["timestamp"],
                "level": level.upper(),
                "fields": {"message": "rust side", "latency_ms": 12},
                "span": {"trace_id": trace, "layer": "sync"},
                "i": i,
            }
        events.append(event)
    return events, traces


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[str]]:
    folder = tmp_path_factory.mktemp("corpus")
    events, traces = _corpus(random.Random(7))
    half = len(events) // 2
    paths = [folder / "ingest-a.jsonl", folder / "sync-b.jsonl"]
    for path, part in zip(paths, (events[:half], events[half:]), strict=True):
        path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in part))
    return paths, traces


def _plain(value: Any) -> Any:
    if is_record(value):
        return _plain(record_values(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key != "skipped"}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else value
    return value


def _answer(result: Any) -> Any:
    if isinstance(result, EventsResult):
        return [_plain(event) for event in result.events]
    return _plain(result)


def _queries(traces: list[str]) -> Iterator[tuple[str, Query]]:
    six_hours = parse_time_range("6h", None, NOW)
    assert six_hours is not None
    yield "everything", Query()
    yield "level error", Query(parse_levels("error"))
    yield "level warn+", Query(parse_levels("warn+"))
    yield "type and glob name", Query(parse_filter("type=api,name=lead*"))
    yield "value list", Query(parse_filter("layer=sync,storage"))
    yield "numeric compare", Query(parse_filter("latency_ms:>1000"))
    yield "float bound", Query(parse_filter("latency_ms:<=5"))
    yield "number equality", Query(parse_filter("http_status=500"))
    yield "text of a float", Query(parse_filter("latency_ms=5.0"))
    yield "flag true", Query(parse_filter("security=true"))
    yield "flag false", Query(parse_filter("security=false"))
    yield "not equal, missing included", Query(parse_filter("http_status!=200"))
    yield "quotes and backslashes", Query(parse_filter('event="quote \\" and \\\\ slash"'))
    yield "negation", Query(Not(parse_filter("layer=storage")))
    yield "either", Query(AnyOf((parse_levels("error"), parse_filter("latency_ms:>=1500"))))
    yield "time range", Query(AllOf((six_hours, parse_filter("service=ingest"))))
    for trace in traces[:3]:
        yield f"trace {trace}", Query(parse_trace(trace.upper()))
    yield "trace and level", Query(AllOf((parse_trace(traces[5]), parse_levels("info"))))
    yield "latest five", Query(parse_levels("info"), ListEvents(limit=5))
    yield "group by category", Query(parse_levels("error,critical"), GroupBy(("error_category",)))
    yield "group by two fields", Query(AllOf(()), GroupBy(("layer", "level")))
    yield "group by a sparse field", Query(mode=GroupBy(("http_status",)))
    yield "histogram", Query(parse_levels("error"), Histogram(timedelta(hours=1)))
    yield "compare", Query(mode=parse_compare(["before=20h-10h", "after=10h-now"], NOW))
    yield "errors", Query(mode=ErrorGroups())


def test_duckdb_and_clickhouse_give_the_same_answers(
    corpus: tuple[list[Path], list[str]], transport: ChdbTransport
) -> None:
    paths, traces = corpus
    report = ingest_files(paths, transport, state_file=None)
    assert report.events == 400
    duck = DuckDBEngine(paths)
    house = ClickHouseEngine(transport)
    checked = 0
    for label, query in _queries(traces):
        expected = _answer(duck.run(query))
        assert _answer(house.run(query)) == expected, label
        checked += bool(expected)
    assert checked >= 20  # the corpus gives most queries a non-empty answer


def _odd_lines() -> bytes:
    """Lines every engine and ``ingest`` read by one rule (docs/schema.md, "Odd lines")."""
    stamp = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    deep = "[" * 300 + "]" * 300
    lines = [
        "\ufeff" + f'{{"timestamp": "{stamp}", "level": "info", "name": "bom at file start"}}',
        f'{{"timestamp": "{stamp}", "level": "info", "name": "first", "name": "second"}}',
        f'{{"timestamp": "{stamp}", "level": "error", "level": "info", "latency_ms": 3}}',
        f'{{"timestamp": "{stamp}", "level": "info", "name": "nan", "latency_ms": NaN}}',
        f'{{"timestamp": "{stamp}", "level": "info", "name": "huge", "latency_ms": 1e999}}',
        f'{{"timestamp": "{stamp}", "level": "info", "name": "deep", "payload": {deep}}}',
        "\ufeff" + f'{{"timestamp": "{stamp}", "level": "info", "name": "bom mid-file"}}',
    ]
    return "".join(line + "\n" for line in lines).encode()


def test_odd_lines_mean_the_same_to_every_engine_and_to_ingest(
    tmp_path: Path, transport: ChdbTransport
) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(_odd_lines())
    report = ingest_files([path], transport, state_file=None)
    assert (report.events, report.malformed) == (6, 1)  # the mid-file BOM line is not JSON
    duck, house = DuckDBEngine([path]), ClickHouseEngine(transport)
    queries = [
        Query(),
        Query(parse_filter("name=first")),
        Query(parse_filter("name=second")),
        Query(parse_levels("error")),
        Query(parse_filter("latency_ms:>1000")),
        Query(parse_filter("latency_ms=NaN")),
        Query(mode=GroupBy(("name",))),
        Query(mode=GroupBy(("level",))),
    ]
    for query in queries:
        assert _answer(house.run(query)) == _answer(duck.run(query)), query
    names = {event.get("name") for event in duck.run(Query()).events}  # type: ignore[union-attr]
    assert names == {"bom at file start", "first", None, "nan", "huge", "deep"}
    (first,) = duck.run(Query(parse_filter("name=first"))).events  # type: ignore[union-attr]
    assert first["name"] == "first"  # the value filtered on is the value shown
    (huge,) = duck.run(Query(parse_filter("latency_ms:>1000"))).events  # type: ignore[union-attr]
    assert huge["latency_ms"] == "1e999"
