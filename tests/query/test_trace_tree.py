"""The trace model and its drawing: nesting, gaps, orphans, batches, errors, at fixed widths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from query_runner import run_logs

from moose_trace.query.text import Style
from moose_trace.query.trace_tree import build_trace_tree
from moose_trace.query.tree_text import TreeOptions, tree_lines

TRACE = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
OTHER = "0193f0c2-7b1e-7c3a-9d2f-00000000beef"


def _at(ms: float) -> str:
    """A timestamp ``ms`` milliseconds after 10:00:00 on the day of the examples."""
    seconds, micros = divmod(round(ms * 1000), 1_000_000)
    return f"2026-01-09T10:00:{seconds:02d}.{micros:06d}Z"


def _line(end_ms: float, **fields: Any) -> dict[str, Any]:
    return {"timestamp": _at(end_ms), "level": "info", "trace_id": TRACE, **fields}


def _pipeline(*, insert_fails: bool = False) -> list[dict[str, Any]]:
    """A request → produce → transform → produce → sync batch, as the SDK's writers log it."""
    sync_fields: dict[str, Any] = (
        {
            "level": "error",
            "event": "batch sync failed",
            "status": "failed",
            "error_category": "type_conversion_error",
            "error_message": "Cannot read DateTime",
        }
        if insert_fails
        else {"event": "batch synced", "status": "success"}
    )
    return [
        _line(
            10,
            service="ingest",
            event="request handled",
            type="ingest",
            name="UserEvent",
            layer="webserver",
            http_method="POST",
            http_path="/ingest/UserEvent",
            http_status=200,
            latency_ms=10,
            span_id="a000000000000001",
        ),
        _line(
            8,
            level="debug",
            service="ingest",
            event="kafka message delivered",
            layer="streaming",
            kafka_topic="UserEvent",
            kafka_partition=0,
            kafka_offset=7,
            latency_ms=2,
            span_id="a000000000000002",
            parent_span_id="a000000000000001",
        ),
        _line(
            25,
            service="transform",
            event="External API call",
            level="warning",
            span_id="a000000000000003",
        ),
        _line(
            30,
            service="transform",
            event="record transformed",
            type="transform",
            name="user_event_to_session",
            layer="streaming",
            kafka_topic="UserEvent",
            kafka_partition=0,
            kafka_offset=7,
            status="success",
            latency_ms=10,
            span_id="a000000000000003",
            parent_span_id="a000000000000001",
        ),
        _line(
            29,
            level="debug",
            service="transform",
            event="kafka message delivered",
            layer="streaming",
            kafka_topic="Session",
            kafka_partition=0,
            kafka_offset=3,
            latency_ms=1,
            span_id="a000000000000004",
            parent_span_id="a000000000000003",
        ),
        {
            **_line(
                60,
                service="sync",
                type="olap_table",
                name="Session",
                layer="sync",
                operation="batch_insert",
                table="Session",
                kafka_topic="Session",
                latency_ms=20,
                span_id="b000000000000001",
                trace_ids=[TRACE, OTHER],
                **sync_fields,
            ),
            "trace_id": OTHER,
        },
    ]


def _draw(events: list[dict[str, Any]], width: int, **options: Any) -> str:
    return "\n".join(tree_lines(build_trace_tree(TRACE, events), TreeOptions(width, **options)))


def test_spans_nest_under_their_producers_and_the_batch_joins_the_trace() -> None:
    tree = build_trace_tree(TRACE, _pipeline())
    names = [(span.depth, span.name) for span in tree.spans()]
    assert names == [
        (0, "POST /ingest/UserEvent"),
        (1, "kafka produce UserEvent"),
        (2, "transform user_event_to_session"),
        (3, "kafka produce Session"),
        (4, "batch_insert Session"),
    ]
    transform = tree.spans()[2]
    assert transform.start_us is not None
    assert transform.duration_us == 10_000
    assert len(transform.events) == 2  # its warning line is one of its log events
    batch = tree.spans()[4]
    assert batch.batch
    assert batch.trace_id == OTHER
    assert tree.outcome.summary() == "✓ reached table Session"
    assert [span.critical for span in tree.spans()] == [True] * 5


def test_gap_is_the_wait_since_the_parent_ended() -> None:
    tree = build_trace_tree(TRACE, _pipeline())
    by_name = {span.name: span for span in tree.spans()}
    # The transform began at 20 ms; the record was delivered at 8 ms: 12 ms in the topic.
    assert by_name["transform user_event_to_session"].gap_us == 12_000
    assert by_name["batch_insert Session"].gap_us == 11_000


def test_tree_text_at_fixed_widths() -> None:
    header = [
        "trace 0193f0c2-7b1e-7c3a-9d2f-0123456789ab   3 services · 5 spans · 60 ms",
        "✓ reached table Session",
    ]
    assert _draw(_pipeline(), 80).splitlines() == [
        *header,
        "ingest    POST /ingest/UserEvent      ▇▇              10 ms",
        "          └ kafka produce UserEvent    ▇             2.0 ms",
        "transform   └ transform user_event_t…  ··▇▇           10 ms ← gap 12 ms",
        "              └ kafka produce Session     ▇          1.0 ms",
        "sync            └ batch_insert Sessi…     ··▇▇▇▇      20 ms ← gap 11 ms · batch…",
    ]
    assert _draw(_pipeline(), 64).splitlines() == [
        *header,
        "ingest    POST /ingest/U… ▇▇              10 ms",
        "          └ kafka produc…  ▇             2.0 ms",
        "transform   └ transform …  ··▇▇           10 ms ← gap 12 ms",
        "              └ kafka pr…     ▇          1.0 ms",
        "sync            └ batch_…     ··▇▇▇▇      20 ms ← gap 11 ms · b…",
    ]


def test_error_orphan_and_loose_events() -> None:
    events = _pipeline(insert_fails=True)
    events.append(
        _line(
            40,
            service="rust",
            event="olap write",
            span_id="c000000000000001",
            parent_span_id="ffffffffffffffff",
            latency_ms=5,
        )
    )
    events.append(_line(41, service="rust", event="no span here", name="sync"))
    tree = build_trace_tree(TRACE, events)
    orphan = next(span for span in tree.spans() if span.span_id == "c000000000000001")
    assert orphan.orphan
    assert orphan.depth == 1
    loose = next(span for span in tree.spans() if span.span_id is None)
    assert loose.name == "sync"
    assert loose.orphan is False
    assert tree.errors == 1
    assert tree.outcome.summary() == (
        "✗ stopped at sync · batch_insert Session: type_conversion_error"
    )
    wide = _draw(events, 140)
    assert "ERROR type_conversion_error" in wide
    assert "olap write" in wide
    assert "orphan: parent not logged" in wide
    narrow = _draw(events, 80)
    assert all(len(line) <= 80 for line in narrow.splitlines()[2:])


def test_silence_is_where_the_journey_ended() -> None:
    events = _pipeline()[:4]
    tree = build_trace_tree(TRACE, events)
    assert tree.outcome.silent
    assert tree.outcome.summary() == (
        "… last seen at streaming · transform user_event_to_session: "
        "no error, no table, nothing after"
    )


def test_dead_letter_topic_is_in_the_outcome() -> None:
    events = _pipeline()[:3]
    events.append(
        _line(
            30,
            level="error",
            service="transform",
            event="record transform failed",
            type="transform",
            name="user_event_to_session",
            layer="streaming",
            status="failed",
            error_category="validation_error",
            dlq="UserEventDeadLetter",
            latency_ms=10,
            span_id="a000000000000003",
            parent_span_id="a000000000000001",
        )
    )
    outcome = build_trace_tree(TRACE, events).outcome
    assert outcome.summary() == (
        "✗ stopped at streaming · transform user_event_to_session: validation_error, "
        "sent to dead-letter topic UserEventDeadLetter"
    )


def test_colour_marks_errors_and_the_slowest_span_only_on_request() -> None:
    plain = _draw(_pipeline(insert_fails=True), 100)
    assert "\x1b[" not in plain
    coloured = _draw(_pipeline(insert_fails=True), 100, style=Style(True))
    assert "\x1b[1;33m" in coloured  # the slowest span's duration
    assert "\x1b[31m" in coloured  # the failed span


def test_verbose_shows_each_spans_events_under_it() -> None:
    text = _draw(_pipeline(), 120, verbose=True)
    lines = text.splitlines()
    transform = next(i for i, line in enumerate(lines) if "transform user_event" in line)
    assert "External API call" in lines[transform + 1]
    assert lines[transform + 1].startswith(" " * 14)


def test_json_tree_is_nested_with_depth_duration_and_gap() -> None:
    tree = build_trace_tree(TRACE, _pipeline()).to_dict()
    root = tree["spans"][0]
    assert root["depth"] == 0
    assert root["duration_ms"] == 10.0
    assert root["gap_ms"] is None
    transform = root["children"][0]["children"][0]
    assert transform["span_id"] == "a000000000000003"
    assert transform["parent_span_id"] == "a000000000000001"
    assert transform["gap_ms"] == 12.0
    assert transform["depth"] == 2
    assert orjson.loads(orjson.dumps(tree)) == tree


def test_cli_draws_the_tree_and_json(tmp_path: Path) -> None:
    (tmp_path / "app.jsonl").write_bytes(
        b"".join(orjson.dumps(event) + b"\n" for event in _pipeline())
    )
    drawn = run_logs(tmp_path, "--trace", TRACE.upper(), "--no-progress")
    assert drawn.code == 0
    assert drawn.lines[0].startswith(f"trace {TRACE}")
    assert "└ batch_insert Session" in drawn.out
    as_json = run_logs(tmp_path, "--trace", TRACE, "--format", "json")
    tree = orjson.loads(as_json.out)
    assert tree["span_count"] == 5
    assert tree["outcome"]["reached_tables"] == ["Session"]
    kafka = run_logs(tmp_path, "--trace-kafka", "topic=UserEvent,partition=0,offset=7")
    assert kafka.lines[0] == drawn.lines[0]
