"""One retention policy, two stores: chDB's TTL and ``prune`` on files keep the same events.

Judged by what each store still holds after retention ran — not by the SQL text — for the
default policy and for others (a long-kept level with a short catch-all, levels sharing the
catch-all's days, all levels alike), with events just inside, just outside and exactly on each
level's boundary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from moose_trace.commands.prune import prune_log_dir
from moose_trace.store.clickhouse.schema import ddl
from moose_trace.store.clickhouse.transport import ChdbTransport
from moose_trace.store.retention import DEFAULT_RETENTION, RetentionPolicy, parse_retention

LEVELS = ["debug", "info", "warning", "WARN", "error", "critical", "notice", "TRACE"]
POLICIES = {
    "default": DEFAULT_RETENTION,
    "error=90d,*=10d": RetentionPolicy({"error": 90}, default_days=10),
    "debug=2d,info=5d,warning=5d,*=20d": parse_retention("debug=2d,info=5d,warning=5d,*=20d"),
    "all 3 days": RetentionPolicy({"info": 3, "error": 3}, default_days=3),
}
MARGIN = timedelta(hours=1)  # far beyond the time between inserting and OPTIMIZE


@pytest.fixture
def transport(tmp_path: Path) -> Iterator[ChdbTransport]:
    """A real chDB data directory of the test's own."""
    opened = ChdbTransport(f"chdb://{tmp_path / 'chdb'}")
    yield opened
    opened.close()


def _events(policy: RetentionPolicy, now: datetime) -> list[dict[str, str]]:
    """For each level: one event inside its retention, one outside, and one 20 days old."""
    events = []
    for level in LEVELS:
        days = timedelta(days=policy.days_for(level))
        for name, age in (("inside", days - MARGIN), ("outside", days + MARGIN)):
            stamp = (now - age).isoformat().replace("+00:00", "Z")
            events.append({"timestamp": stamp, "level": level, "event": f"{level} {name}"})
        stamp = (now - timedelta(days=20)).isoformat().replace("+00:00", "Z")
        events.append({"timestamp": stamp, "level": level, "event": f"{level} 20d"})
    return events


def _expected(policy: RetentionPolicy, now: datetime) -> list[str]:
    kept = []
    for event in _events(policy, now):
        stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        if now - stamp < timedelta(days=policy.days_for(event["level"])):
            kept.append(event["event"])
    return sorted(kept)


@pytest.mark.parametrize("name", list(POLICIES))
def test_chdb_and_files_keep_the_same_events(
    name: str, transport: ChdbTransport, tmp_path: Path
) -> None:
    policy = POLICIES[name]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    events = _events(policy, now)

    for statement in ddl("moose_logs", retention=policy):
        transport.execute(statement)
    transport.insert(
        "moose_logs",
        b"\n".join(orjson.dumps(event) for event in events),
        fmt="JSONAsString",
        columns=("raw",),
    )
    transport.execute("OPTIMIZE TABLE moose_logs FINAL")  # merges apply the TTL
    in_chdb = sorted(row["event"] for row in transport.query("SELECT event FROM moose_logs"))

    logs = tmp_path / "logs"
    logs.mkdir()
    by_day: dict[str, list[dict[str, str]]] = {}
    for event in events:  # as the SDK writes them: each into the daily file of its date
        by_day.setdefault(event["timestamp"][:10], []).append(event)
    for day, written in by_day.items():
        path = logs / f"svc-{day}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in written))
        last = max(datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in written)
        os.utime(path, (last.timestamp(), last.timestamp()))
    prune_log_dir(logs, retention=policy, now=now)
    in_files = sorted(
        orjson.loads(line)["event"]
        for path in logs.glob("*.jsonl")
        for line in path.read_bytes().splitlines()
    )

    assert in_chdb == in_files == _expected(policy, now)
    if name == "error=90d,*=10d":
        assert "error 20d" in in_chdb  # the error level's 90 days, not the catch-all's 10
        assert "notice 20d" not in in_chdb


def test_an_event_exactly_on_the_boundary_is_gone_in_both_stores(
    transport: ChdbTransport, tmp_path: Path
) -> None:
    policy = RetentionPolicy({"error": 90}, default_days=10)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    boundary = {
        "timestamp": (now - timedelta(days=10)).isoformat().replace("+00:00", "Z"),
        "level": "info",
        "event": "exactly 10 days",
    }
    for statement in ddl("moose_logs", retention=policy):
        transport.execute(statement)
    transport.insert("moose_logs", orjson.dumps(boundary), fmt="JSONAsString", columns=("raw",))
    transport.execute("OPTIMIZE TABLE moose_logs FINAL")
    assert transport.query("SELECT event FROM moose_logs") == []
    assert policy.is_expired("info", now - timedelta(days=10), now)


@pytest.mark.parametrize(
    ("age", "expired"),
    [
        (timedelta(days=10) - timedelta(seconds=1), False),
        # The boundary's own second: ClickHouse's toDateTime drops the fraction, so does prune.
        (timedelta(days=10) - timedelta(microseconds=1), True),
        (timedelta(days=10), True),
        (timedelta(days=10, microseconds=1), True),
    ],
)
def test_is_expired_at_the_boundary(age: timedelta, expired: bool) -> None:
    policy = RetentionPolicy({"error": 90}, default_days=10)
    now = datetime(2026, 3, 20, 12, 0, 0, 500_000, tzinfo=timezone.utc)
    assert policy.is_expired("info", now - age, now) is expired
    assert policy.is_expired("error", now - age, now) is False
