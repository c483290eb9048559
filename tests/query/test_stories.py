"""Every command of the user stories (US-1 … US-10) on a corpus holding each story's situation.

Each test runs the story's commands, spelled ``moose-trace logs …``, and asserts the answer the
story needs — not just that something was printed.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
from query_runner import Run
from story_corpus import StoryCorpus

Logs = Callable[..., Run]


def _json(run: Run) -> list[dict[str, object]]:
    assert run.code == 0, run.err
    return [orjson.loads(line) for line in run.lines]


def _since(corpus: StoryCorpus, **delta: float) -> datetime:
    return corpus.now - timedelta(**delta)


def _stamp(event: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))


def test_us1_trace_shows_the_ingest_from_http_to_the_failed_insert(
    logs: Logs, stories: StoryCorpus
) -> None:
    by_name = _json(logs("--filter", "name=UserEventPipeline", "--format", "json"))
    assert {event["trace_id"] for event in by_name} == {
        stories.failed_ingest_trace,
        stories.ok_ingest_trace,
    }
    assert {event["pipeline"] for event in by_name} == {"UserEventPipeline"}

    trace = logs("--trace", stories.failed_ingest_trace, "--flat")
    assert trace.code == 0
    steps = [line for line in trace.lines if not line.startswith("  ")]
    assert len(steps) == 5
    assert "Ingest: UserEvent - request handled" in steps[0]  # HTTP POST /ingest/UserEvent
    assert "http_path=/ingest/UserEvent" in steps[0]
    assert "http_status=200" in steps[0]
    assert "ingest accepted" in steps[1]  # the Rust side's line: its trace id sits in a span
    assert "Stream: UserEvent - kafka produce" in steps[2]
    assert "kafka_offset=45678" in steps[2]
    assert "Table: UserEvent - consumed message" in steps[3]
    assert "kafka_offset=45678" in steps[3]
    assert "[ERROR] Table: UserEvent - clickhouse insert failed" in steps[4]  # the batch insert
    assert "error_category=type_conversion_error" in steps[4]
    assert (
        "  ↳ TypeConversionError: Field 'timestamp' expects DateTime but got String" in trace.lines
    )
    times = [step[:23] for step in steps]
    assert times == sorted(times)

    # Any spelling of the id finds the same trace: upper case, 32 hex digits.
    spelled = stories.failed_ingest_trace.replace("-", "").upper()
    assert logs("--trace", spelled, "--flat").out == trace.out
    tree = logs("--trace", spelled)
    assert tree.lines[0].startswith(f"trace {stories.failed_ingest_trace}")
    assert "stopped at storage · batch_insert UserEvent" in tree.lines[1]
    assert "type_conversion_error" in tree.lines[1]

    sync = _json(
        logs(
            "--filter",
            "type=olap_table,name=UserEvent",
            "--filter",
            "layer=sync",
            "--format",
            "json",
        )
    )
    assert sync
    assert all(event["layer"] == "sync" for event in sync)
    assert {"consumed message"} <= {str(event["event"]) for event in sync}
    assert all(event["type"] == "olap_table" and event["name"] == "UserEvent" for event in sync)


def test_us2_slow_transform_and_its_metrics(logs: Logs) -> None:
    only = logs("--filter", "type=transform,name=user_event_to_session")
    events = [line for line in only.lines if not line.startswith("  ")]
    assert len(events) == 4
    assert all("Transform: user_event_to_session" in line for line in events)
    assert "[WARN]" in events[2]
    assert (
        "  ↳ External API call to analytics.example.com took 1850ms (potential issue)" in only.lines
    )
    assert "retry_count=2" in events[3]
    assert "backoff_ms=4000" in events[3]
    assert "batch_size" not in only.out

    metrics = logs("--filter", "type=transform,name=user_event_to_session", "--include-metrics")
    assert "batch_size=100" in metrics.out
    assert "throughput=408msg/sec" in metrics.out  # 100 records in 245 ms
    assert "throughput=48msg/sec" in metrics.out

    slow = _json(
        logs("--filter", "type=transform", "--filter", "latency_ms:>1000", "--format", "json")
    )
    assert sorted(int(str(event["latency_ms"])) for event in slow) == [1340, 2100]
    assert {event["type"] for event in slow} == {"transform"}


def test_us3_leaderboard_500s_in_the_last_ten_minutes(logs: Logs) -> None:
    errors = logs("--filter", "type=api,name=leaderboard", "--level=error", "--since=10m")
    heads = [line for line in errors.lines if not line.startswith("  ")]
    assert len(heads) == 2
    assert "request_id=xyz789" in heads[0]
    assert "request_id=abc456" in heads[1]
    assert all(
        "http_status=500" in head and "error_category=timeout_error" in head for head in heads
    )
    assert errors.lines.count("  ↳ TimeoutError: ClickHouse query timeout after 5000ms") == 2
    assert any(line.startswith("  ↳ Query: SELECT * FROM leaderboard") for line in errors.lines)
    assert "old111" not in errors.out  # 25 minutes ago

    every = _json(logs("--filter", "type=api,name=leaderboard", "--since=10m", "--format", "json"))
    assert [event["request_id"] for event in every] == ["ok001", "xyz789", "abc456", "ok002"]

    storage = logs("--filter", "name=leaderboard", "--filter", "layer=storage")
    assert "ClickHouse diagnostics" in storage.out
    assert "connection_pool=10/10 (saturated)" in storage.out
    assert "  ↳ Potential issue: Connection pool exhausted" in storage.lines
    assert "query timed out" in storage.out


def test_us4_audit_of_user_pii_access(logs: Logs, stories: StoryCorpus, tmp_path) -> None:
    access = _json(
        logs(
            "--filter",
            "type=api,name=user-pii",
            "--filter",
            "security=true",
            "--since=24h",
            "--format",
            "json",
        )
    )
    assert [event["request_id"] for event in access] == ["def123", "ghi456", "jkl789", "mno012"]
    assert [event.get("principal") for event in access[:2]] == [
        "user@example.com",
        "admin@example.com",
    ]

    failures = _json(
        logs(
            "--filter",
            "security=auth_failure",
            "--level=warn,error",
            "--since=7d",
            "--format",
            "json",
        )
    )
    assert [event["request_id"] for event in failures] == ["old999", "jkl789", "mno012"]
    assert all(event["level"] == "warning" and event["auth"] == "failure" for event in failures)
    ips = Counter(str(event["client_ip"]) for event in failures)
    assert ips[stories.facts["us4_failed_ip"]] == 2  # repeated attempts from one IP

    report = tmp_path / "audit.csv"
    exported = logs("--filter", "type=api,name=user-pii", "--format=csv", f"--output={report}")
    assert exported.code == 0
    assert exported.out == ""
    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    expected = [
        event
        for event in stories.ledger
        if event.get("type") == "api" and event.get("name") == "user-pii"
    ]
    assert len(rows) == len(expected)
    header = next(csv.reader(io.StringIO(report.read_text())))
    assert header[:5] == ["timestamp", "level", "service", "type", "name"]
    granted = [row for row in rows if row["auth"] == "success"]
    assert {(row["principal"], row["client_ip"], row["http_status"]) for row in granted} == {
        ("user@example.com", "192.168.1.100", "200"),
        ("admin@example.com", "10.0.1.50", "200"),
    }
    assert [row["timestamp"] for row in rows] == sorted(row["timestamp"] for row in rows)


def test_us5_sync_lag_and_slow_inserts(logs: Logs) -> None:
    metrics = logs("--filter", "layer=sync,consumer_group=clickhouse_sync", "--include-metrics")
    synced = [line for line in metrics.lines if "Sync: clickhouse_sync" in line]
    assert len(synced) == 2
    assert "batch_size=10000" in synced[0]
    assert "throughput=22222" in synced[0]
    assert "latency_ms=8500" in synced[1]
    assert "[WARN]" in synced[1]
    assert "  ↳ ClickHouse insert slow, possible load issue" in metrics.lines

    slow = _json(logs("--filter", "layer=sync", "--filter", "latency_ms:>1000", "--format", "json"))
    assert [event["latency_ms"] for event in slow] == [8500]

    inserts = _json(
        logs(
            "--filter",
            "layer=sync",
            "--filter",
            "operation=batch_insert",
            "--since=1h",
            "--format",
            "json",
        )
    )
    assert [(event["records"], event["duration_ms"]) for event in inserts] == [(10000, 8200)]


def test_us6_transform_lineage_payload_and_dlq(logs: Logs, stories: StoryCorpus) -> None:
    verbose = logs(
        "--filter", "type=transform,name=foo_to_bar", "--filter", "phase=runtime", "--verbose"
    )
    assert 'Input: {"id":"abc123","value":42,"timestamp":"2026-01-09T10:00:00Z"}' in verbose.out
    assert (
        '  Output: {"id":"abc123","computed":84,"processed_at":"2026-01-09T10:00:01Z"}'
        in verbose.lines
    )
    assert "source=Foo" in verbose.out
    assert "target=Bar" in verbose.out
    assert "kafka_offset=12346" in verbose.out

    record = logs(
        "--trace-kafka", "topic=Foo,partition=2,offset=12345", "--format", "json", "--flat"
    )
    events = _json(record)
    assert {event["trace_id"] for event in events} == {stories.foo_record_trace}
    assert [event["event"] for event in events] == [
        "request handled",
        "kafka produce",
        "record transformed",
        "kafka produce",
    ]
    assert events[-1]["kafka_topic"] == "Bar"

    failed = logs(
        "--filter", "type=transform,name=foo_to_bar", "--level=error", "--include-payload"
    )
    assert "[ERROR] Transform: foo_to_bar - transform failed" in failed.lines[0]
    assert failed.lines[1:] == [
        "  ↳ TypeError: Cannot read property 'value' of null",
        "  ↳ Sent to dead-letter queue: FooDeadLetter",
        '  Input: {"id":"def456","value":null,"timestamp":"2026-01-09T10:00:02Z"}',
        "  Stack: at compute() line 45",
        "         at run() line 12",
    ]
    plain = logs("--filter", "type=transform,name=foo_to_bar", "--level=error")
    assert "Input:" not in plain.out  # payloads only when asked for


def test_us7_deployment_phases_and_ddl(logs: Logs) -> None:
    phases = _json(
        logs(
            "--filter",
            "phase=planning,execution",
            "--filter",
            "layer=storage,streaming",
            "--format",
            "json",
        )
    )
    assert {event["phase"] for event in phases} == {"planning", "execution"}
    assert {event["layer"] for event in phases} <= {"storage", "streaming"}
    messages = [event["event"] for event in phases]
    assert messages.index("Detected schema change for table UserEvent") < messages.index(
        "Acquiring leadership lock"
    )
    assert "Pre-flight checks passed" not in messages  # validation phase
    assert "lock acquired" not in messages  # workflow layer

    ddl = _json(logs("--filter", "operation=ddl_*", "--since=5m", "--format", "json"))
    assert [event["operation"] for event in ddl] == ["ddl_add_column"]  # not 30 min ago, not "ddl"
    text = logs("--filter", "operation=ddl_*", "--since=5m")
    assert "Table: UserEvent - ddl applied" in text.out
    assert "duration_ms=1200" in text.out


def test_us8_errors_across_the_system(logs: Logs, stories: StoryCorpus) -> None:
    hour = _since(stories, hours=1)
    recent = [
        event for event in stories.ledger if event["level"] == "error" and _stamp(event) >= hour
    ]
    listed = _json(logs("--level=error", "--since=1h", "--format", "json"))
    assert len(listed) == len(recent)

    by_category = logs("--level=error", "--since=1h", "--group-by=error_category")
    expected = Counter(str(event["error_category"]) for event in recent)
    for category, count in expected.items():
        noun = "occurrence" if count == 1 else "occurrences"
        assert f"  {category}: {count} {noun}" in by_category.out
    first = by_category.lines[1].strip().split(":")[0]
    assert first == "timeout_error"  # the dominant pattern comes first

    grouped = _json(logs("--level=error", "--since=1h", "--group-by=layer", "--format", "json"))
    assert {str(row["layer"]): row["count"] for row in grouped} == dict(
        Counter(str(event["layer"]) for event in recent)
    )
    nested = logs("--level=error", "--since=1h", "--group-by=error_category,layer")
    assert "    └─ sync: 12" in nested.out
    assert "    └─ streaming: 3" in nested.out

    histogram = _json(logs("--level=error", "--since=24h", "--histogram=1h", "--format", "json"))
    day = [
        event
        for event in stories.ledger
        if event["level"] == "error" and _stamp(event) >= _since(stories, hours=24)
    ]
    assert sum(int(str(row["count"])) for row in histogram) == len(day)
    # Every hour of the day is a row, quiet ones as 0, in the export as on the chart.
    assert len(histogram) in (24, 25)
    assert any(row["count"] == 0 for row in histogram)
    bars = logs("--level=error", "--since=24h", "--histogram=1h")
    assert "█" in bars.out
    assert len([line for line in bars.lines if line[:4].isdigit()]) == len(histogram)


def test_us9_workflow_run_with_a_retried_task(logs: Logs, stories: StoryCorpus) -> None:
    workflow = _json(logs("--filter", "type=workflow,name=data_refresh", "--format", "json"))
    assert [
        event.get("status")
        for event in workflow
        if event.get("workflow_run_id") == stories.workflow_run_id
    ] == [
        "started",
        "retrying",
        "completed",
    ]

    task = logs("--filter", "type=task,name=fetch_external_data")
    assert (
        "  ↳ ConnectionError: External API unreachable: https://api.example.com/data" in task.lines
    )
    assert "calling https://api.example.com/data" in task.out  # the task's structured print line
    statuses = [
        event.get("status")
        for event in _json(
            logs("--filter", "type=task,name=fetch_external_data", "--format", "json")
        )
    ]
    assert [status for status in statuses if status] == ["started", "failed", "started", "success"]

    run = _json(logs("--filter", f"workflow_run_id={stories.workflow_run_id}", "--format", "json"))
    assert len(run) == 9
    assert all(event["workflow_run_id"] == stories.workflow_run_id for event in run)
    assert run[0]["event"] == "workflow started"
    assert run[-1]["event"] == "workflow completed"


def test_us10_before_and_after_a_deployment(logs: Logs, stories: StoryCorpus) -> None:
    before = _json(
        logs(
            "--filter",
            "type=transform,name=user_enrichment",
            "--since=2d",
            "--until=1d",
            "--include-metrics",
            "--format",
            "json",
        )
    )
    after = _json(
        logs(
            "--filter",
            "type=transform,name=user_enrichment",
            "--since=1d",
            "--include-metrics",
            "--format",
            "json",
        )
    )
    assert len(before) == 200
    assert len(after) == 300
    shown = logs(
        "--filter", "type=transform,name=user_enrichment", "--since=1d", "--include-metrics"
    )
    assert "batch_size=1000" in shown.out
    assert "throughput=" in shown.out

    compared = logs(
        "--filter",
        "type=transform,name=user_enrichment",
        "--compare",
        "before=2d-1d",
        "after=1d-now",
    )
    assert compared.code == 0
    facts = stories.facts
    slow, fast = facts["us10_before"]["latencies"], facts["us10_after"]["latencies"]
    change = (statistics.mean(fast) - statistics.mean(slow)) / statistics.mean(slow)
    assert f"  Average latency: {statistics.mean(slow):,.0f}ms" in compared.lines
    assert f"  Average latency: {statistics.mean(fast):,.0f}ms ({change:+.0%})" in compared.lines
    assert f"  P50 latency: {statistics.median(fast):,.0f}ms" in compared.out
    assert "  Error rate: 1.0%" in compared.lines
    assert compared.lines[-1].startswith("✅ Performance improved")

    rows = _json(
        logs(
            "--filter",
            "type=transform,name=user_enrichment",
            "--compare",
            "before=2d-1d",
            "after=1d-now",
            "--format",
            "json",
        )
    )
    assert [row["window"] for row in rows] == ["before", "after"]
    assert [row["count"] for row in rows] == [200, 300]
    assert rows[1]["latency_avg_ms_change_pct"] < -50
    assert rows[1]["throughput_change_pct"] > 100
