"""The console's JSON API on a real uvicorn server, over a log directory it knows.

Each answer is checked against the events the corpus wrote: what a page or a script reading
the API relies on.
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from console_corpus import (
    HOSTILE,
    INSERT,
    OTHER_TRACE,
    PRODUCE,
    ROOT,
    TRACE,
    TRANSFORM,
    ConsoleCorpus,
    iso,
)
from console_server import ConsoleServer
from polling import wait_until

from moose_trace.console.source import open_source
from moose_trace.query.ast import (
    AllOf,
    ErrorGroups,
    GroupBy,
    ListEvents,
    Match,
    Query,
    Stats,
    Value,
)
from moose_trace.query.duckdb_engine import DuckDBEngine
from moose_trace.query.results import (
    ErrorGroupsResult,
    EventsResult,
    GroupsResult,
    StatsResult,
)


def get(server: ConsoleServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=30)


def test_events_pages_cover_every_event_once_newest_page_first(
    console: ConsoleServer, corpus: ConsoleCorpus
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        body = get(console, "/api/events", **params).json()
        assert len(body["events"]) <= 4
        seen = [event["event"] for event in body["events"]] + seen
        assert body["skipped_lines"] == 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    written = sorted(corpus.events, key=lambda event: event["timestamp"])
    assert sorted(seen) == sorted(event["event"] for event in corpus.events)
    assert len(seen) == len(set(seen))  # the two events at the same microsecond: once each
    assert [event["timestamp"] for event in written] == sorted(
        event["timestamp"] for event in written
    )


def test_filters_mirror_the_cli(console: ConsoleServer) -> None:
    errors = get(console, "/api/events", level="error").json()["events"]
    assert [event["event"] for event in errors] == ["insert failed"]
    both = get(console, "/api/events", filter=["type=api", "name=health"], level="warning").json()[
        "events"
    ]
    assert [event["event"] for event in both] == ["request 0", "request 10", "request 20"]
    found = get(console, "/api/events", search="twin").json()["events"]
    assert [event["event"] for event in found] == ["twin a", "twin b"]
    traced = get(console, "/api/events", trace=TRACE.upper()).json()["events"]
    assert len(traced) == 5
    recent = get(console, "/api/events", since="15m").json()["events"]
    assert {event.get("trace_id") for event in recent} == {TRACE, None}


def test_tenant_is_the_tenant_id_or_slug(console: ConsoleServer, corpus: ConsoleCorpus) -> None:
    moment = iso(corpus.start)
    for event, tenant in (
        ("by id", {"tenant_id": "acme"}),
        ("by slug", {"tenant_slug": "acme"}),
        ("other", {"tenant_id": "globex"}),
        ("numbered", {"tenant_id": 42}),
    ):
        corpus.append({"timestamp": moment, "level": "info", "event": event, **tenant})
    acme = get(console, "/api/events", tenant="acme").json()["events"]
    assert sorted(event["event"] for event in acme) == ["by id", "by slug"]
    numbered = get(console, "/api/events", tenant="42").json()["events"]
    assert [event["event"] for event in numbered] == ["numbered"]
    stats = get(console, "/api/stats", tenant="acme", by="tenant_slug").json()
    assert stats["count"] == 2


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/events", {"filter": "latency_ms:>abc"}, "latency_ms"),
        ("/api/events", {"level": "loud"}, "bad level 'loud'"),
        ("/api/events", {"since": "yesterday-ish"}, "yesterday-ish"),
        ("/api/events", {"limit": "0"}, "bad limit"),
        ("/api/events", {"cursor": "!!"}, "bad cursor"),
        ("/api/stats", {"by": "a b"}, "bad field name"),
        ("/api/histogram", {"interval": "1s", "since": "7d"}, "buckets"),
        ("/api/export", {"format": "xml"}, "bad format 'xml'"),
        ("/api/traces/not-a-trace", {}, "bad trace id"),
    ],
)
def test_bad_parameters_answer_400_with_one_message(
    console: ConsoleServer, path: str, params: dict[str, str], message: str
) -> None:
    response = get(console, path, **params)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["error"]
    assert message in body["error"]
    assert "Traceback" not in response.text


def _walk(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for span in spans for item in [span, *_walk(span["children"])]]


def test_trace_is_the_query_layers_tree_with_events_and_gaps(console: ConsoleServer) -> None:
    trace = get(console, f"/api/traces/{TRACE}").json()
    flat = _walk(trace["spans"])
    spans = {span["span_id"]: span for span in flat}
    assert [span["span_id"] for span in flat] == [ROOT, PRODUCE, TRANSFORM, INSERT]
    assert [spans[key]["depth"] for key in (ROOT, PRODUCE, TRANSFORM, INSERT)] == [0, 1, 1, 2]
    assert [child["span_id"] for child in spans[TRANSFORM]["children"]] == [INSERT]
    assert spans[ROOT]["duration_ms"] == 50
    assert spans[ROOT]["layer"] == "webserver"
    assert len(spans[ROOT]["events"]) == 2
    assert spans[INSERT]["status"] == "error"
    assert spans[INSERT]["error_category"] == "timeout_error"
    assert spans[TRANSFORM]["status"] == "ok"
    assert trace["errors"] == 1
    assert trace["span_count"] == 4
    # Nothing ran between the request's end (50 ms) and the transform's start (200 ms).
    assert spans[TRANSFORM]["gap_ms"] == 150
    assert "storage" in trace["outcome"]["summary"]


def test_trace_answers_404_for_an_unknown_id(console: ConsoleServer) -> None:
    response = get(console, "/api/traces/0193f0c2-7b1e-7c3a-9d2f-ffffffffffff")
    assert response.status_code == 404
    assert "no events of trace" in response.json()["error"]


def test_error_groups_name_an_example_trace(console: ConsoleServer) -> None:
    body = get(console, "/api/errors").json()
    [group] = body["groups"]
    assert group["signature"] == "v1_timeout"
    assert group["count"] == 1
    assert group["category"] == "timeout_error"
    assert group["layer"] == "storage"
    assert group["trace_id"] == TRACE
    assert group["first_seen"] == group["last_seen"]
    assert get(console, "/api/errors", since="1m").json()["groups"] == []


def test_stats_give_counts_success_rate_and_latency_percentiles(
    console: ConsoleServer, corpus: ConsoleCorpus
) -> None:
    body = get(console, "/api/stats", by="type,name").json()
    assert body["count"] == len(corpus.events)
    assert body["success_rate"] == pytest.approx(1 - 1 / len(corpus.events))
    key = {"type": "api", "name": "health"}
    health = next(group for group in body["groups"] if group["key"] == key)
    latencies = sorted(5 + index for index in range(30))
    assert health["count"] == 30
    assert health["timed"] == 30
    assert health["avg_latency_ms"] == pytest.approx(sum(latencies) / 30)
    assert health["p50_latency_ms"] == pytest.approx(19.5)
    assert health["p99_latency_ms"] == pytest.approx(latencies[28] + 0.71 * 1)
    assert body["errors"] == [{"category": "timeout_error", "count": 1}]
    assert body["groups"][0]["count"] >= body["groups"][-1]["count"]


def test_histogram_counts_every_event_per_level(
    console: ConsoleServer, corpus: ConsoleCorpus
) -> None:
    body = get(console, "/api/histogram").json()
    assert 1 <= len(body["buckets"]) <= 500
    levels = body["levels"]
    totals = {level: sum(bucket["counts"][level] for bucket in body["buckets"]) for level in levels}
    expected = {level: sum(event["level"] == level for event in corpus.events) for level in levels}
    assert totals == expected
    starts = [bucket["start_us"] for bucket in body["buckets"]]
    assert starts == sorted(starts)
    assert {b - a for a, b in itertools.pairwise(starts)} <= {body["interval_ms"] * 1000}


def test_export_streams_json_lines_and_csv(console: ConsoleServer, corpus: ConsoleCorpus) -> None:
    response = get(console, "/api/export", format="json", level="warning")
    assert response.headers["content-type"].startswith("application/x-ndjson")
    exported = [orjson.loads(line) for line in response.content.splitlines()]
    expected = ["request 0", "request 10", "request 20", HOSTILE]
    assert [event["event"] for event in exported] == expected
    response = get(console, "/api/export", format="csv", columns="timestamp,event,latency_ms")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["timestamp", "event", "latency_ms"]
    assert len(rows) == 1 + len(corpus.events)
    assert ["request 3", "8"] in [row[1:] for row in rows]


def test_other_trace_listed_in_batches_still_found(console: ConsoleServer) -> None:
    body = get(console, f"/api/traces/{OTHER_TRACE}").json()
    assert body["span_count"] == 1  # no span ids: one span per service and primitive
    assert len(body["spans"][0]["events"]) == 30


def test_every_route_is_read_only(console: ConsoleServer) -> None:
    for path in ("/api/events", "/api/errors", "/api/export", f"/api/traces/{TRACE}"):
        assert httpx.post(console.url + path, timeout=10).status_code == 405
        assert httpx.delete(console.url + path, timeout=10).status_code == 405


def test_answers_about_small_logs_wait_for_their_load(corpus: ConsoleCorpus) -> None:
    """Before the load, a question would be answered from a table still loading; these small
    logs load before the first answer, which is then DuckDB's over the files, not partial."""
    with corpus.file.open("ab") as out:
        out.write(b'{"level": "info", "event": "still being writ')  # not a bad line (yet)
    source = open_source([str(corpus.directory)])
    try:
        questions = [
            Query(AllOf(), ListEvents(10)),
            Query(Match("level", (Value("warning"),)), GroupBy(("service",))),
        ]
        assert not source.ready
        assert all(source.partial(question) for question in questions)
        for question in questions:
            source.run(question)  # small logs: waits for the load it starts
            assert not source.answered_partial(question)
        wait_until(lambda: source.ready, "the table did not load")
        assert not any(source.partial(question) for question in questions)
        loaded, total = source.progress()
        assert loaded == total > 0
        after = [source.run(question) for question in questions]
        files = sorted(corpus.directory.glob("*.jsonl"))
        expected = [DuckDBEngine(files).run(question) for question in questions]
    finally:
        source.close()
    events_after, groups_after = after
    events_files, groups_files = expected
    assert isinstance(events_after, EventsResult)
    assert isinstance(events_files, EventsResult)
    assert list(events_after.events) == list(events_files.events)
    assert events_after.skipped() == 1  # "not JSON"; not the unfinished tail
    assert isinstance(groups_after, GroupsResult)
    assert isinstance(groups_files, GroupsResult)
    assert groups_after.groups == groups_files.groups
    assert groups_after.skipped == 1  # a direct scan also counts the unfinished tail


def test_after_appends_the_api_answers_as_the_engine_over_the_files(
    console: ConsoleServer, corpus: ConsoleCorpus
) -> None:
    """A live log grows between questions: the answers (brought up to date from the new
    lines) are those of DuckDB over the whole files."""
    wait_until(lambda: get(console, "/api/source").json()["ready"], "the table did not load")
    for path in ("/api/stats", "/api/errors", "/api/events"):
        get(console, path)  # kept
    stamp = datetime.now(timezone.utc)
    for index in range(3):
        corpus.append(
            {"timestamp": iso(stamp + timedelta(seconds=index)), "level": "error",
             "service": "api", "type": "api", "name": "ingest", "latency_ms": 900 + index,
             "error_type": "TimeoutError", "error_message": "late timeout",
             "error_category": "timeout_error", "trace_id": TRACE, "event": f"late {index}"}
        )  # fmt: skip
        files = sorted(corpus.directory.glob("*.jsonl"))
        engine = DuckDBEngine(files)
        stats = get(console, "/api/stats", by="type,name").json()
        expected = engine.run(Query(AllOf(), Stats(("type", "name"))))
        assert isinstance(expected, StatsResult)
        assert stats["partial"] is False
        assert stats["count"] == expected.total.count
        assert stats["p95_latency_ms"] == pytest.approx(expected.total.latency_p95, rel=1e-12)
        assert stats["p99_latency_ms"] == pytest.approx(expected.total.latency_p99, rel=1e-12)
        assert [(g["key"]["type"], g["key"]["name"], g["count"]) for g in stats["groups"]] == [
            (g.key[0], g.key[1], g.count) for g in expected.groups
        ]
        errors = get(console, "/api/errors").json()
        expected_errors = engine.run(Query(AllOf(), ErrorGroups()))
        assert isinstance(expected_errors, ErrorGroupsResult)
        assert [(g["signature"], g["count"], g["example"]) for g in errors["groups"]] == [
            (g.signature, g.count, g.example) for g in expected_errors.groups
        ]
        events = get(console, "/api/events", limit="5").json()["events"]
        assert events[-1]["event"] == f"late {index}"


def test_a_failed_load_is_reported_not_answered_as_partial_forever(
    tmp_path: Path, start_console: Callable[..., ConsoleServer]
) -> None:
    """A log the table cannot load (a broken gzip file): once the background load has failed,
    questions load again themselves and answer 503 with DuckDB's message, not an empty page."""
    (tmp_path / "app.jsonl").write_bytes(b'{"level": "info", "event": "a"}\n')
    (tmp_path / "old.jsonl.gz").write_bytes(b"\x1f\x8bnot gzip at all" * 10)
    console = start_console(open_source([str(tmp_path)]))
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(console.url + "/api/stats", timeout=30)
        if response.status_code != 200:
            break
        assert response.json()["partial"] is True  # from what is loaded, until the failure
        assert time.monotonic() < deadline, "the failed load was never reported"
        time.sleep(0.05)
    assert response.status_code == 503
    assert "old.jsonl.gz" in response.json()["error"]
    assert "Traceback" not in response.text
