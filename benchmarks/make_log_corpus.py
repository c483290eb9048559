"""Generate a realistic JSON Lines log corpus for the query benchmarks.

    python benchmarks/make_log_corpus.py OUT_DIR [--lines 1000000] [--days 7] [--seed 7]

Writes one file per service and day (``<service>-YYYY-MM-DD.jsonl``, the SDK's naming) with the
SDK's field names: traces of HTTP ingest → Kafka produce → transform → sync consume → insert,
batch insert lines listing ``trace_ids``, errors with categories and signatures, a few lines of
the Rust side's tracing JSON, and a few malformed lines. About 380 bytes a line on average, so
1,000,000 lines make about 380 MB. Prints the path of ``needle.json``: trace ids to look up.
"""

from __future__ import annotations

import argparse
import random
import sys
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

SERVICES = ("ingest", "transform", "sync", "api")
CATEGORIES = (
    ("timeout_error", "storage", "TimeoutError", "ClickHouse query timeout after 5000ms"),
    ("connection_error", "streaming", "ConnectionError", "Kafka broker 127.0.0.1:9092 unreachable"),
    ("type_conversion_error", "sync", "TypeConversionError", "Field 'timestamp' expects DateTime"),
    ("authentication_error", "webserver", "AuthError", "JWT expired"),
)


def uuid7_at(moment: datetime, rng: random.Random) -> str:
    """Return a UUIDv7 whose time part is ``moment`` (as the SDK would have made then)."""
    ms = int(moment.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _span(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _trace_events(moment: datetime, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """Return one ingest trace's events, each with the service that writes it."""
    trace_id = uuid7_at(moment, rng)
    request_id = f"req-{rng.getrandbits(40):010x}"
    partition, offset = rng.randrange(8), rng.randrange(10_000_000)
    base = {"trace_id": trace_id}
    step = timedelta(milliseconds=rng.randrange(1, 40))
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "ingest",
            {
                "event": "request handled",
                "level": "info",
                "type": "ingest",
                "name": "UserEvent",
                "layer": "webserver",
                "http_method": "POST",
                "http_path": "/ingest/UserEvent",
                "http_status": 200,
                "latency_ms": round(rng.uniform(1, 40), 2),
                "request_id": request_id,
                "client_ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            },
        ),
        (
            "ingest",
            {
                "event": "kafka produce",
                "level": "debug",
                "type": "stream",
                "name": "UserEvent",
                "layer": "streaming",
                "operation": "produce",
                "kafka_topic": "UserEvent",
                "kafka_partition": partition,
                "kafka_offset": offset,
                "request_id": request_id,
            },
        ),
        (
            "transform",
            {
                "event": "transform processed record",
                "level": "info",
                "type": "transform",
                "name": "user_event_to_session",
                "layer": "streaming",
                "phase": "runtime",
                "source": "UserEvent",
                "target": "Session",
                "kafka_topic": "UserEvent",
                "kafka_partition": partition,
                "kafka_offset": offset,
                "latency_ms": round(rng.lognormvariate(4, 0.8), 2),
                "batch_size": 1,
            },
        ),
    ]
    if rng.random() < 0.05:
        category, layer, error_type, message = rng.choice(CATEGORIES)
        events.append(
            (
                "sync",
                {
                    "event": "insert failed",
                    "level": "error",
                    "type": "olap_table",
                    "name": "UserEvent",
                    "layer": layer,
                    "operation": "insert",
                    "status": "failed",
                    "error_category": category,
                    "error_type": error_type,
                    "error_message": message,
                    "error_signature": f"v1_{zlib.crc32(message.encode()):08x}",
                    "latency_ms": round(rng.uniform(100, 6000), 2),
                },
            )
        )
    out = []
    for index, (service, fields) in enumerate(events):
        event = {
            "timestamp": _stamp(moment + step * index),
            "service": service,
            **base,
            "span_id": _span(rng),
            **fields,
        }
        out.append((service, event))
    return out


def _batch_event(moment: datetime, trace_ids: list[str], rng: random.Random) -> dict[str, Any]:
    return {
        "timestamp": _stamp(moment),
        "service": "sync",
        "level": "info",
        "event": "batch inserted",
        "type": "sync",
        "name": "clickhouse_sync",
        "layer": "sync",
        "operation": "batch_insert",
        "consumer_group": "clickhouse_sync",
        "kafka_topic": "UserEvent",
        "batch_size": len(trace_ids),
        "records": len(trace_ids),
        "latency_ms": round(rng.uniform(50, 900), 2),
        "trace_ids": trace_ids,
    }


def _rust_event(moment: datetime, trace_id: str) -> dict[str, Any]:
    return {
        "timestamp": _stamp(moment),
        "level": "INFO",
        "fields": {"message": "consumed message", "kafka_partition": 1},
        "target": "moose_cli::infrastructure::stream",
        "span": {"name": "sync", "trace_id": trace_id, "layer": "sync"},
    }


_LINES_PER_TRACE = 3.1
"""About how many lines one trace writes (3, a 5 % error line, a batch line per 40 traces)."""


class _Files:
    """One open file per service and UTC day."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.handles: dict[str, Any] = {}

    def write(self, service: str, day: str, data: bytes) -> None:
        name = f"{service}-{day}.jsonl"
        handle = self.handles.get(name)
        if handle is None:
            handle = self.handles[name] = open(self.out_dir / name, "ab")  # noqa: SIM115
        handle.write(data)

    def event(self, service: str, event: dict[str, Any]) -> int:
        self.write(service, event["timestamp"][:10], orjson.dumps(event) + b"\n")
        return 1

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


def generate(out_dir: Path, lines: int, days: int, seed: int) -> dict[str, Any]:
    """Write the corpus into ``out_dir``; return a trace id to look up (from the middle)."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    moment = now - timedelta(days=days)
    spacing = timedelta(days=days) / (lines / _LINES_PER_TRACE)
    files = _Files(out_dir)
    written = 0
    needles: dict[str, Any] = {}
    pending: list[str] = []
    while written < lines:
        moment += spacing
        trace_id = ""
        for service, event in _trace_events(moment, rng):
            written += files.event(service, event)
            trace_id = event["trace_id"]
        pending.append(trace_id)
        if len(pending) == 40:
            written += files.event("sync", _batch_event(moment, pending, rng))
            pending = []
        if rng.random() < 0.01:
            written += files.event("rust", _rust_event(moment, trace_id))
        if rng.random() < 0.001:
            files.write("ingest", moment.strftime("%Y-%m-%d"), b"panic: not json at all {\n")
            written += 1
        if written >= lines // 2 and "trace_id" not in needles:
            needles["trace_id"] = trace_id
    files.close()
    (out_dir / "needle.json").write_bytes(orjson.dumps(needles))
    return needles


def main(argv: list[str] | None = None) -> int:
    """Generate the corpus named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if any(args.out_dir.glob("*.jsonl")):
        print(
            f"{args.out_dir} already holds .jsonl files: choose an empty directory", file=sys.stderr
        )
        return 2
    generate(args.out_dir, args.lines, args.days, args.seed)
    print(args.out_dir / "needle.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
