"""A small log directory the console tests know by heart.

One trace (``TRACE``) of four spans — an API request (root), a transform under it, a batch
insert under the transform that failed, and a Kafka produce under the request — with a quiet
stretch (a gap) between the produce and the transform; other traces around it; two events at the
same microsecond (paging must neither lose nor repeat them); a line that is not JSON; and an
event whose message is HTML that must never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

TRACE = "0193f0c2-7b1e-7c3a-9d2f-0123456789ab"
OTHER_TRACE = "0193f0c2-7b1e-7c3a-9d2f-00000000beef"
HOSTILE = "<img src=x onerror=alert(1)>"
ROOT, PRODUCE = "a000000000000001", "b000000000000002"
TRANSFORM, INSERT = "c000000000000003", "d000000000000004"


def iso(moment: datetime) -> str:
    """Return a timestamp as the SDK writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ConsoleCorpus:
    """The directory, the events written (in file order) and when the trace started."""

    directory: Path
    events: list[dict[str, Any]]
    start: datetime

    @property
    def file(self) -> Path:
        return self.directory / "app-2026-12-07.jsonl"

    def append(self, event: dict[str, Any]) -> None:
        """Append one event line to the log file, as a running service would."""
        with self.file.open("ab") as out:
            out.write(orjson.dumps(event) + b"\n")


def _span_events(start: datetime) -> list[dict[str, Any]]:
    at = lambda ms: iso(start + timedelta(milliseconds=ms))  # noqa: E731
    base = {"trace_id": TRACE}
    return [
        {**base, "timestamp": at(0), "level": "info", "service": "api", "event": "request received",
         "type": "api", "name": "ingest", "layer": "webserver", "span_id": ROOT},
        {**base, "timestamp": at(20), "level": "debug", "service": "api", "event": "kafka produce",
         "type": "stream", "name": "UserEvent", "layer": "streaming", "span_id": PRODUCE,
         "parent_span_id": ROOT, "latency_ms": 15},
        {**base, "timestamp": at(50), "level": "info", "service": "api", "event": "request handled",
         "type": "api", "name": "ingest", "layer": "webserver", "span_id": ROOT, "latency_ms": 50,
         "http_status": 200},
        {**base, "timestamp": at(300), "level": "info", "service": "transform",
         "event": "transform processed record", "type": "transform", "name": "enrich",
         "layer": "streaming", "span_id": TRANSFORM, "parent_span_id": ROOT, "latency_ms": 100},
        {**base, "timestamp": at(290), "level": "error", "service": "sync",
         "event": "insert failed", "type": "olap_table", "name": "UserEvent",
         "layer": "storage", "span_id": INSERT,
         "parent_span_id": TRANSFORM, "latency_ms": 60, "status": "failed",
         "error_category": "timeout_error", "error_type": "TimeoutError",
         "error_message": "ClickHouse query timeout after 5000ms", "error_signature": "v1_timeout"},
    ]  # fmt: skip


def build_console_corpus(directory: Path, now: datetime | None = None) -> ConsoleCorpus:
    """Write the corpus into ``directory``; its events end a minute before ``now``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(timezone.utc)
    start = now - timedelta(minutes=10)
    events: list[dict[str, Any]] = []
    for index in range(30):
        moment = start - timedelta(minutes=30) + timedelta(seconds=index * 30)
        events.append(
            {"timestamp": iso(moment), "level": "warning" if index % 10 == 0 else "info",
             "service": "ingest", "event": f"request {index}", "type": "api", "name": "health",
             "layer": "webserver", "latency_ms": 5 + index, "trace_id": OTHER_TRACE}
        )  # fmt: skip
    same = iso(start - timedelta(minutes=1))
    events += [
        {"timestamp": same, "level": "info", "service": "ingest", "event": "twin a", "type": "api"},
        {"timestamp": same, "level": "info", "service": "ingest", "event": "twin b", "type": "api"},
    ]
    events += _span_events(start)
    events.append(
        {"timestamp": iso(start + timedelta(seconds=5)), "level": "warning", "service": "api",
         "event": HOSTILE, "type": "api", "name": "ingest", "layer": "webserver"}
    )  # fmt: skip
    lines = [orjson.dumps(event) for event in events]
    lines.insert(5, b"this line is not JSON")
    path = directory / "app-2026-12-07.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return ConsoleCorpus(directory, events, start)
