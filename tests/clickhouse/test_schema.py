"""The moose_logs DDL on the real ClickHouse engine: columns, indexes, TTL, the trace side table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from moose_trace.query.ast import ListEvents, Query, Search
from moose_trace.query.clickhouse_engine import ClickHouseEngine
from moose_trace.query.results import EventsResult
from moose_trace.query.search import search_needle
from moose_trace.store.clickhouse.schema import (
    INDEX_GRANULARITY,
    SEARCH_NGRAM_BYTES,
    cluster_ddl,
    ddl,
    table_names,
    ttl_clause,
)
from moose_trace.store.clickhouse.transport import ChdbTransport
from moose_trace.store.retention import RetentionPolicy


def _create(transport: ChdbTransport, table: str = "moose_logs", **options: object) -> None:
    for statement in ddl(table, **options):  # type: ignore[arg-type]
        transport.execute(statement)


def _insert(
    transport: ChdbTransport, events: list[dict[str, object]], table: str = "moose_logs"
) -> None:
    data = b"\n".join(orjson.dumps(event) for event in events)
    transport.insert(table, data, fmt="JSONAsString", columns=("raw",))


def _ago(days: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def test_ddl_creates_table_side_table_and_view_idempotently(transport: ChdbTransport) -> None:
    _create(transport)
    _create(transport)  # IF NOT EXISTS everywhere: a second start is harmless
    tables = {
        row["name"]
        for row in transport.query("SELECT name FROM system.tables WHERE database = 'default'")
    }
    assert {"moose_logs", "moose_logs_traces", "moose_logs_traces_mv"} <= tables
    indexes = transport.query(
        "SELECT name, type_full, expr FROM system.data_skipping_indices "
        "WHERE table = 'moose_logs' ORDER BY name"
    )
    assert [(row["expr"], row["type_full"]) for row in indexes] == [
        ("lowerUTF8(raw)", f"ngrambf_v1(4, {SEARCH_NGRAM_BYTES}, 2, 0)"),  # raw_search: --search
        ("trace_id", "bloom_filter(0.01)"),
        ("trace_ids", "bloom_filter(0.01)"),
    ]
    (info,) = transport.query(
        "SELECT partition_key, sorting_key, engine FROM system.tables WHERE name = 'moose_logs'"
    )
    assert info["partition_key"] == "toDate(timestamp)"
    assert info["sorting_key"].startswith("toStartOfFiveMinutes(timestamp), level")


def test_columns_are_extracted_from_the_event_and_raw_keeps_every_field(
    transport: ChdbTransport,
) -> None:
    _create(transport)
    when = datetime.now(timezone.utc).replace(microsecond=123456)
    event = {
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "level": "WARN",
        "event": "Inserting batch",
        "trace_id": "0193f0c2-7b1e-7c3a-9d2f-000000000001",
        "trace_ids": ["a", "b"],
        "type": "olap_table",
        "latency_ms": 12.5,
        "kafka_offset": 45678,
        "custom": {"nested": [1, 2]},
    }
    _insert(transport, [event])
    (row,) = transport.query(
        "SELECT timestamp, level, event, trace_id, trace_ids, type, latency_ms, kafka_offset, "
        "kafka_partition, raw FROM moose_logs"
    )
    assert row["timestamp"] == when.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert row["level"] == "warning"  # stored normalized: queries and TTL compare one spelling
    assert (row["event"], row["type"], row["trace_ids"]) == (
        "Inserting batch",
        "olap_table",
        ["a", "b"],
    )
    assert (row["latency_ms"], row["kafka_offset"], row["kafka_partition"]) == (12.5, 45678, None)
    assert orjson.loads(row["raw"]) == event


def test_ttl_deletes_each_level_after_its_own_retention(transport: ChdbTransport) -> None:
    _create(transport)
    _insert(
        transport,
        [
            {"timestamp": _ago(2), "level": "debug", "event": "debug 2d"},
            {"timestamp": _ago(2), "level": "info", "event": "info 2d"},
            {"timestamp": _ago(8), "level": "info", "event": "info 8d"},
            {"timestamp": _ago(8), "level": "warning", "event": "warning 8d"},
            {"timestamp": _ago(15), "level": "warning", "event": "warning 15d"},
            {"timestamp": _ago(15), "level": "error", "event": "error 15d"},
            {"timestamp": _ago(31), "level": "error", "event": "error 31d"},
            {"timestamp": _ago(31), "level": "custom", "event": "custom 31d"},
            {"timestamp": _ago(20), "level": "custom", "event": "custom 20d"},
        ],
    )
    transport.execute("OPTIMIZE TABLE moose_logs FINAL")
    kept = [row["event"] for row in transport.query("SELECT event FROM moose_logs ORDER BY event")]
    assert kept == ["custom 20d", "error 15d", "info 2d", "warning 8d"]


def test_ttl_follows_a_configured_policy() -> None:
    policy = RetentionPolicy({"error": 90, "info": 3}, default_days=10)
    clause = ttl_clause(policy)
    assert "INTERVAL 3 DAY DELETE WHERE level IN ('info')" in clause
    assert "INTERVAL 90 DAY DELETE WHERE level IN ('error')" in clause
    # The catch-all applies to the levels the policy does not name, not to every row (what
    # each store keeps under such policies is tested in tests/retention/test_retention_kept.py).
    assert clause.endswith("INTERVAL 10 DAY DELETE WHERE level NOT IN ('error', 'info')")


def test_side_table_knows_first_and_last_seen_of_every_trace(transport: ChdbTransport) -> None:
    _create(transport)
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    at = [(start + timedelta(seconds=s)).isoformat().replace("+00:00", "Z") for s in (0, 5, 420)]
    _insert(
        transport,
        [
            {"timestamp": at[0], "level": "info", "trace_id": "t1"},
            {"timestamp": at[1], "level": "info", "trace_id": "t1"},
            {"timestamp": at[2], "level": "info", "trace_ids": ["t1", "t2"]},
        ],
    )
    rows = transport.query(
        "SELECT trace_id, toUnixTimestamp(min(first_seen)) AS first, "
        "toUnixTimestamp(max(last_seen)) AS last FROM moose_logs_traces "
        "GROUP BY trace_id ORDER BY trace_id"
    )
    seconds = int(start.timestamp())
    assert rows == [
        {"trace_id": "t1", "first": seconds, "last": seconds + 420},
        {"trace_id": "t2", "first": seconds + 420, "last": seconds + 420},
    ]


def test_table_name_is_configurable_and_validated(transport: ChdbTransport) -> None:
    _create(transport, "app_logs")
    _insert(transport, [{"level": "info", "trace_id": "x"}], table="app_logs")
    assert transport.query("SELECT count() AS n FROM app_logs_traces") == [{"n": 1}]
    with pytest.raises(ValueError, match="not a valid ClickHouse table"):
        table_names("logs; DROP TABLE x")


def test_a_database_in_the_table_name_wins_over_the_connections() -> None:
    assert table_names("logs", "default").logs == "`default`.`logs`"
    assert table_names("audit.logs", "default").logs == "`audit`.`logs`"
    assert table_names("audit.logs").traces == "`audit`.`logs_traces`"
    with pytest.raises(ValueError, match="not a valid ClickHouse table"):
        table_names("a.b.c", "default")


def test_cluster_ddl_is_valid_clickhouse_sql(transport: ChdbTransport) -> None:
    statements = cluster_ddl("logs_cluster", database="observability")
    assert len(statements) == 5
    for statement in statements:
        # formatQuery runs ClickHouse's own parser: the documented cluster DDL is valid SQL.
        (row,) = transport.query(f"SELECT formatQuery({_quote(statement)}) AS sql")
        assert "ON CLUSTER logs_cluster" in row["sql"]
    assert (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/observability/moose_logs_local'"
        in statements[0]
    )
    assert "replicated_deduplication_window" in statements[0]
    assert "Distributed(`logs_cluster`, `observability`, `moose_logs_local`" in statements[3]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _search(transport: ChdbTransport, table: str, text: str) -> list[str]:
    engine = ClickHouseEngine(transport, table=table)
    result = engine.run(Query(Search(search_needle(text)), ListEvents()))
    assert isinstance(result, EventsResult)
    return sorted(str(event["event"]) for event in result.events)


def test_search_finds_every_match_in_finer_granules_and_in_a_table_made_before(
    transport: ChdbTransport,
) -> None:
    """The table's granules are ``INDEX_GRANULARITY`` rows; a table created by the earlier DDL
    (8,192-row granules, 64 KB filters) keeps working: the same search, the same answer. The
    n-gram index only skips granules; matches in any case, in any granule, are all found."""
    _create(transport)
    (info,) = transport.query(
        "SELECT create_table_query FROM system.tables WHERE name = 'moose_logs'"
    )
    assert f"index_granularity = {INDEX_GRANULARITY}," in info["create_table_query"]
    earlier = ddl("earlier_logs")
    earlier[0] = (
        earlier[0]
        .replace(f"ngrambf_v1(4, {SEARCH_NGRAM_BYTES}, 2, 0)", "ngrambf_v1(4, 65536, 2, 0)")
        .replace(f"index_granularity = {INDEX_GRANULARITY},", "")
    )
    for statement in earlier:
        transport.execute(statement)
    spellings = ["JWT expired", "jwt EXPIRED", "Jwt Expired"]
    events = [
        {
            "timestamp": _ago(index / 100_000),
            "level": "error" if index % 50 == 0 else "info",
            "event": f"e{index}",
            **(
                {"error_message": f"{spellings[index % 3]} for u{index}"}
                if index % 750 == 0
                else {}
            ),
        }
        for index in range(INDEX_GRANULARITY * 5)
    ]
    expected = sorted(f"e{index}" for index in range(0, len(events), 750))
    last = (len(events) - 1) // 750 * 750  # no user id runs on from its digits
    for table in ("moose_logs", "earlier_logs"):
        _insert(transport, events, table=table)
        transport.execute(f"OPTIMIZE TABLE {table} FINAL")
        assert _search(transport, table, "jwt expired") == expected
        assert _search(transport, table, f"U{last} ") == []  # a quote follows, not a space
        assert _search(transport, table, f"FOR U{last}") == [f"e{last}"]
    (granules,) = transport.query(
        "SELECT sum(marks) AS marks FROM system.parts WHERE table = 'moose_logs' AND active"
    )
    assert granules["marks"] >= 5  # the events span several granules
