"""A log corpus holding every user story's situation, written the way the SDK writes logs.

Events go through structlog (contextvars merged, level added, orjson JSON Lines) inside
``moose_trace.trace_context``, one daily file per service, with the field names of the schema.
Timestamps come from a clock the builder sets, so each story's events sit where its commands
look (``--since 10m``, ``before=2d-1d``, …) relative to ``now``.

Writing goes through ``CorpusWriter.log`` only: switching the corpus to the SDK's own
``configure_logging`` and decorators changes that one place.

Besides the SDK's lines the corpus holds what real log directories hold: the Rust side's
tracing JSON and Moose's structured print lines for the same traces, a malformed line, an empty
file, a gzipped older file, and a file whose last line is still being written.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import structlog
from structlog.contextvars import merge_contextvars

from moose_trace.errors.signature import error_signature
from moose_trace.tracing.context import trace_context
from moose_trace.tracing.ids import new_trace_id

MALFORMED_LINES = 1
"""Lines in the corpus that are not JSON log events (the partial last line is not one)."""


def iso(moment: datetime) -> str:
    """Return a timestamp as the SDK writes it: ISO 8601, UTC, microseconds, ``Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _DailyFiles:
    """A structlog logger writing rendered lines to ``<service>-<UTC date of the event>.jsonl``."""

    def __init__(self, directory: Path, service: str, clock: _Clock) -> None:
        self.directory = directory
        self.service = service
        self.clock = clock

    def msg(self, line: bytes) -> None:
        day = self.clock.now.strftime("%Y-%m-%d")
        with open(self.directory / f"{self.service}-{day}.jsonl", "ab") as file:
            file.write(line + b"\n")

    debug = info = warning = warn = error = critical = exception = msg


@dataclass
class _Clock:
    now: datetime


@dataclass
class CorpusWriter:
    """Writes log events for several services into one directory, at chosen times."""

    directory: Path
    clock: _Clock
    ledger: list[dict[str, Any]] = field(default_factory=list)
    """Every SDK event written, as the test's independent record of the corpus."""

    def _logger(self, service: str) -> Any:
        def stamp(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
            event["timestamp"] = iso(self.clock.now)
            event["service"] = service
            self.ledger.append(dict(event))
            return event

        return structlog.wrap_logger(
            _DailyFiles(self.directory, service, self.clock),
            processors=[
                merge_contextvars,
                structlog.processors.add_log_level,
                stamp,
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
        )

    def log(self, service: str, level: str, at: datetime, event: str, **fields: Any) -> None:
        """Write one event of ``service`` at time ``at`` (inside any open trace context)."""
        self.clock.now = at
        getattr(self._logger(service), level)(event, **fields)

    def raw(self, name: str, line: bytes | str) -> None:
        """Append a line as another writer (or a broken one) would."""
        data = line.encode() if isinstance(line, str) else line
        with open(self.directory / name, "ab") as file:
            file.write(data)


def _error(error_type: str, message: str, category: str) -> dict[str, Any]:
    return {
        "error_type": error_type,
        "error_message": message,
        "error_category": category,
        "error_signature": error_signature(error_type, message),
    }


@dataclass
class StoryCorpus:
    """The corpus directory and the facts each story's test asserts on."""

    directory: Path
    now: datetime
    ledger: list[dict[str, Any]]
    failed_ingest_trace: str = ""
    """US-1: the trace of the ingest whose insert failed."""
    ok_ingest_trace: str = ""
    foo_record_trace: str = ""
    """US-6: the trace of the Kafka record Foo/2/12345."""
    workflow_run_id: str = "abc123-def456"
    other_run_id: str = "zzz999-yyy888"
    facts: dict[str, Any] = field(default_factory=dict)


def _minutes(now: datetime, minutes: float) -> datetime:
    return now - timedelta(minutes=minutes)


def _us1(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """An ingest accepted over HTTP, produced, consumed by the sync — and refused on insert."""
    now = corpus.now
    failed, ok = new_trace_id(), new_trace_id()
    corpus.failed_ingest_trace, corpus.ok_ingest_trace = failed, ok
    for trace_id, offset, start in ((ok, 45677, 40), (failed, 45678, 30)):
        t0 = _minutes(now, start)
        http = {"type": "ingest", "name": "UserEvent", "pipeline": "UserEventPipeline"}
        with trace_context(trace_id, layer="webserver", request_id=f"req-{offset}", **http):
            w.log(
                "ingest",
                "info",
                t0,
                "request handled",
                http_method="POST",
                http_path="/ingest/UserEvent",
                http_status=200,
                latency_ms=12,
            )
        with trace_context(
            trace_id,
            type="stream",
            name="UserEvent",
            pipeline="UserEventPipeline",
            layer="streaming",
        ):
            w.log(
                "ingest",
                "debug",
                t0 + timedelta(milliseconds=5),
                "kafka produce",
                operation="produce",
                kafka_topic="UserEvent",
                kafka_partition=2,
                kafka_offset=offset,
            )
        with trace_context(
            trace_id,
            type="olap_table",
            name="UserEvent",
            layer="sync",
            consumer_group="clickhouse_sync",
        ):
            w.log(
                "sync",
                "info",
                t0 + timedelta(milliseconds=60),
                "consumed message",
                kafka_topic="UserEvent",
                kafka_partition=2,
                kafka_offset=offset,
            )
    # The Rust webserver logs the same request: its trace id sits in a span, as 32 hex digits.
    w.raw(
        f"moose-cli-{_minutes(now, 30).strftime('%Y-%m-%d')}.jsonl",
        orjson.dumps(
            {
                "timestamp": iso(_minutes(now, 30) + timedelta(milliseconds=1)),
                "level": "INFO",
                "fields": {"message": "ingest accepted", "http_status": 200},
                "target": "moose_cli::webserver",
                "span": {"name": "ingest", "route": "/ingest/UserEvent"},
                "spans": [{"name": "request", "trace_id": failed.replace("-", "").upper()}],
            }
        )
        + b"\n",
    )
    batch = [ok, failed, new_trace_id()]
    with trace_context(type="olap_table", name="UserEvent", layer="storage", table="UserEvent"):
        w.log(
            "sync",
            "error",
            _minutes(now, 29),
            "clickhouse insert failed",
            operation="batch_insert",
            trace_ids=batch,
            records=len(batch),
            **_error(
                "TypeConversionError",
                "Field 'timestamp' expects DateTime but got String",
                "type_conversion_error",
            ),
        )


def _us2(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """A transform slowed down by an external API call, with a retry."""
    now = corpus.now
    name = {"type": "transform", "name": "user_event_to_session", "layer": "streaming"}
    for minutes, level, latency, extra in (
        (50, "info", 245, {}),
        (49, "info", 1340, {}),
        (
            48,
            "warning",
            2100,
            {"hint": "External API call to analytics.example.com took 1850ms (potential issue)"},
        ),
    ):
        with trace_context(new_trace_id(), **name):
            w.log(
                "transform",
                level,
                _minutes(now, minutes),
                "batch processed",
                batch_size=100,
                latency_ms=latency,
                **extra,
            )
    with trace_context(new_trace_id(), **name):
        w.log("transform", "debug", _minutes(now, 47), "retrying", retry_count=2, backoff_ms=4000)
    with trace_context(new_trace_id(), type="transform", name="session_rollup", layer="streaming"):
        w.log(
            "transform", "info", _minutes(now, 46), "batch processed", batch_size=10, latency_ms=80
        )
    with trace_context(new_trace_id(), type="api", name="reports", layer="webserver"):
        w.log("api", "info", _minutes(now, 46), "request handled", http_status=200, latency_ms=1500)


def _us3(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """The leaderboard API times out: ClickHouse's connection pool is exhausted."""
    now = corpus.now
    api = {"type": "api", "name": "leaderboard", "layer": "webserver"}
    query = "SELECT * FROM leaderboard WHERE date >= '2026-01-09' ORDER BY score DESC LIMIT 100"
    timeout = _error("TimeoutError", "ClickHouse query timeout after 5000ms", "timeout_error")
    for minutes, request_id, status, latency in (
        (25, "old111", 500, 5010),
        (6, "ok001", 200, 40),
        (5, "xyz789", 500, 5023),
        (4, "abc456", 500, 5021),
        (3, "ok002", 200, 35),
    ):
        errors = {**timeout, "query": query} if status == 500 else {}
        with trace_context(new_trace_id(), request_id=request_id, **api):
            w.log(
                "api",
                "error" if status == 500 else "info",
                _minutes(now, minutes),
                "request failed" if status == 500 else "request handled",
                http_method="GET",
                http_path="/consumption/leaderboard",
                http_status=status,
                latency_ms=latency,
                **errors,
            )
            if status == 500:
                w.log(
                    "api",
                    "error",
                    _minutes(now, minutes) - timedelta(milliseconds=2),
                    "query timed out",
                    layer="storage",
                    type="olap_table",
                    operation="query",
                    latency_ms=5001,
                    **timeout,
                )
    with trace_context(type="clickhouse", name="leaderboard", layer="storage"):
        w.log(
            "api",
            "info",
            _minutes(now, 2),
            "ClickHouse diagnostics",
            active_queries=15,
            slow_queries=12,
            connection_pool="10/10 (saturated)",
            hint="Potential issue: Connection pool exhausted",
        )


def _us4(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """Who read /consumption/user-pii, and the failed attempts from one IP."""
    now = corpus.now
    api = {"type": "api", "name": "user-pii", "layer": "webserver"}
    accesses = (
        (300, "def123", "success", "user@example.com", "192.168.1.100", 200, None),
        (200, "ghi456", "success", "admin@example.com", "10.0.1.50", 200, None),
        (100, "jkl789", "failure", None, "203.0.113.42", 401, "expired_token"),
        (90, "mno012", "failure", None, "203.0.113.42", 401, "invalid_signature"),
    )
    for minutes, request_id, auth, principal, ip, status, reason in accesses:
        fields: dict[str, Any] = {
            "http_method": "GET",
            "http_path": "/consumption/user-pii",
            "http_status": status,
            "auth": auth,
            "client_ip": ip,
            "security": True if auth == "success" else "auth_failure",
        }
        if principal:
            fields["principal"] = principal
        if reason:
            fields["reason"] = reason
        with trace_context(new_trace_id(), request_id=request_id, **api):
            w.log(
                "api",
                "info" if auth == "success" else "warning",
                _minutes(now, minutes),
                "access granted" if auth == "success" else "access denied",
                **fields,
            )
    with trace_context(new_trace_id(), request_id="old999", **api):
        w.log(
            "api",
            "warning",
            now - timedelta(days=3),
            "access denied",
            auth="failure",
            reason="expired_token",
            client_ip="198.51.100.7",
            http_status=401,
            security="auth_failure",
        )
    with trace_context(new_trace_id(), **api):
        w.log("api", "debug", _minutes(now, 80), "cache refreshed", rows=120)
    corpus.facts["us4_failed_ip"] = "203.0.113.42"


def _us5(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """The clickhouse_sync consumer falls behind while ClickHouse merges."""
    now = corpus.now
    sync = {
        "type": "sync",
        "name": "clickhouse_sync",
        "layer": "sync",
        "consumer_group": "clickhouse_sync",
    }
    for minutes, level, latency, throughput, extra in (
        (40, "info", 450, 22222, {}),
        (20, "warning", 8500, 1176, {"hint": "ClickHouse insert slow, possible load issue"}),
    ):
        with trace_context(**sync):
            w.log(
                "sync",
                level,
                _minutes(now, minutes),
                "batch synced",
                kafka_topic="UserEvent",
                batch_size=10000,
                latency_ms=latency,
                throughput=throughput,
                **extra,
            )
    for minutes, duration in ((150, 300), (19, 8200)):
        with trace_context(type="clickhouse", name="batch_insert", layer="sync"):
            w.log(
                "sync",
                "info",
                _minutes(now, minutes),
                "batch inserted",
                operation="batch_insert",
                table="UserEvent",
                records=10000,
                duration_ms=duration,
                retry_count=0,
            )
    with trace_context(type="clickhouse", name="diagnostics", layer="storage"):
        w.log(
            "sync",
            "debug",
            _minutes(now, 18),
            "ClickHouse diagnostics",
            pending_merges=45,
            running_merges=8,
            merge_queue_size=250,
            hint="High merge activity may be causing slowdown",
        )


def _us6(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """foo_to_bar turns Foo records into Bar records; a null value sends one to the DLQ."""
    now = corpus.now
    good, bad = new_trace_id(), new_trace_id()
    corpus.foo_record_trace = good
    t0 = _minutes(now, 70)
    with trace_context(good, type="ingest", name="Foo", layer="webserver"):
        w.log("ingest", "info", t0, "request handled", http_status=200, latency_ms=3)
        w.log(
            "ingest",
            "debug",
            t0 + timedelta(milliseconds=4),
            "kafka produce",
            layer="streaming",
            type="stream",
            kafka_topic="Foo",
            kafka_partition=2,
            kafka_offset=12345,
        )
    transform = {
        "type": "transform",
        "name": "foo_to_bar",
        "layer": "streaming",
        "phase": "runtime",
        "source": "Foo",
        "target": "Bar",
        "kafka_topic": "Foo",
        "kafka_partition": 2,
    }
    with trace_context(good, **transform):
        w.log(
            "transform",
            "debug",
            t0 + timedelta(milliseconds=30),
            "record transformed",
            kafka_offset=12345,
            payload={
                "input": {"id": "abc123", "value": 42, "timestamp": "2026-01-09T10:00:00Z"},
                "output": {"id": "abc123", "computed": 84, "processed_at": "2026-01-09T10:00:01Z"},
            },
        )
    with trace_context(bad, **transform):
        w.log(
            "transform",
            "error",
            t0 + timedelta(seconds=2),
            "transform failed",
            kafka_offset=12346,
            dlq="FooDeadLetter",
            stack="at compute() line 45\nat run() line 12",
            payload={"input": {"id": "def456", "value": None, "timestamp": "2026-01-09T10:00:02Z"}},
            **_error("TypeError", "Cannot read property 'value' of null", "code_error"),
        )
    with trace_context(good, type="stream", name="Bar", layer="streaming"):
        w.log(
            "transform",
            "debug",
            t0 + timedelta(milliseconds=35),
            "kafka produce",
            kafka_topic="Bar",
            kafka_partition=0,
            kafka_offset=777,
        )
    with trace_context(new_trace_id(), type="stream", name="Foo", layer="streaming"):
        w.log(
            "ingest",
            "debug",
            t0,
            "kafka produce",
            kafka_topic="Foo",
            kafka_partition=3,
            kafka_offset=12345,
        )


def _us7(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """A deployment adds a column: planning, validation, execution under a lock."""
    now = corpus.now
    steps = (
        (4.0, "planning", "storage", "Detected schema change for table UserEvent", {}),
        (3.9, "planning", "storage", 'Change: add_column "session_id" String', {}),
        (3.8, "validation", "storage", "Pre-flight checks passed", {}),
        (3.7, "execution", "storage", "Acquiring leadership lock", {}),
        (
            3.5,
            "execution",
            "storage",
            "Executing DDL: ALTER TABLE UserEvent ADD COLUMN session_id String",
            {},
        ),
        (3.2, "execution", "streaming", "Releasing leadership lock", {}),
        (3.1, "execution", "storage", "Infrastructure changes applied successfully", {}),
    )
    for minutes, phase, layer, message, extra in steps:
        with trace_context(phase=phase, layer=layer):
            w.log("deploy", "info", _minutes(now, minutes), message, **extra)
    with trace_context(type="redis", name="lock_acquire", layer="workflow", phase="execution"):
        w.log(
            "deploy",
            "debug",
            _minutes(now, 3.6),
            "lock acquired",
            lock_id="infra_ddl",
            instance_id="abc123",
            ttl="15s",
            status="acquired",
        )
    for minutes, operation in ((3.4, "ddl_add_column"), (30, "ddl_create_table")):
        with trace_context(type="olap_table", name="UserEvent", layer="storage", phase="execution"):
            w.log(
                "deploy",
                "info",
                _minutes(now, minutes),
                "ddl applied",
                operation=operation,
                table="UserEvent",
                column="session_id",
                duration_ms=1200,
                status="success",
            )
    with trace_context(type="olap_table", name="UserEvent", layer="storage"):
        w.log("deploy", "info", _minutes(now, 3.3), "ddl checked", operation="ddl")


def _us8(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """An hour of intermittent errors across layers, and older errors outside the hour."""
    now = corpus.now
    burst = (
        (
            "storage",
            "olap_table",
            "leaderboard",
            42,
            "TimeoutError",
            "ClickHouse query timeout after 5000ms",
            "timeout_error",
        ),
        (
            "streaming",
            "stream",
            "UserEvent",
            3,
            "KafkaTimeoutError",
            "Kafka produce timeout",
            "timeout_error",
        ),
        (
            "sync",
            "olap_table",
            "UserEvent",
            12,
            "TypeConversionError",
            "String to DateTime conversion failed",
            "type_conversion_error",
        ),
        (
            "webserver",
            "api",
            "user-pii",
            8,
            "AuthenticationError",
            "JWT expired",
            "authentication_error",
        ),
    )
    for layer, kind, name, count, error_type, message, category in burst:
        for index in range(count):
            with trace_context(new_trace_id(), type=kind, name=name, layer=layer):
                w.log(
                    "errors",
                    "error",
                    _minutes(now, 55 - index * 50 / count),
                    "operation failed",
                    **_error(error_type, message, category),
                )
    for hours in (2, 5, 20, 30):
        with trace_context(new_trace_id(), type="olap_table", name="leaderboard", layer="storage"):
            w.log(
                "errors",
                "error",
                now - timedelta(hours=hours),
                "operation failed",
                **_error("TimeoutError", "ClickHouse query timeout after 5000ms", "timeout_error"),
            )


def _us9(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """A data_refresh run whose first fetch fails and is retried."""
    now = corpus.now
    run = corpus.workflow_run_id
    steps: list[tuple[float, str, str, str, str, dict[str, Any]]] = [
        (60, "workflow", "data_refresh", "info", "started", {"run_id": run}),
        (59.9, "task", "fetch_external_data", "info", "started", {}),
        (
            59.5,
            "task",
            "fetch_external_data",
            "error",
            "failed",
            _error(
                "ConnectionError",
                "External API unreachable: https://api.example.com/data",
                "connection_error",
            ),
        ),
        (
            59.4,
            "workflow",
            "data_refresh",
            "info",
            "retrying",
            {"run_id": run, "retry_count": 1, "backoff": "60s"},
        ),
        (58.4, "task", "fetch_external_data", "info", "started", {}),
        (58.0, "task", "fetch_external_data", "info", "success", {"duration_ms": 2300}),
        (57.9, "task", "load_to_clickhouse", "info", "started", {}),
        (57.0, "task", "load_to_clickhouse", "info", "success", {"records": 5000}),
        (56.9, "workflow", "data_refresh", "info", "completed", {"run_id": run}),
    ]
    trace_id = new_trace_id()
    for minutes, kind, name, level, status, extra in steps:
        with trace_context(trace_id, type=kind, name=name, layer="workflow", workflow_run_id=run):
            w.log(
                "workflow",
                level,
                _minutes(now, minutes + 30),  # well outside US-8's last hour
                f"{kind} {status}",
                status=status,
                **extra,
            )
    with trace_context(
        new_trace_id(),
        type="workflow",
        name="data_refresh",
        layer="workflow",
        workflow_run_id=corpus.other_run_id,
    ):
        w.log("workflow", "info", _minutes(now, 500), "workflow completed", status="completed")
    # The task's own print output, as Moose's Python task runner writes it.
    w.raw(
        f"moose-tasks-{_minutes(now, 89.7).strftime('%Y-%m-%d')}.jsonl",
        orjson.dumps(
            {
                "__moose_structured_log__": True,
                "level": "info",
                "message": "calling https://api.example.com/data",
                "task_name": "fetch_external_data",
                "timestamp": iso(_minutes(now, 89.7)),
            }
        )
        + b"\n",
    )


def _us10(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """user_enrichment before (slow) and after (fast) a deployment a day ago."""
    now = corpus.now
    transform = {"type": "transform", "name": "user_enrichment", "layer": "streaming"}
    windows = {
        "before": (now - timedelta(days=2), [300 + (i % 10) * 30 for i in range(200)], 2),
        "after": (now - timedelta(days=1), [120 + (i % 10) * 12 for i in range(300)], 1),
    }
    for label, (start, latencies, errors) in windows.items():
        step = timedelta(hours=23) / len(latencies)
        for index, latency in enumerate(latencies):
            level = "error" if index < errors else "info"
            with trace_context(new_trace_id(), **transform):
                w.log(
                    "enrichment",
                    level,
                    start + timedelta(minutes=30) + step * index,
                    "batch enriched",
                    batch_size=1000,
                    latency_ms=latency,
                    throughput=round(1000 / (latency / 1000)),
                )
        corpus.facts[f"us10_{label}"] = {"latencies": latencies, "errors": errors}


def _noise(w: CorpusWriter, corpus: StoryCorpus) -> None:
    """What else a log directory holds: chatter, a broken line, an empty file, a partial line."""
    now = corpus.now
    for minutes in range(0, 120, 7):
        with trace_context(new_trace_id(), type="api", name="health", layer="webserver"):
            w.log(
                "api",
                "debug",
                _minutes(now, minutes + 0.5),
                "health check",
                http_status=200,
                latency_ms=1,
            )
    w.raw(f"api-{now.strftime('%Y-%m-%d')}.jsonl", b"panic: runtime error: not a json line {\n")
    w.raw(f"empty-{now.strftime('%Y-%m-%d')}.jsonl", b"")
    w.raw(
        f"writing-{now.strftime('%Y-%m-%d')}.jsonl",
        orjson.dumps(
            {
                "timestamp": iso(_minutes(now, 1)),
                "level": "info",
                "event": "tick",
                "service": "writing",
            }
        )
        + b'\n{"timestamp": "'
        + iso(now).encode()
        + b'", "level": "in',
    )


def _compress_older_files(directory: Path, now: datetime) -> None:
    """gzip the files of days before yesterday, as log rotation would."""
    cutoff = (now - timedelta(days=1)).strftime("%Y-%m-%d")
    for path in sorted(directory.glob("*.jsonl")):
        day = path.stem[-10:]
        if day < cutoff:
            with (
                open(path, "rb") as plain,
                gzip.open(path.with_name(path.name + ".gz"), "wb") as packed,
            ):
                shutil.copyfileobj(plain, packed)
            path.unlink()


def build_story_corpus(directory: Path, now: datetime | None = None) -> StoryCorpus:
    """Write every story's situation into ``directory``; return the facts tests assert on."""
    directory.mkdir(parents=True, exist_ok=True)
    moment = now or datetime.now(timezone.utc)
    writer = CorpusWriter(directory, _Clock(moment))
    corpus = StoryCorpus(directory, moment, writer.ledger)
    for story in (_us1, _us2, _us3, _us4, _us5, _us6, _us7, _us8, _us9, _us10, _noise):
        story(writer, corpus)
    _compress_older_files(directory, moment)
    return corpus
